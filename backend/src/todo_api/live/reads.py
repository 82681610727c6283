"""What a stream reads: the user's events after a sequence number, and where the user's
sequence stands. Statements on the outbox, bound to one user by `:owner`."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, bindparam, func, select
from sqlmodel import col

from todo_api.database.wall import ACTING, OWNER
from todo_api.events.outbox import OUTBOX_COLUMNS
from todo_api.models import EventSequence, TaskEvent

_OWNER = OWNER
AFTER = (
    select(*OUTBOX_COLUMNS)
    .where(
        ACTING,
        col(TaskEvent.user_id) == _OWNER,
        col(TaskEvent.seq) > bindparam("after", type_=BigInteger),
    )
    .order_by(col(TaskEvent.seq))
    .limit(bindparam("limit", type_=Integer))
)
"""The user's events after `:after`, in order."""
POSITION = select(
    select(col(EventSequence.last_seq))
    .where(col(EventSequence.user_id) == _OWNER)
    .scalar_subquery(),
    select(func.min(col(TaskEvent.seq))).where(col(TaskEvent.user_id) == _OWNER).scalar_subquery(),
).where(ACTING)
"""The user's last sequence number handed out, and the oldest the outbox still holds."""
