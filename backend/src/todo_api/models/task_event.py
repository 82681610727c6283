"""The `task_events` table: the outbox of task events (see events/ for the whole feature).

Rows are written only by the database trigger of migration 0005 (its numbering since 0013:
`event_sequences`), in the transaction of the change they describe; the relay reads them in
`id` order and sets `delivered_at`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)


class TaskEvent(SQLModel, table=True):
    """One change to one task, waiting for (or past) delivery."""

    __tablename__ = "task_events"
    __table_args__ = (
        UniqueConstraint("user_id", "seq"),
        Index("ix_task_events_undelivered", "id", postgresql_where=text("delivered_at IS NULL")),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    # The CloudEvents `id`: the same on every redelivery, unique across databases too.
    event_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, nullable=False, server_default=text("gen_random_uuid()")),
    )
    # A user's events go with the user (a trigger on `users` since migration 0013, no
    # foreign key: its check cost a query per event): a user id used again starts afresh.
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    type: str = Field(sa_column=Column(Text, nullable=False))
    task_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The task row as JSON text (every column; migration 0017: `json`, cheaper to write than
    # `jsonb`); events/cloudevents.py picks the API's fields out of it. NULL for a deletion.
    task: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # For a `reminder.due` event: the reminder, `scheduled_for` and `fired_at`.
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    occurred_at: datetime | None = Field(
        default=None,
        sa_column=Column(
            DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
        ),
    )
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class EventSequence(SQLModel, table=True):
    """The last per-user event sequence number handed out (migration 0013; it was
    `users.event_seq`). The recording trigger increments it: its row lock orders one user's
    events by commit. A row per user, created with the user (a trigger on `users`).
    Fillfactor 10 (0017): every write updates a row here, and a page of fewer rows is
    cheaper to prune of the old versions."""

    __tablename__ = "event_sequences"
    __table_args__ = {"postgresql_with": {"fillfactor": 10}}

    user_id: str = Field(
        sa_column=Column(Text, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    last_seq: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )


class EventRelay(SQLModel, table=True):
    """A relay's heartbeat: undelivered events are kept while one has run recently."""

    __tablename__ = "event_relays"

    name: str = Field(sa_column=Column(Text, primary_key=True))
    seen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
