"""`TaskStore`: runs what `UserTasks` (services/scope.py) built, so the services never handle a
statement, its parameters or a connection: they name a use case, get rows back.

Each statement runs within the database deadline on a pooled autocommit connection
(`Database.rows`); `in_transaction` gives the few use cases that need several statements to
stay atomic (completing a recurring task creates its next occurrence) a `StoreTransaction`
that runs them on one connection in one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from todo_api.database.runner import Database
from todo_api.services.scope import Scoped

T = TypeVar("T")


class StoreTransaction:
    """The statements of one transaction (see `TaskStore.in_transaction`)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def rows(self, scoped: Scoped) -> Sequence[Row[Any]]:
        return (await self._connection.execute(scoped.statement, scoped.params)).all()

    async def first(self, scoped: Scoped) -> Row[Any] | None:
        return (await self._connection.execute(scoped.statement, scoped.params)).first()


class TaskStore:
    """Runs scoped statements on `database` (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def rows(self, scoped: Scoped) -> Sequence[Row[Any]]:
        """The statement's rows, within the database deadline."""
        return await self._database.rows(scoped.statement, scoped.params)

    async def in_transaction(self, work: Callable[[StoreTransaction], Awaitable[T]]) -> T:
        """`work` in one READ COMMITTED transaction: committed when it returns, rolled back
        when it raises; the deadline covers all of it."""

        async def on(connection: AsyncConnection) -> T:
            return await work(StoreTransaction(connection))

        return await self._database.transaction(on)
