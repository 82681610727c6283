"""The `idempotency_keys` table: which task a create with an `Idempotency-Key` made.

The key row is inserted by the same statement as the task, so a crash can never leave one
without the other, and the primary key (user, key) makes a second task for the same key
impossible whatever the interleaving. Keys are kept at least `IDEMPOTENCY_KEY_HOURS` hours,
then removed by the app's housekeeping.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, LargeBinary, Text, func
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)
from todo_api.models.fields import IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN

IDEMPOTENCY_KEY_HOURS = 24
FINGERPRINT_BYTES = 32


class IdempotencyKey(SQLModel, table=True):
    """A key a user sent with a create, the request it came with, and the task made."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint(
            f"key ~ '{IDEMPOTENCY_KEY_PATTERN}' AND char_length(key) <= {IDEMPOTENCY_KEY_MAX}",
            name="key_format",
        ),
        CheckConstraint(
            f"octet_length(fingerprint) = {FINGERPRINT_BYTES}", name="fingerprint_length"
        ),
        # Expired keys, oldest first (housekeeping).
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    user_id: str = Field(sa_column=Column(Text, primary_key=True))
    key: str = Field(sa_column=Column(Text, primary_key=True))
    fingerprint: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """SHA-256 of the request body as validated: the same key with another body is refused."""
    task_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    """Not a foreign key: a replay after the task was deleted says so (404)."""
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
