"""What a database error says about itself, and what of it may be logged.

The text of a database error is not safe to log: SQLAlchemy appends the statement's
parameters (task text, user ids, search text, cursors), and PostgreSQL's own message can
quote the row ("Failing row contains (...)", "Key (user_id, key)=(...)"). `describe` keeps
what an operator needs to tell errors apart (the class, the SQLSTATE, the constraint) and
nothing a request sent.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.exc import DBAPIError, SQLAlchemyError


def constraint_name(error: DBAPIError) -> str | None:
    """The name of the constraint a statement violated (None when there is none)."""
    return getattr(getattr(error.orig, "diag", None), "constraint_name", None)


def is_database_error(error: BaseException) -> bool:
    """Whether `error` comes from the database layer (its text may quote request data)."""
    return isinstance(error, SQLAlchemyError | psycopg.Error)


def describe(error: BaseException) -> str:
    """`OperationalError (QueryCanceled, SQLSTATE 57014)`: the error's kind, never its text."""
    driver: Any = error.orig if isinstance(error, DBAPIError) else error
    parts = []
    if driver is not error and driver is not None:
        parts.append(type(driver).__name__)
    sqlstate = getattr(driver, "sqlstate", None)
    if sqlstate:
        parts.append(f"SQLSTATE {sqlstate}")
    constraint = getattr(getattr(driver, "diag", None), "constraint_name", None)
    if constraint:
        parts.append(f"constraint {constraint}")
    name = type(error).__name__
    return f"{name} ({', '.join(parts)})" if parts else name
