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
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from todo_api.errors import ConflictError, DatabaseUnavailableError

# What `Database` translates (see `translate`): the driver's errors, a pool that had no
# connection in time, and a socket that failed.
DRIVER_ERRORS = (DBAPIError, PoolTimeoutError, OSError)


class RefusedValueError(Exception):
    """PostgreSQL refused a value of the statement (SQLSTATE class 22): the caller decides
    what that means (a bug, unless it expected it)."""


def translate(error: BaseException) -> BaseException:
    """The catalogue's error for a driver error (`todo_api/errors/`), so no transport
    handles SQLAlchemy's: down or unreachable -> `DatabaseUnavailableError`, a constraint ->
    `ConflictError`, a refused value -> `RefusedValueError`; anything else (a bug) as it is."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return DatabaseUnavailableError(describe(error))
    if isinstance(error, OperationalError | InterfaceError | PoolTimeoutError | OSError):
        return DatabaseUnavailableError(describe(error))
    if isinstance(error, IntegrityError):
        return ConflictError(constraint_name(error))
    if isinstance(error, DataError):
        return RefusedValueError(describe(error))
    return error


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
