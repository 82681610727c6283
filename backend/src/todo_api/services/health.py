"""Readiness: can we reach the database right now?"""

from __future__ import annotations

from sqlalchemy import literal, select

from todo_api.database.runner import Database
from todo_api.database.timeouts import READY_DEADLINE_SECONDS


async def check_database(database: Database) -> None:
    """Run one trivial query; a database that is down or does not answer within
    `READY_DEADLINE_SECONDS` raises, which the API turns into a 503."""
    await database.rows(select(literal(1)), deadline=READY_DEADLINE_SECONDS)
