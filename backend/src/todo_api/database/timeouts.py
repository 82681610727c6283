"""Deadlines on the database, on both sides of the wire.

- Server side: `statement_timeout` as a default of the role in this database, so every new
  server session has it, behind a transaction pooler too (see backend/alembic/env.py).
- Client side: `Database` gives up on a statement `DEADLINE_GRACE_SECONDS` after the
  server's own timeout would have fired. A frozen or unreachable server never answers, and
  no server setting can help then; the client's deadline turns it into a 503.
"""

from __future__ import annotations

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
