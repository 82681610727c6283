"""The tables of the chat endpoint (chat/): `conversations` and their `chat_messages`.

Both carry the user's id, and every statement over them filters on it
(`services/statements/conversations.py`), as the task statements do. A conversation's
`turn_until` is the lease of the turn answering it now (NULL when none): turns of one
conversation take it one at a time, with one statement each, so no session state is held
between statements (safe behind a transaction-mode pooler).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)

TITLE_MAX = 100
MESSAGE_MAX = 100_000
# The longest message a user may send (CHAT_MAX_MESSAGE_CHARS may lower it): even written as
# JSON escapes (12 bytes a character at worst) it fits in the default MAX_BODY_BYTES.
USER_MESSAGE_MAX = 4000
ROLES = ("user", "assistant")


class Conversation(SQLModel, table=True):
    """One conversation of one user with the chat agent."""

    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint(f"char_length(title) <= {TITLE_MAX}", name="title_length"),
        Index("ix_conversations_user_id_id", "user_id", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    user_id: str = Field(
        sa_column=Column(Text, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    turn_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ChatMessage(SQLModel, table=True):
    """A user's message, or the agent's answer to one (`reply_to`) with its tool calls."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'assistant')", name="role"),
        CheckConstraint(f"char_length(content) <= {MESSAGE_MAX}", name="content_length"),
        Index("ix_chat_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_chat_messages_user_id_created_at", "user_id", "created_at"),
        Index(
            "uq_chat_messages_user_id_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("uq_chat_messages_reply_to", "reply_to", unique=True),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    user_id: str = Field(
        sa_column=Column(Text, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    conversation_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        )
    )
    role: str = Field(sa_column=Column(Text, nullable=False))
    content: str = Field(sa_column=Column(Text, nullable=False))
    # [{"id", "name", "arguments", "result"}] of an answer; [] for a user's message.
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    idempotency_key: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reply_to: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger, ForeignKey("chat_messages.id", ondelete="CASCADE"), nullable=True
        ),
    )
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
