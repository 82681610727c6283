"""Statements over one user's conversations and chat messages, each filtered on `:owner`.

Built once, with bind parameters; `services/conversations.py` (`UserConversations`) binds
them to a user and is the only way in. A turn's lease (`turn_until`) is taken and given back
by one statement each: no lock outlives its statement. Each statement's WHERE begins with the
gate of row-level security (`ACTING`, database/wall.py), so the inserts are INSERT ... SELECT;
in a statement with data-modifying CTEs, each CTE's WHERE begins with it too.

A turn's steps are folded where one statement can do several (each round trip costs the
turn CPU on both sides): the turn counted against CHAT_TURNS_PER_MINUTE, a new conversation
and its first message (`NEW_TURN`); the turn counted, the user's message and the history it
ends (`USER_TURN`); the answer and the lease given back (`FINISH`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Executable,
    Integer,
    Interval,
    Text,
    bindparam,
    delete,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE
from sqlmodel import col

from todo_api.database.wall import ACTING, OWNER
from todo_api.models import ChatMessage, Conversation, User

_OWNER = OWNER
_CONVERSATION = bindparam("conversation_id", type_=BigInteger)
_LEASE = bindparam("lease", type_=Interval)
_LIMIT = bindparam("limit", type_=Integer)
_OWN_CONVERSATION = col(Conversation.user_id) == _OWNER
_OWN_MESSAGE = col(ChatMessage.user_id) == _OWNER

# The turn's lease, when no other turn holds it (or the one holding it outlived its lease).
CLAIM: Executable = (
    update(Conversation)
    .where(
        ACTING,
        _OWN_CONVERSATION,
        col(Conversation.id) == _CONVERSATION,
        or_(col(Conversation.turn_until).is_(None), col(Conversation.turn_until) < func.now()),
    )
    .values(turn_until=func.now() + _LEASE)
    .returning(col(Conversation.id), col(Conversation.turn_until).label("held"))
)
EXISTS = select(col(Conversation.id)).where(
    ACTING, _OWN_CONVERSATION, col(Conversation.id) == _CONVERSATION
)
# The lease given back, if this turn still holds it (`held`: the lease it took): a turn that
# outlived its lease must not free the one the next turn took meanwhile.
RELEASE = (
    update(Conversation)
    .where(
        ACTING,
        _OWN_CONVERSATION,
        col(Conversation.id) == _CONVERSATION,
        col(Conversation.turn_until) == bindparam("held", type_=DateTime(timezone=True)),
    )
    .values(turn_until=None, updated_at=func.now())
)
DELETE = (
    delete(Conversation)
    .where(ACTING, _OWN_CONVERSATION, col(Conversation.id) == _CONVERSATION)
    .returning(col(Conversation.id))
)
_CONVERSATION_COLUMNS = (
    col(Conversation.id),
    col(Conversation.title),
    col(Conversation.created_at),
    col(Conversation.updated_at),
)
# Newest first; `before`: the page after the conversation of that id.
CONVERSATIONS = (
    select(*_CONVERSATION_COLUMNS)
    .where(ACTING, _OWN_CONVERSATION)
    .order_by(col(Conversation.id).desc())
    .limit(_LIMIT)
)
CONVERSATIONS_BEFORE = CONVERSATIONS.where(
    col(Conversation.id) < bindparam("before", type_=BigInteger)
)

ANSWER = (
    insert(ChatMessage)
    .from_select(
        ["user_id", "conversation_id", "role", "content", "tool_calls", "reply_to"],
        select(
            _OWNER,
            _CONVERSATION,
            literal("assistant", Text),
            bindparam("content", type_=Text),
            bindparam("tool_calls", type_=JSONB),
            bindparam("reply_to", type_=BigInteger),
        ).where(ACTING),
    )
    .returning(col(ChatMessage.id))
)
# (message id, conversation id) of the user's message sent with this key.
KEYED = select(
    col(ChatMessage.id), col(ChatMessage.conversation_id), col(ChatMessage.content)
).where(ACTING, _OWN_MESSAGE, col(ChatMessage.idempotency_key) == bindparam("key", type_=Text))
ANSWER_TO = select(
    col(ChatMessage.id), col(ChatMessage.content), col(ChatMessage.tool_calls)
).where(
    ACTING, _OWN_MESSAGE, col(ChatMessage.reply_to) == bindparam("message_id", type_=BigInteger)
)
_MESSAGE_COLUMNS = (
    col(ChatMessage.id),
    col(ChatMessage.role),
    col(ChatMessage.content),
    col(ChatMessage.tool_calls),
    col(ChatMessage.created_at),
)
_LATEST = (
    select(*_MESSAGE_COLUMNS)
    .where(
        _OWN_MESSAGE,
        col(ChatMessage.conversation_id) == _CONVERSATION,
        col(ChatMessage.id) <= bindparam("upto", type_=BigInteger),
    )
    .order_by(col(ChatMessage.id).desc())
    .limit(_LIMIT)
    .subquery()
)
# The last `limit` messages up to the message `upto`, oldest first: what a retried turn tells
# the model (messages sent after it are not its history).
HISTORY = select(_LATEST).where(ACTING).order_by(_LATEST.c.id)
# Oldest first; `after`: the page after the message of that id.
MESSAGES = (
    select(*_MESSAGE_COLUMNS)
    .where(ACTING, _OWN_MESSAGE, col(ChatMessage.conversation_id) == _CONVERSATION)
    .order_by(col(ChatMessage.id))
    .limit(_LIMIT)
)
MESSAGES_AFTER = MESSAGES.where(col(ChatMessage.id) > bindparam("after", type_=BigInteger))

_TURN_COLUMNS = ("id", "role", "content", "tool_calls", "created_at")
_RECENT_TURNS: ColumnElement[list[datetime]] = literal_column(
    "ARRAY(SELECT t FROM unnest(users.chat_turns) AS t WHERE t > now() - interval '1 minute')"
)
# The turn counted in the user's row (the start times of the last minute's turns), only while
# fewer than `per_minute` are there: concurrent turns of a user queue on the row's lock, and
# PostgreSQL checks the condition again on the row as the turn before left it, so exactly
# `per_minute` pass in any minute. No row: refused (429), or the key is taken already (a
# request with the same key ran first: this one is its replay, not a turn of its own).
_KEY_TAKEN = exists().where(
    _OWN_MESSAGE, col(ChatMessage.idempotency_key) == bindparam("key", type_=Text)
)
_COUNTED = (
    update(User)
    .where(
        ACTING,
        col(User.id) == _OWNER,
        ~_KEY_TAKEN,
        func.cardinality(_RECENT_TURNS) < bindparam("per_minute", type_=Integer),
    )
    .values(chat_turns=func.array_append(_RECENT_TURNS, func.now()))
    .returning(col(User.id))
    .cte("counted")
)
_STARTED = (
    insert(Conversation)
    .from_select(
        ["user_id", "title", "turn_until"],
        select(_OWNER, bindparam("title", type_=Text), func.now() + _LEASE)
        .select_from(_COUNTED)
        .where(ACTING),
    )
    .returning(col(Conversation.id), col(Conversation.turn_until))
    .cte("started")
)


def _said(conversation_id: ColumnElement[int], after: CTE) -> Any:
    """The user's message, in `conversation_id`, if `after` has a row; none either when the
    user has a message with this key already (a race of two requests with the same key: the
    other one runs the turn)."""
    return (
        insert(ChatMessage)
        .from_select(
            ["user_id", "conversation_id", "role", "content", "idempotency_key"],
            select(
                _OWNER,
                conversation_id,
                literal("user", Text),
                bindparam("content", type_=Text),
                bindparam("key", type_=Text),
            )
            .select_from(after)
            .where(ACTING),
        )
        .on_conflict_do_nothing(
            index_elements=[col(ChatMessage.user_id), col(ChatMessage.idempotency_key)],
            index_where=col(ChatMessage.idempotency_key).is_not(None),
        )
        .returning(*_MESSAGE_COLUMNS)
    )


_FIRST = _said(_STARTED.c.id, _STARTED).cte("said")
# A turn counted, a new conversation leased to it and its first message: (conversation_id,
# and the message's columns, all NULL when the key was taken meanwhile); no row when the
# turn was refused. The message is the whole history.
NEW_TURN = (
    select(
        _STARTED.c.id.label("conversation_id"),
        _STARTED.c.turn_until.label("held"),
        *(_FIRST.c[name] for name in _TURN_COLUMNS),
    )
    .select_from(_STARTED.outerjoin(_FIRST, true()))
    .where(ACTING)
)
_NEXT = _said(_CONVERSATION, _COUNTED).cte("said")
_BEFORE = (
    select(*_MESSAGE_COLUMNS, false().label("fresh"))
    .where(_OWN_MESSAGE, col(ChatMessage.conversation_id) == _CONVERSATION)
    .order_by(col(ChatMessage.id).desc())
    .limit(_LIMIT - 1)
    .subquery()
)
_TURN_HISTORY = union_all(
    select(_BEFORE),
    select(*(_NEXT.c[name] for name in _TURN_COLUMNS), true().label("fresh")),
).subquery()
# The turn counted, the user's message in a conversation this turn holds, and the last
# `limit` messages it ends, oldest first; `fresh` marks the message stored now (none: the turn
# was refused or the key taken).
USER_TURN = select(_TURN_HISTORY).where(ACTING).order_by(_TURN_HISTORY.c.id)
_GIVEN_BACK = RELEASE.returning(col(Conversation.id)).cte("given_back")
# The answer stored and the conversation's lease given back, in one statement.
FINISH = ANSWER.add_cte(_GIVEN_BACK)
