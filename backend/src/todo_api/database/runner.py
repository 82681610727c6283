"""`Database`: run one statement on a pooled connection, within a deadline.

Each statement checks a connection out, runs, buffers its rows and gives the connection back
at once (the engine autocommits: the statement is durable when it returns). Holding the
connection only that long keeps the pool, not the database, from setting the pace under load.

The deadline covers waiting for a pooled connection, connecting and the statement, and is
cut short by the deadline of the request it serves (`database/timeouts.py`), so a request's
waits never add up past it. When it passes, the caller gets `DatabaseTimeoutError` (a 503)
at once; the statement itself is
cancelled in the background. It runs in a task of its own for that reason: psycopg answers a
cancellation by asking the server to cancel the query and waiting up to 10 s for it, which
is right for the connection but must not hold the request up when the server is frozen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, Executable, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from todo_api.database.errors import DRIVER_ERRORS, translate
from todo_api.database.timeouts import within_request_deadline
from todo_api.errors import DatabaseTimeoutError

T = TypeVar("T")


class Database:
    """Statements on the engine's pool, each bounded by `deadline` seconds by default."""

    def __init__(self, engine: AsyncEngine, deadline: float) -> None:
        self.engine = engine
        self.deadline = deadline
        self.in_flight = 0
        """Statements and transactions running or waiting for a connection (for metrics)."""

    @property
    def waiting(self) -> int:
        """About how many statements wait for a pooled connection now."""
        return max(0, self.in_flight - self.in_use)

    @property
    def in_use(self) -> int:
        """Connections checked out of the pool now."""
        return int(self.engine.pool.checkedout())  # type: ignore[attr-defined]

    async def rows(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None = None,
        *,
        deadline: float | None = None,
    ) -> Sequence[Row[Any]]:
        """The statement's rows (none for a statement that returns none)."""
        return await self._bounded(self._run(statement, params), deadline)

    async def transaction(
        self,
        work: Callable[[AsyncConnection], Awaitable[T]],
        *,
        deadline: float | None = None,
    ) -> T:
        """Run `work` on one connection in one READ COMMITTED transaction, committed when it
        returns and rolled back when it raises; the deadline covers all of it.

        For the few use cases that need more than one statement to stay atomic (completing
        a recurring task creates its next occurrence)."""
        return await self._bounded(self._in_transaction(work), deadline)

    async def _bounded(self, work: Coroutine[Any, Any, T], deadline: float | None) -> T:
        timeout = within_request_deadline(deadline or self.deadline)
        if timeout <= 0:
            work.close()  # never started: nothing to cancel
            raise DatabaseTimeoutError("the request's deadline passed before the statement")
        task = asyncio.ensure_future(work)
        self.in_flight += 1
        task.add_done_callback(self._finished)
        try:
            # `wait` (not `wait_for(shield(task))`): it never cancels the task itself, and
            # wakes this request one event-loop turn sooner after the statement ends.
            await asyncio.wait((task,), timeout=timeout)
        except asyncio.CancelledError:  # the request itself was cancelled
            _abandon(task)
            raise
        if not task.done():
            _abandon(task)
            raise DatabaseTimeoutError("the database did not answer in time")
        try:
            return task.result()
        except DRIVER_ERRORS as error:
            raise translate(error) from error

    def _finished(self, _task: asyncio.Future[Any]) -> None:
        self.in_flight -= 1

    async def _in_transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.engine.connect() as connection:
            await connection.execution_options(isolation_level="READ COMMITTED")
            async with connection.begin():
                return await work(connection)

    async def _run(
        self, statement: Executable, params: Mapping[str, Any] | None
    ) -> Sequence[Row[Any]]:
        # One switch into SQLAlchemy's synchronous core for checkout, statement and return,
        # instead of one per step through `AsyncConnection`: each new greenlet maps a fresh
        # frame stack (see performance.md).
        return await greenlet_spawn(_run_sync, self.engine.sync_engine, statement, params)


def _run_sync(
    engine: Engine, statement: Executable, params: Mapping[str, Any] | None
) -> Sequence[Row[Any]]:
    """The statement's rows, on a pooled connection, inside `greenlet_spawn`."""
    with engine.connect() as connection:
        result = connection.execute(statement, params)
        return result.all() if result.returns_rows else ()


def _abandon(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and let it end in the background (SQLAlchemy then discards its
    connection: a cancelled statement leaves it in an unknown state)."""
    task.add_done_callback(_consume_outcome)
    task.cancel()


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as forgotten
