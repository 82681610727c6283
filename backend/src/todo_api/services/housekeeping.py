"""Housekeeping: expired idempotency keys and tombstones are removed by the app itself.

Operators run no cron job for it. Every worker runs `Housekeeping.run` in the background
(started by the app's lifespan): every `INTERVAL_SECONDS` or so (jittered, so workers drift
apart) it deletes expired rows in batches of `BATCH`, each batch one short statement under
the usual database deadline. Workers doing it at the same moment skip each other's rows
(`FOR UPDATE SKIP LOCKED`) instead of waiting. A failure (the database is down) is logged
and tried again next time: nothing depends on these rows being gone on time, since a key
or a tombstone only needs to live *at least* its lifetime.

Like the relay's (events/outbox.py), these statements are not scoped to one user: expiry is
the same for everybody, and they delete only rows whose lifetime has passed. Each batch runs
as `todo_worker` (database/wall.py), in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func, select, tuple_
from sqlalchemy.sql.dml import ReturningDelete
from sqlmodel import col

from todo_api.database.errors import describe
from todo_api.database.runner import Database
from todo_api.database.wall import worker_rows
from todo_api.models import IdempotencyKey, TaskTombstone
from todo_api.models.idempotency import IDEMPOTENCY_KEY_HOURS
from todo_api.models.tombstone import TOMBSTONE_DAYS

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 600.0
BATCH = 1000
MAX_BATCHES = 100  # per table and run: a backlog is worked off over several runs
_BATCH = bindparam("batch", type_=Integer)


def _expired_keys() -> ReturningDelete[Any]:
    expired = (
        select(col(IdempotencyKey.user_id), col(IdempotencyKey.key))
        .where(col(IdempotencyKey.created_at) < func.now() - timedelta(hours=IDEMPOTENCY_KEY_HOURS))
        .limit(_BATCH)
        .with_for_update(skip_locked=True)
    )
    return (
        delete(IdempotencyKey)
        .where(
            tuple_(col(IdempotencyKey.user_id), col(IdempotencyKey.key)).in_(
                expired.scalar_subquery()
            )
        )
        .returning(col(IdempotencyKey.key))
    )


def _expired_tombstones() -> ReturningDelete[Any]:
    expired = (
        select(col(TaskTombstone.task_id))
        .where(col(TaskTombstone.deleted_at) < func.now() - timedelta(days=TOMBSTONE_DAYS))
        .limit(_BATCH)
        .with_for_update(skip_locked=True)
    )
    return (
        delete(TaskTombstone)
        .where(col(TaskTombstone.task_id).in_(expired.scalar_subquery()))
        .returning(col(TaskTombstone.task_id))
    )


_STATEMENTS = {"idempotency keys": _expired_keys(), "tombstones": _expired_tombstones()}


class Housekeeping:
    """Removes what has expired; see the module docstring."""

    def __init__(
        self, database: Database, more: Mapping[str, ReturningDelete[Any]] | None = None
    ) -> None:
        """`more`: other expiry statements of the same shape (one batch of at most `:batch`
        rows per run), such as the pruning of delivered task events (events/outbox.py)."""
        self._database = database
        self._statements = {**_STATEMENTS, **(more or {})}

    async def run_once(self) -> dict[str, int]:
        """Delete every expired row (up to MAX_BATCHES batches per table): how many, by kind."""
        removed = {}
        for kind, statement in self._statements.items():
            removed[kind] = 0
            for _ in range(MAX_BATCHES):
                count = await self._delete(statement)
                removed[kind] += count
                if count < BATCH:
                    break
        return removed

    async def run(self, interval: float = INTERVAL_SECONDS) -> None:
        """`run_once` about every `interval` seconds, until cancelled."""
        while True:
            await asyncio.sleep(interval * random.uniform(0.5, 1.5))  # noqa: S311  (jitter)
            try:
                removed = await self.run_once()
            except Exception as error:
                logger.warning("housekeeping failed, will retry: %s", describe(error))
            else:
                if any(removed.values()):
                    logger.info("housekeeping removed %s", removed)

    async def _delete(self, statement: ReturningDelete[Any]) -> int:
        return len(await worker_rows(self._database, statement, {"batch": BATCH}))
