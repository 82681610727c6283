"""The `server_keys` table: secrets the server makes for itself, one row per purpose.

The key that seals cursors lives here (migration 0004 creates it, random, in PostgreSQL), so
every worker and replica opens the cursors any other sealed, across restarts, with no
operator setting. It is read once per process (`database/server_keys.py`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, LargeBinary, Text, func
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)

SERVER_KEY_BYTES = 32
CURSOR_KEY_NAME = "cursor"


class ServerKey(SQLModel, table=True):
    """A named random key (256 bits)."""

    __tablename__ = "server_keys"
    __table_args__ = (
        CheckConstraint(f"octet_length(key) = {SERVER_KEY_BYTES}", name="key_length"),
    )

    name: str = Field(sa_column=Column(Text, primary_key=True))
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
