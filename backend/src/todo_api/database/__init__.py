"""Database layer: URLs, the embedded development server, engine, statements with deadlines."""
