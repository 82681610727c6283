"""The `task_reminders` table: when each reminder of a task will fire (see reminders/).

Written only by the triggers of migration 0006 (from `tasks.reminders`, the due date and the
user's time zone); a row is deleted when its reminder fires (`fire_due_reminders`), when its
time moves, when the task is completed, and with its task.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)


class TaskReminder(SQLModel, table=True):
    """One reminder still to fire."""

    __tablename__ = "task_reminders"
    __table_args__ = (
        UniqueConstraint("task_id", "fire_at"),
        # The scheduler's work is the reminders due, read off this index.
        Index("ix_task_reminders_fire_at", "fire_at"),
        # A user's upcoming reminders, in time order (`GET /api/{user_id}/reminders`).
        Index("ix_task_reminders_user_id_fire_at_task_id", "user_id", "fire_at", "task_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    task_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    reminder: dict[str, str] = Field(sa_column=Column(JSONB, nullable=False))
    fire_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
