"""Alembic's migrations of the schema, shipped in the package (see `cli/migrate.py`).

Alembic loads `env.py` and `versions/` by path; nothing imports this package.
"""
