"""The async SQLAlchemy engine: one per process, tuned for a small fixed pool.

Decisions (measured in specs/001-backend-task-api/performance.md):
- AUTOCOMMIT: nearly every write of the service is a single SQL statement, atomic on its own,
  so the BEGIN/COMMIT round trips of an implicit transaction buy nothing and slow small reads
  markedly (completing a recurring task is a transaction). Code that needs a
  multi-statement transaction opens one explicitly with
  `engine.execution_options(isolation_level="READ COMMITTED")`.
- A small pool without overflow; waits for a connection are bounded by `db_pool_timeout`.
  No reset (ROLLBACK) on return: autocommit connections have nothing to roll back.
- Connections are recycled before Neon suspends an idle compute, so none comes back dead.
- No server-side prepared statements unless `db_prepare_threshold` is set: behind a
  transaction pooler that does not track them (PgBouncer before 1.21, and others), a named
  statement prepared by one client can be executed with another client's parameters, and
  has been seen to run a DELETE in place of a SELECT. Unnamed statements (the default) are
  parsed and executed within one protocol exchange, safe behind any pooler.
- Sessions run in UTC, so timestamps leave the API as UTC whatever the server's zone.
- `hide_parameters`: a database error's text (logged, or shown by a debugger) never carries
  the statement's parameters, which hold task text and user ids (see logs.py).
- Results come in PostgreSQL's binary format: the server sends timestamps and arrays without
  formatting them as text and psycopg reads them without parsing text (see performance.md).
  The values are the same Python objects either way.
- json and jsonb values (a task's reminders, the outbox's snapshots) are decoded by orjson,
  not the standard library's json: decoding every row's reminders was about 7 % of a list's
  time. They hold only what the service and the database wrote (strings, 64-bit integers),
  all of which orjson reads as json does.
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from psycopg.pq import Format
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from todo_api.config import DatabaseSettings


def _use_utc(dbapi_connection: Any, _record: Any) -> None:
    """Set the session time zone once per new connection (PgBouncer tracks this setting)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()


class BinaryResultsCursor(psycopg.AsyncCursor[Any]):
    """A cursor that asks for every result in binary format (`cursor(binary=True)`, as the
    default of the connections SQLAlchemy opens)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.format = Format.BINARY


def create_engine(settings: DatabaseSettings, url: URL) -> AsyncEngine:
    """Build the engine for `url` with the pool settings from `settings`."""
    engine = create_async_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=settings.db_pool_pre_ping,
        # Autocommit connections never hold an open transaction when returned, so the
        # ROLLBACK-on-return the pool would otherwise issue is pure overhead.
        pool_reset_on_return=None,
        # Parameters are task text and user ids: never in an error's text or SQL log lines.
        hide_parameters=True,
        json_deserializer=orjson.loads,
        connect_args={
            "connect_timeout": settings.db_connect_timeout,
            "prepare_threshold": settings.db_prepare_threshold,
            "cursor_factory": BinaryResultsCursor,
        },
    )
    event.listen(engine.sync_engine, "connect", _use_utc)
    return engine


WORKER_POOL_SIZE = 3
"""Connections of cross-user background work: one for each of its loops (relay, reminder
scheduler, housekeeping), which run one statement or transaction at a time."""


def create_worker_engine(settings: DatabaseSettings, url: URL) -> AsyncEngine:
    """The engine of cross-user background work on its own login (`WORKER_DATABASE_URL`)."""
    pool = {"db_pool_size": WORKER_POOL_SIZE, "db_max_overflow": 0}
    return create_engine(settings.model_copy(update=pool), url)
