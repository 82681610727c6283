"""A user's conversations with the chat agent: the one source of their statements
(`UserConversations`, as `UserTasks` is for tasks) and the use cases over them.

Statelessness: a turn keeps nothing in memory between requests. It claims the conversation's
lease (`turn_until`; for a new conversation, with its creation), stores the user's message and
reads the history back (one statement), and later stores the answer and gives the lease back
(one statement); any worker or replica serves any turn, and a turn whose worker died frees its
conversation when the lease runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Executable, Row

from todo_api.database.runner import Database
from todo_api.errors import (
    ChatRateLimitError,
    ConversationBusyError,
    ConversationNotFoundError,
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

    def new_turn(
        self, title: str, lease: timedelta, content: str, key: str | None, per_minute: int
    ) -> ChatScoped:
        return self._scoped(
            statements.NEW_TURN,
            title=title,
            lease=lease,
            content=content,
            key=key,
            per_minute=per_minute,
        )

    def user_turn(
        self, conversation_id: int, content: str, key: str | None, limit: int, per_minute: int
    ) -> ChatScoped:
        return self._scoped(
            statements.USER_TURN,
            conversation_id=conversation_id,
            content=content,
            key=key,
            limit=limit,
            per_minute=per_minute,
        )

    def claim(self, conversation_id: int, lease: timedelta) -> ChatScoped:
        return self._scoped(statements.CLAIM, conversation_id=conversation_id, lease=lease)

    def exists(self, conversation_id: int) -> ChatScoped:
        return self._scoped(statements.EXISTS, conversation_id=conversation_id)

    def release(self, conversation_id: int, held: datetime) -> ChatScoped:
        return self._scoped(statements.RELEASE, conversation_id=conversation_id, held=held)

    def delete(self, conversation_id: int) -> ChatScoped:
        return self._scoped(statements.DELETE, conversation_id=conversation_id)

    def page(self, limit: int, before: int | None) -> ChatScoped:
        if before is None:
            return self._scoped(statements.CONVERSATIONS, limit=limit)
        return self._scoped(statements.CONVERSATIONS_BEFORE, limit=limit, before=before)

    def finish(self, turn: Turn, content: str, tool_calls: list[dict[str, Any]]) -> ChatScoped:
        return self._scoped(
            statements.FINISH,
            conversation_id=turn.conversation_id,
            reply_to=turn.message_id,
            content=content,
            tool_calls=tool_calls,
            held=turn.held,
        )

    def keyed(self, key: str) -> ChatScoped:
        return self._scoped(statements.KEYED, key=key)

    def answer_to(self, message_id: int) -> ChatScoped:
        return self._scoped(statements.ANSWER_TO, message_id=message_id)

    def history(self, conversation_id: int, limit: int, upto: int) -> ChatScoped:
        return self._scoped(
            statements.HISTORY, conversation_id=conversation_id, limit=limit, upto=upto
        )

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
    held: datetime
    """The lease this turn took (`turn_until`): it gives back only that one."""


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
        `patience` seconds for a turn running on it; count the turn (ChatRateLimitError past
        `per_minute` in the last minute), store the message (once per `key`) and read the
        last `history` messages. A retry of a stored message is not counted again. Each step
        runs within `admitted`."""
        keyed = await admitted(lambda: self._rows(self._scope.keyed(key))) if key else ()
        if keyed:
            return await self._replay(
                keyed[0], conversation_id, message, lease, patience, history, admitted
            )
        asked = conversation_id
        if conversation_id is None:
            title = " ".join(message.split())[:TITLE_MAX]
            new = self._scope.new_turn(title, lease, message, key, per_minute)
            rows = await admitted(lambda: self._rows(new))
            held = rows[0].held if rows else None
            if rows:
                conversation_id = rows[0].conversation_id
            said = [row for row in rows if row.id is not None]
        else:
            held = await self._claim(conversation_id, lease, patience, admitted)
            claimed = conversation_id
            scoped = self._scope.user_turn(claimed, message, key, history, per_minute)
            try:
                rows = await admitted(lambda: self._rows(scoped))
            except BaseException:
                await self.release(claimed, held)
                raise
            said = [row for row in rows if row.fresh]
        if said:
            assert conversation_id is not None
            assert held is not None
            return Turn(conversation_id, said[0].id, None, rows, held)
        # Refused, or the key was taken meanwhile by a request that runs (or ran) the turn.
        if conversation_id is not None and held is not None:
            made = asked is None
            taken_by_us, lease_held = conversation_id, held
            await admitted(lambda: self._give_up(taken_by_us, lease_held, made=made))
        taken = await admitted(lambda: self._rows(self._scope.keyed(key))) if key else ()
        if not taken:
            raise ChatRateLimitError(per_minute)
        return await self._replay(taken[0], asked, message, lease, patience, history, admitted)

    async def _give_up(self, conversation_id: int, held: datetime, *, made: bool) -> None:
        """Free a conversation this turn claimed and will not use (delete one it just made:
        it holds nothing)."""
        if made:
            await self._rows(self._scope.delete(conversation_id))
        else:
            await self.release(conversation_id, held)

    async def _replay(
        self,
        found: Row[Any],
        conversation_id: int | None,
        message: str,
        lease: timedelta,
        patience: float,
        history: int,
        admitted: Admitted,
    ) -> Turn:
        """The turn of the message `found` stored under the same key: the same message (in the
        same conversation, if one was named) or IdempotencyKeyReusedError."""
        if found.content != message or conversation_id not in (None, found.conversation_id):
            raise IdempotencyKeyReusedError
        held = await self._claim(found.conversation_id, lease, patience, admitted)
        return await self._retried(found, held, history, admitted)

    async def _retried(
        self, found: Row[Any], held: datetime, history: int, admitted: Admitted
    ) -> Turn:
        """The turn of a message stored before under the same key (the conversation claimed,
        so a turn still answering it is waited for): its answer when it has one (and the
        conversation is free again at once), else the history to run it again."""
        try:
            turn: Turn = await admitted(lambda: self._start_again(found, held, history))
        except BaseException:
            await self.release(found.conversation_id, held)
            raise
        if turn.answered is not None:
            await admitted(lambda: self.release(found.conversation_id, held))
        return turn

    async def _claim(
        self, conversation_id: int, lease: timedelta, patience: float, admitted: Admitted
    ) -> datetime:
        """The lease taken on the conversation (its `turn_until`), once no other turn holds it."""
        give_up = time.monotonic() + patience
        while True:
            claimed = await admitted(lambda: self._rows(self._scope.claim(conversation_id, lease)))
            if claimed:
                held: datetime = claimed[0].held
                return held
            if not await admitted(lambda: self._rows(self._scope.exists(conversation_id))):
                raise ConversationNotFoundError(conversation_id)
            if time.monotonic() >= give_up:
                raise ConversationBusyError
            await asyncio.sleep(CLAIM_POLL_SECONDS)

    async def _start_again(self, found: Row[Any], held: datetime, history: int) -> Turn:
        rows = await self._rows(self._scope.answer_to(found.id))
        if rows:
            answered = Answer(rows[0].id, rows[0].content, rows[0].tool_calls)
            return Turn(found.conversation_id, found.id, answered, (), held)
        past = await self._rows(self._scope.history(found.conversation_id, history, found.id))
        return Turn(found.conversation_id, found.id, None, past, held)

    async def finish(self, turn: Turn, content: str, tool_calls: list[dict[str, Any]]) -> Answer:
        """Store the answer of `turn` and give the conversation's lease back (one statement;
        when it fails, the lease is given back on its own)."""
        scoped = self._scope.finish(turn, content, tool_calls)
        try:
            ((message_id,),) = await self._rows(scoped)
        except BaseException:
            await self.release(turn.conversation_id, turn.held)
            raise
        return Answer(message_id, content, tool_calls)

    async def release(self, conversation_id: int, held: datetime) -> None:
        """Give the conversation's lease back, if `held` (the lease a turn took) is still it."""
        await self._rows(self._scope.release(conversation_id, held))
