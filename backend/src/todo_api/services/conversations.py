"""A user's conversations with the chat agent: the one source of their statements
(`UserConversations`, as `UserTasks` is for tasks) and the use cases over them.

Statelessness: a turn keeps nothing in memory between requests. It claims the conversation's
lease (`turn_until`, one statement), stores the user's message, reads the history back,
and later stores the answer and gives the lease back; any worker or replica serves any turn,
and a turn whose worker died frees its conversation when the lease runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Executable, Row
from sqlalchemy.ext.asyncio import AsyncConnection

from todo_api.database.runner import Database
from todo_api.errors import (
    ChatRateLimitError,
    ConversationBusyError,
    ConversationNotFoundError,
    IdempotencyKeyBusyError,
    IdempotencyKeyReusedError,
)
from todo_api.models.conversation import TITLE_MAX
from todo_api.services.statements import conversations as statements

CLAIM_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class ChatScoped:
    """A conversation statement and the parameters that bind it to its user."""

    statement: Executable
    params: Mapping[str, Any]


class UserConversations:
    """Statements over the conversations and messages of one user."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id

    def _scoped(self, statement: Executable, **params: Any) -> ChatScoped:
        return ChatScoped(statement, {"owner": self.user_id, **params})

    def new(self, title: str, lease: timedelta) -> ChatScoped:
        return self._scoped(statements.NEW_CONVERSATION, title=title, lease=lease)

    def claim(self, conversation_id: int, lease: timedelta) -> ChatScoped:
        return self._scoped(statements.CLAIM, conversation_id=conversation_id, lease=lease)

    def exists(self, conversation_id: int) -> ChatScoped:
        return self._scoped(statements.EXISTS, conversation_id=conversation_id)

    def release(self, conversation_id: int) -> ChatScoped:
        return self._scoped(statements.RELEASE, conversation_id=conversation_id)

    def delete(self, conversation_id: int) -> ChatScoped:
        return self._scoped(statements.DELETE, conversation_id=conversation_id)

    def page(self, limit: int, before: int | None) -> ChatScoped:
        if before is None:
            return self._scoped(statements.CONVERSATIONS, limit=limit)
        return self._scoped(statements.CONVERSATIONS_BEFORE, limit=limit, before=before)

    def turns_last_minute(self) -> ChatScoped:
        return self._scoped(statements.TURNS_LAST_MINUTE)

    def lock_turns(self) -> ChatScoped:
        return self._scoped(statements.LOCK_TURNS)

    def user_message(
        self, conversation_id: int, content: str, key: str | None, per_minute: int
    ) -> ChatScoped:
        return self._scoped(
            statements.USER_MESSAGE,
            conversation_id=conversation_id,
            content=content,
            key=key,
            per_minute=per_minute,
        )

    def answer(
        self, conversation_id: int, reply_to: int, content: str, tool_calls: list[dict[str, Any]]
    ) -> ChatScoped:
        return self._scoped(
            statements.ANSWER,
            conversation_id=conversation_id,
            reply_to=reply_to,
            content=content,
            tool_calls=tool_calls,
        )

    def keyed(self, key: str) -> ChatScoped:
        return self._scoped(statements.KEYED, key=key)

    def answer_to(self, message_id: int) -> ChatScoped:
        return self._scoped(statements.ANSWER_TO, message_id=message_id)

    def history(self, conversation_id: int, limit: int) -> ChatScoped:
        return self._scoped(statements.HISTORY, conversation_id=conversation_id, limit=limit)

    def messages(self, conversation_id: int, limit: int, after: int | None) -> ChatScoped:
        if after is None:
            return self._scoped(statements.MESSAGES, conversation_id=conversation_id, limit=limit)
        return self._scoped(
            statements.MESSAGES_AFTER, conversation_id=conversation_id, limit=limit, after=after
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """A stored answer: its id, text and tool calls."""

    message_id: int
    content: str
    tool_calls: list[dict[str, Any]]


@dataclass(slots=True)
class Turn:
    """A turn that holds its conversation's lease: the user's message and, when the turn was
    answered before (a retry with the same Idempotency-Key), that answer."""

    conversation_id: int
    message_id: int
    answered: Answer | None
    history: Sequence[Row[Any]]


Admitted = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]
"""Runs a step of database work within an admission turn of its own."""


