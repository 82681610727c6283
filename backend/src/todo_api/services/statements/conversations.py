"""Statements over one user's conversations and chat messages, each filtered on `:owner`.

Built once, with bind parameters; `services/conversations.py` (`UserConversations`) binds
them to a user and is the only way in. A turn's lease (`turn_until`) is taken and given back
by one statement each: no lock outlives its statement, but for the per-user lock that
makes the turns-per-minute count exact (LOCK_TURNS), which lasts the two-statement transaction
storing the user's message. Each statement's WHERE begins with the gate of row-level security
(`ACTING`, database/wall.py), so the inserts are INSERT ... SELECT.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import (
    BigInteger,
    Integer,
    Interval,
    Text,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import col

from todo_api.database.wall import ACTING, OWNER
from todo_api.models import ChatMessage, Conversation

_OWNER = OWNER
_CONVERSATION = bindparam("conversation_id", type_=BigInteger)
_LEASE = bindparam("lease", type_=Interval)
_LIMIT = bindparam("limit", type_=Integer)
_OWN_CONVERSATION = col(Conversation.user_id) == _OWNER
_OWN_MESSAGE = col(ChatMessage.user_id) == _OWNER

NEW_CONVERSATION = (
    insert(Conversation)
    .from_select(
        ["user_id", "title", "turn_until"],
        select(_OWNER, bindparam("title", type_=Text), func.now() + _LEASE).where(ACTING),
    )
    .returning(col(Conversation.id))
)
# The turn's lease, when no other turn holds it (or the one holding it outlived its lease).
CLAIM = (
    update(Conversation)
    .where(
        ACTING,
        _OWN_CONVERSATION,
        col(Conversation.id) == _CONVERSATION,
        or_(col(Conversation.turn_until).is_(None), col(Conversation.turn_until) < func.now()),
    )
    .values(turn_until=func.now() + _LEASE)
    .returning(col(Conversation.id))
)
EXISTS = select(col(Conversation.id)).where(
    ACTING, _OWN_CONVERSATION, col(Conversation.id) == _CONVERSATION
)
RELEASE = (
    update(Conversation)
    .where(ACTING, _OWN_CONVERSATION, col(Conversation.id) == _CONVERSATION)
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

_LAST_MINUTE = (
    _OWN_MESSAGE,
    col(ChatMessage.role) == "user",
    col(ChatMessage.created_at) > func.now() - literal(timedelta(minutes=1), Interval),
)
TURNS_LAST_MINUTE = select(func.count()).where(ACTING, *_LAST_MINUTE)
# The turns of one user are counted and stored one at a time: this transaction-scoped advisory
# lock (given back at commit, so any pooler is fine) is the first statement of the transaction
# that stores the user's message. It must be a statement of its own: READ COMMITTED takes a
# statement's snapshot when it starts, so a count in the statement that waited for the lock
# would miss the message of the turn it waited for. The two-key form: a key space apart from
# the one-key locks of the relay and the announcer (a collision of two users' hashes only
# makes their turns wait for each other for a statement).
TURNS_LOCK_CLASS = 28
LOCK_TURNS = select(
    func.pg_advisory_xact_lock(literal(TURNS_LOCK_CLASS, Integer), func.hashtext(_OWNER))
).where(ACTING)
# The user's message, when the user sent fewer than `per_minute` in the last minute (after
# LOCK_TURNS, in its transaction: exact under concurrent turns); none otherwise, or when the
# user has a message with this key already (a race of two requests with the same key: the
# other one runs the turn).
USER_MESSAGE = (
    insert(ChatMessage)
    .from_select(
        ["user_id", "conversation_id", "role", "content", "idempotency_key"],
        select(
            _OWNER,
            _CONVERSATION,
            literal("user", Text),
            bindparam("content", type_=Text),
            bindparam("key", type_=Text),
        ).where(
            ACTING,
            select(func.count()).where(*_LAST_MINUTE).scalar_subquery()
            < bindparam("per_minute", type_=Integer),
        ),
    )
    .on_conflict_do_nothing(
        index_elements=[col(ChatMessage.user_id), col(ChatMessage.idempotency_key)],
        index_where=col(ChatMessage.idempotency_key).is_not(None),
    )
    .returning(col(ChatMessage.id))
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
    .where(_OWN_MESSAGE, col(ChatMessage.conversation_id) == _CONVERSATION)
    .order_by(col(ChatMessage.id).desc())
    .limit(_LIMIT)
    .subquery()
)
# The last `limit` messages, oldest first: what a turn tells the model.
HISTORY = select(_LATEST).where(ACTING).order_by(_LATEST.c.id)
# Oldest first; `after`: the page after the message of that id.
MESSAGES = (
    select(*_MESSAGE_COLUMNS)
    .where(ACTING, _OWN_MESSAGE, col(ChatMessage.conversation_id) == _CONVERSATION)
    .order_by(col(ChatMessage.id))
    .limit(_LIMIT)
)
MESSAGES_AFTER = MESSAGES.where(col(ChatMessage.id) > bindparam("after", type_=BigInteger))
