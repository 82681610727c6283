"""HTTP layer: thin routers, their dependencies, error rendering. No SQL, no business rules."""
