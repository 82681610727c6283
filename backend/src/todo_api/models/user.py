"""The `users` table: one row per user id the frontend's auth system has issued."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)
from todo_api.models.fields import EMAIL_MAX, USER_ID_MAX


class User(SQLModel, table=True):
    """A user; created on first use, never by a sign-up endpoint of this API."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"char_length(id) BETWEEN 1 AND {USER_ID_MAX}", name="id_length"),
        CheckConstraint(f"char_length(email) <= {EMAIL_MAX}", name="email_length"),
        CheckConstraint("char_length(time_zone) BETWEEN 1 AND 64", name="time_zone_length"),
    )

    id: str = Field(sa_column=Column(Text, primary_key=True))
    email: str | None = Field(default=None, sa_column=Column(Text, unique=True, nullable=True))
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    # An IANA zone name: relative reminders of all-day due dates count back from 09:00 in it.
    time_zone: str = Field(
        default="UTC", sa_column=Column(Text, nullable=False, server_default=text("'UTC'"))
    )
    # When the user's chat turns of the last minute started (CHAT_TURNS_PER_MINUTE; migration
    # 0012): the statement that starts a turn prunes, checks and appends in one update.
    chat_turns: list[datetime] = Field(
        default_factory=list,
        sa_column=Column(
            ARRAY(DateTime(timezone=True)), nullable=False, server_default=text("'{}'")
        ),
    )
