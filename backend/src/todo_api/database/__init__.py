"""Database layer: URL handling, the embedded development server, engine and sessions."""
