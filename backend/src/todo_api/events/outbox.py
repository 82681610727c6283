"""The statements over the outbox (`task_events`): read a batch, mark it delivered, prune,
measure the backlog.

Like housekeeping's, these statements span users on purpose: the relay delivers everybody's
events. They read and change only `task_events`, never a task.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningDelete
from sqlmodel import col

from todo_api.config import EventSettings
from todo_api.models import EventRelay, TaskEvent

# One relay at a time, across workers and replicas: a transaction-scoped advisory lock, so
# it is released by COMMIT and safe behind a transaction-mode pooler.
RELAY_LOCK_KEY = 0x7A5C_E7E0  # any constant no other code of this database uses
_BATCH = bindparam("batch", type_=Integer)
_IDS = bindparam("ids", type_=ARRAY(BigInteger))

OUTBOX_COLUMNS = (
    col(TaskEvent.id),
    col(TaskEvent.event_id),
    col(TaskEvent.user_id),
    col(TaskEvent.seq),
    col(TaskEvent.type),
    col(TaskEvent.task_id),
    col(TaskEvent.task),
    col(TaskEvent.detail),
    col(TaskEvent.occurred_at),
)
_UNDELIVERED = col(TaskEvent.delivered_at).is_(None)
_TAKE_TURN = text(f"SELECT pg_try_advisory_xact_lock({RELAY_LOCK_KEY})")
_NEXT_BATCH = select(*OUTBOX_COLUMNS).where(_UNDELIVERED).order_by(col(TaskEvent.id)).limit(_BATCH)
_MARK_DELIVERED = (
    update(TaskEvent)
    .where(col(TaskEvent.id) == func.any(_IDS))
    .values(delivered_at=func.clock_timestamp())
)
_BACKLOG = select(func.count(), func.min(col(TaskEvent.occurred_at))).where(_UNDELIVERED)


async def take_turn(connection: AsyncConnection) -> bool:
    """This transaction's turn to deliver (False: another relay is delivering now)."""
    return bool((await connection.execute(_TAKE_TURN)).scalar())


async def next_batch(connection: AsyncConnection, size: int) -> Sequence[Any]:
    """The oldest undelivered events, in the order they were recorded."""
    return (await connection.execute(_NEXT_BATCH, {"batch": size})).all()


async def mark_delivered(connection: AsyncConnection, outbox_ids: Sequence[int]) -> None:
    await connection.execute(_MARK_DELIVERED, {"ids": list(outbox_ids)})


BACKLOG = _BACKLOG
"""How many events wait for delivery, and when the oldest of them was recorded."""
RECORDED = text("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM task_events_id_seq")
"""How many events were ever recorded (the outbox's last id)."""


def pruning(settings: EventSettings) -> ReturningDelete[Any]:
    """The housekeeping statement that prunes the outbox per the settings."""
    return prune_statement(
        timedelta(hours=settings.events_retention_hours),
        timedelta(days=settings.events_undelivered_retention_days),
    )


HEARTBEAT_SECONDS = 30.0
# The relay says it runs (at most every HEARTBEAT_SECONDS): its undelivered events are kept.
HEARTBEAT = (
    pg_insert(EventRelay)
    .values(name="relay", seen_at=func.now())
    .on_conflict_do_update(index_elements=["name"], set_={"seen_at": func.now()})
)


def prune_statement(retention: timedelta, undelivered_retention: timedelta) -> ReturningDelete[Any]:
    """DELETE of one batch of events past retention: delivered ones after `retention`;
    undelivered ones after `undelivered_retention`, and only when no relay has run for that
    long (a deployment without a sink), so that its outbox stays bounded too, while a relay
    waiting for its sink keeps every event."""
    relay_ran = exists().where(col(EventRelay.seen_at) > func.now() - undelivered_retention)
    expired = (
        select(col(TaskEvent.id))
        .where(
            (col(TaskEvent.delivered_at) < func.now() - retention)
            | ((col(TaskEvent.occurred_at) < func.now() - undelivered_retention) & ~relay_ran)
        )
        .order_by(col(TaskEvent.id))
        .limit(_BATCH)
        .with_for_update(skip_locked=True)
    )
    return (
        delete(TaskEvent)
        .where(col(TaskEvent.id).in_(expired.scalar_subquery()))
        .returning(col(TaskEvent.id))
    )