class Conversations:
    """The conversations of the user the service was built for; nobody else's are reachable."""

    def __init__(self, database: Database, user_id: str) -> None:
        self._database = database
        self._scope = UserConversations(user_id)

    async def _rows(self, scoped: ChatScoped) -> Sequence[Row[Any]]:
        return await self._database.rows(scoped.statement, scoped.params)

    async def page(self, limit: int, before: int | None) -> Sequence[Row[Any]]:
        return await self._rows(self._scope.page(limit, before))

    async def messages(
        self, conversation_id: int, limit: int, after: int | None
    ) -> Sequence[Row[Any]]:
        rows = await self._rows(self._scope.messages(conversation_id, limit, after))
        if not rows and not await self._rows(self._scope.exists(conversation_id)):
            raise ConversationNotFoundError(conversation_id)
        return rows

    async def delete(self, conversation_id: int) -> None:
        if not await self._rows(self._scope.delete(conversation_id)):
            raise ConversationNotFoundError(conversation_id)

    async def check_rate(self, per_minute: int) -> None:
        """ChatRateLimitError when the user sent `per_minute` messages in the last minute.

        The early answer, before a conversation is claimed or made; concurrent turns can all
        pass it. Storing the message counts again, exactly (`_store_message`)."""
        ((count,),) = await self._rows(self._scope.turns_last_minute())
        if count >= per_minute:
            raise ChatRateLimitError(per_minute)

    async def begin(
        self,
        conversation_id: int | None,
        message: str,
        key: str | None,
        *,
        lease: timedelta,
        patience: float,
        history: int,
        per_minute: int,
        admitted: Admitted,
    ) -> Turn:
        """Claim the conversation (a new one when `conversation_id` is None), waiting up to
        `patience` seconds for a turn running on it; store the message (once per `key`, and
        only while the user sent fewer than `per_minute` in the last minute) and read the
        last `history` messages. Each step runs within `admitted`."""
        keyed = await admitted(lambda: self._rows(self._scope.keyed(key))) if key else ()
        if keyed:
            found = keyed[0]
            if found.content != message or conversation_id not in (None, found.conversation_id):
                raise IdempotencyKeyReusedError
            conversation_id = found.conversation_id
        created = conversation_id is None
        if conversation_id is None:
            title = " ".join(message.split())[:TITLE_MAX]
            new = self._scope.new(title, lease)
            ((conversation_id,),) = await admitted(lambda: self._rows(new))
        else:
            await self._claim(conversation_id, lease, patience, admitted)
        claimed = conversation_id
        try:
            turn: Turn = await admitted(
                lambda: self._start(claimed, message, key, keyed, history, per_minute)
            )
        except ChatRateLimitError:
            if created:  # nothing else is in it: a refused turn leaves no empty conversation
                await self._rows(self._scope.delete(claimed))
            else:
                await self.release(claimed)
            raise
        except BaseException:
            await self.release(claimed)
            raise
        return turn

    async def _claim(
        self, conversation_id: int, lease: timedelta, patience: float, admitted: Admitted
    ) -> None:
        give_up = time.monotonic() + patience
        while True:
            if await admitted(lambda: self._rows(self._scope.claim(conversation_id, lease))):
                return
            if not await admitted(lambda: self._rows(self._scope.exists(conversation_id))):
                raise ConversationNotFoundError(conversation_id)
            if time.monotonic() >= give_up:
                raise ConversationBusyError
            await asyncio.sleep(CLAIM_POLL_SECONDS)

    async def _start(
        self,
        conversation_id: int,
        message: str,
        key: str | None,
        keyed: Sequence[Row[Any]],
        history: int,
        per_minute: int,
    ) -> Turn:
        answered = None
        if keyed:
            message_id = keyed[0].id
            rows = await self._rows(self._scope.answer_to(message_id))
            if rows:
                answered = Answer(rows[0].id, rows[0].content, rows[0].tool_calls)
        else:
            message_id = await self._store_message(conversation_id, message, key, per_minute)
        past = () if answered else await self._rows(self._scope.history(conversation_id, history))
        return Turn(conversation_id, message_id, answered, past)

    async def _store_message(
        self, conversation_id: int, message: str, key: str | None, per_minute: int
    ) -> int:
        """The id of the user's message, stored unless the user sent `per_minute` messages in
        the last minute (ChatRateLimitError): exact however many turns run at once, as the
        count and the insert run under the user's lock (`LOCK_TURNS`), one turn at a time."""
        lock = self._scope.lock_turns()
        store = self._scope.user_message(conversation_id, message, key, per_minute)
        count = self._scope.turns_last_minute()

        async def work(connection: AsyncConnection) -> int:
            await connection.execute(lock.statement, lock.params)
            stored = (await connection.execute(store.statement, store.params)).all()
            if stored:
                return int(stored[0].id)
            ((sent,),) = (await connection.execute(count.statement, count.params)).all()
            if sent >= per_minute:
                raise ChatRateLimitError(per_minute)
            # the same key, sent at once by another request for a new conversation
            raise IdempotencyKeyBusyError

        return await self._database.transaction(work)

    async def finish(self, turn: Turn, content: str, tool_calls: list[dict[str, Any]]) -> Answer:
        """Store the answer of `turn` and give the conversation's lease back."""
        scoped = self._scope.answer(turn.conversation_id, turn.message_id, content, tool_calls)
        try:
            ((message_id,),) = await self._rows(scoped)
        finally:
            await self.release(turn.conversation_id)
        return Answer(message_id, content, tool_calls)

    async def release(self, conversation_id: int) -> None:
        await self._rows(self._scope.release(conversation_id))
