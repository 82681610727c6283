"""The second wall: PostgreSQL row-level security on every table of user data (migration 0011).

The policies let a row through only when its `user_id` is the user the current transaction
acts for: `current_setting('todo.user_id', true)`. Every statement run on behalf of one user
sets that itself, at the top of its own WHERE, with `ACTING`:

    set_acting_user(:owner)

a PL/pgSQL function of migration 0014 doing `set_config('todo.user_id', :owner, true)`. It is
declared STABLE, so a call without a column among its arguments is a pseudo-constant:
PostgreSQL evaluates it once, in the One-Time Filter of a Result above every scan, before any
row is read; `set_config(..., true)` is local to the transaction (for an autocommit
statement: to the statement), so no user outlives it, also behind PgBouncer in transaction
mode. No extra round trip. It must come FIRST in the WHERE: the One-Time Filter evaluates its
conditions in the order written, and a quota count (an InitPlan) placed before it would count
with no user set, that is nothing. A statement without it sees and changes nothing of those
tables. (Migration 0011's gate was the sub-select `(SELECT set_config(...)) IS NOT NULL`, an
InitPlan: the same order, but parsed, planned and started on every statement, which cost
about twice as much; performance.md, "Row-level security".)

Work that spans users (the relay, the reminder scheduler, housekeeping) runs as the role
`todo_worker`, whose policies let every row through, with `SET LOCAL ROLE` as the first
statement of its own transaction (`worker_rows`, `become_worker`), on the worker's own login
(`WORKER_DATABASE_URL`: the API's login then cannot take that role at all). Only those modules
import this module's worker half, and no other module names the role (tests/unit/test_wall.py).
The narrower cross-user reads of the API process, the live announcer's (which users have new
events), the hubs' poll (the last sequence number of each of their users) and redeeming a
stream ticket (whose user its hash names), are functions of migration 0016 that run as the
schema's owner and return only that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Boolean, ColumnElement, Executable, Row, Text, bindparam, func, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import operators

from todo_api.database.runner import Database

logger = logging.getLogger(__name__)

USER_SETTING = "todo.user_id"
"""The setting the policies read: the user the transaction acts for."""
WORKER_ROLE = "todo_worker"
"""The role whose policies let every row through (cross-user work only)."""

OWNER = bindparam("owner", type_=Text)
# Grouped as in a WHERE (a boolean function there is wrapped once), so that a WHERE holds this
# very object and tests/unit/test_wall.py can find it first.
ACTING = cast(
    ColumnElement[bool],
    func.set_acting_user(OWNER, type_=Boolean).self_group(against=operators.and_),
)
"""The gate: sets the acting user to `:owner` before the statement reads a row."""

_BECOME_WORKER = text(f"SET LOCAL ROLE {WORKER_ROLE}")


async def become_worker(connection: AsyncConnection) -> None:
    """The rest of this transaction runs as `todo_worker` (its first statement, please)."""
    await connection.execute(_BECOME_WORKER)


async def worker_rows(
    database: Database,
    statement: Executable,
    params: Mapping[str, Any] | None = None,
    *,
    deadline: float | None = None,
) -> Sequence[Row[Any]]:
    """The rows of a statement that spans users, run as `todo_worker` in a transaction of its
    own (one round trip more than an autocommit statement: only background work pays it)."""

    async def work(connection: AsyncConnection) -> Sequence[Row[Any]]:
        await become_worker(connection)
        result = await connection.execute(statement, params)
        return result.all() if result.returns_rows else ()

    return await database.transaction(work, deadline=deadline)


# Why the connected role would not be held by the wall: each is a way around the policies.
# `can_become` (MEMBER: may SET ROLE) and `inherits` (USAGE: has its privileges) the worker.
# `elevated`: roles it may SET ROLE to that bypass row-level security (attributes are never
# inherited, but SET ROLE takes them: on Neon, roles made in the Console join neon_superuser).
_BYPASS = text(
    "SELECT r.rolsuper, r.rolbypassrls,"
    " EXISTS (SELECT FROM pg_class c WHERE c.relowner = r.oid AND c.relrowsecurity),"
    " coalesce(pg_has_role(r.oid, w.oid, 'USAGE'), false) AS inherits,"
    " coalesce(pg_has_role(r.oid, w.oid, 'MEMBER'), false) AS can_become,"
    " array(SELECT b.rolname::text FROM pg_roles b WHERE (b.rolsuper OR b.rolbypassrls)"
    "  AND b.oid <> r.oid AND pg_has_role(r.oid, b.oid, 'MEMBER') ORDER BY 1) AS elevated"
    " FROM pg_roles r LEFT JOIN pg_roles w ON w.rolname = :worker"
    " WHERE r.rolname = current_user"
).bindparams(worker=WORKER_ROLE)


async def bypasses(database: Database, *, worker_apart: bool = False) -> list[str]:
    """How the application's own role could pass the wall (empty: it cannot). Taking the
    worker role is one: needed when it also does the cross-user work, a mistake when
    `worker_apart` (that work has a login of its own)."""
    rows = await database.rows(_BYPASS)
    if not rows:
        return []
    row: Any = rows[0]
    superuser, bypass_rls, owner, inherits, can_become, elevated = row
    reasons = []
    if superuser:
        reasons.append("is a superuser")
    if bypass_rls:
        reasons.append("has BYPASSRLS")
    if elevated and not superuser:
        reasons.append(f"may SET ROLE {', '.join(elevated)}, which bypasses it")
    if owner:
        reasons.append("owns a table under row-level security")
    if inherits:
        reasons.append(f"has the privileges of {WORKER_ROLE} without SET ROLE")
    elif can_become and not superuser:
        reasons.append(
            f"may SET ROLE {WORKER_ROLE}, which WORKER_DATABASE_URL's login is for"
            if worker_apart
            else f"may SET ROLE {WORKER_ROLE} for the cross-user work it also does "
            "(WORKER_DATABASE_URL unset: give that work a login of its own)"
        )
    return reasons


async def can_become_worker(database: Database) -> bool:
    """Whether the connected role may take the worker role (cross-user work needs it)."""
    rows: Any = await database.rows(_BYPASS)
    return bool(rows) and bool(rows[0].can_become or rows[0].rolsuper)


async def warn_if_bypassing(database: Database, worker: Database | None = None) -> None:
    """Log one warning when the application's role can pass the wall, and one when the login
    that does cross-user work (`worker`'s, or without one the application's own) cannot take
    the worker role (startup)."""
    try:
        reasons = await bypasses(database, worker_apart=worker is not None)
        worker_ok = await can_become_worker(worker or database)
    except Exception as error:  # the database is down: the app starts anyway
        logger.info("could not check the database role: %s", error)
        return
    if reasons:
        logger.warning(
            "the database role of DATABASE_URL %s: row-level security does not hold it "
            "(connect as the application login role, see operations.md)",
            " and ".join(reasons),
        )
    if not worker_ok:
        warn_worker_cannot(worker is not None)


async def warn_unless_worker(database: Database, *, apart: bool) -> None:
    """The warning of `warn_if_bypassing` about the worker's login alone (the relay and
    scheduler processes: their login does nothing but cross-user work)."""
    try:
        worker_ok = await can_become_worker(database)
    except Exception as error:  # the database is down: the loops retry anyway
        logger.info("could not check the database role: %s", error)
        return
    if not worker_ok:
        warn_worker_cannot(apart)


def warn_worker_cannot(apart: bool) -> None:
    setting = "WORKER_DATABASE_URL" if apart else "DATABASE_URL (WORKER_DATABASE_URL unset)"
    logger.warning(
        "the database role of %s cannot SET ROLE %s: the event relay, reminder scheduler "
        "and housekeeping will fail (give cross-user work a login that is a member of "
        "todo_worker_access, see operations.md)",
        setting,
        WORKER_ROLE,
    )
