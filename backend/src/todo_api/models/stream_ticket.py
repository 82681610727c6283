"""The table of live updates (see live/): `stream_tickets`, single-use tickets that open a
stream.

Only a ticket's SHA-256 is stored; the ticket itself is shown once, to the authenticated
client that asked for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Text,
)
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)


class StreamTicket(SQLModel, table=True):
    """A ticket for one stream of one user, until `expires_at` or its first use."""

    __tablename__ = "stream_tickets"
    __table_args__ = (
        CheckConstraint("octet_length(ticket_hash) = 32", name="ticket_hash_length"),
        Index("ix_stream_tickets_expires_at", "expires_at"),
    )

    ticket_hash: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    user_id: str = Field(
        sa_column=Column(Text, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # The stream it opens ends when the token that asked for the ticket expires.
    token_expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
