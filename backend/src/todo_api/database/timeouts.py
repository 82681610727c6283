"""Deadlines on the database, on both sides of the wire.

- Server side: `statement_timeout` as a default of the role in this database, so every new
  server session has it, behind a transaction pooler too (see migrations/env.py).
- Client side: `Database` gives up on a statement `DEADLINE_GRACE_SECONDS` after the
  server's own timeout would have fired. A frozen or unreachable server never answers, and
  no server setting can help then; the client's deadline turns it into a 503.
- Per request: a request's waits add up (its turn in the queue, pool checkouts, each
  statement), so one deadline, taken when it starts waiting for its turn, bounds them all.
  It lives in a context variable set where the turn is taken (`api/admission.py`), so
  `Database` reads it without any layer passing it along, and work outside a request
  (housekeeping) has none.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

DEADLINE_GRACE_SECONDS = 1.0
# `/ready` answers within this, whatever the database does: probes have short timeouts.
READY_DEADLINE_SECONDS = 2.0


def client_deadline(statement_timeout: float) -> float:
    """Seconds the client waits for a statement whose server-side limit is `statement_timeout`."""
    return statement_timeout + DEADLINE_GRACE_SECONDS


def role_statement_timeout_sql(seconds: float) -> str:
    """SQL that makes `seconds` the statement_timeout of the current role in this database.

    Any role may set its own defaults; `IN DATABASE` keeps it from reaching other databases.
    """
    milliseconds = max(1, round(seconds * 1000))
    return (
        "DO $$ BEGIN EXECUTE format("
        "'ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L', "
        f"current_user, current_database(), '{milliseconds}ms'); END $$"
    )


def database_statement_timeout_sql(seconds: float) -> str:
    """SQL that makes `seconds` the statement_timeout of every role in this database that has
    none of its own: the application's login role, when another role (the owner) migrates
    (role settings are not inherited from group roles). Needs the database's owner."""
    milliseconds = max(1, round(seconds * 1000))
    return (
        "DO $$ BEGIN EXECUTE format("
        "'ALTER DATABASE %I SET statement_timeout = %L', "
        f"current_database(), '{milliseconds}ms'); END $$"
    )


# When the current request must have its answer (`time.monotonic()`), or None outside one.
_REQUEST_ENDS: ContextVar[float | None] = ContextVar("todo_api.request_ends", default=None)


def start_request_deadline(seconds: float) -> None:
    """The current request may wait `seconds` from now in all (queue, pool, statements)."""
    _REQUEST_ENDS.set(time.monotonic() + seconds)


def end_request_deadline() -> None:
    """The current request waits no more (its answer has started, or it has ended)."""
    _REQUEST_ENDS.set(None)


def within_request_deadline(seconds: float) -> float:
    """`seconds`, or less when the current request's deadline comes sooner (0 or below
    once it has passed)."""
    ends = _REQUEST_ENDS.get()
    if ends is None:
        return seconds
    return min(seconds, ends - time.monotonic())
