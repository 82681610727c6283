"""`POST /api/{user_id}/chat` and the user's conversations: thin transport over `chat/` (the
agent) and services/conversations.py (what is stored).

A turn holds an admission turn only for its database steps: waiting for the model (seconds)
must not keep the worker's small requests waiting, so the turn taken by `admitted` ends once
the request is checked, and each later step (and each tool call) takes one of its own.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import anyio
import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from todo_api.api.admission import end_turn
from todo_api.api.deps import admitted
from todo_api.api.headers import IDEMPOTENCY_KEY, idempotency_key
from todo_api.api.links import link
from todo_api.api.live import STREAM_HEADERS
from todo_api.api.media_type import json_body
from todo_api.api.paths import UserIdPath
from todo_api.api.problems import BODY_FAILURES, CALLER_FAILURES, error_response, responses_for
from todo_api.api.responses import json_response
from todo_api.chat.tools import ChatCall
from todo_api.chat.turn import ChatAgent
from todo_api.errors import (
    ApiError,
    ChatNotConfiguredError,
    ChatRateLimitError,
    ConversationBusyError,
    ConversationNotFoundError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    ModelFailedError,
    ModelTimeoutError,
)
from todo_api.models.conversation import USER_MESSAGE_MAX
from todo_api.models.fields import BIGINT_MAX
from todo_api.services.conversations import Conversations, Turn

T = TypeVar("T")
PAGE_MAX = 200
LEASE_MARGIN_SECONDS = 30.0
_ID = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="Id of the conversation.")]


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"message": "Remind me to pay rent on Friday"}]},
    )

    message: str = Field(
        min_length=1,
        max_length=USER_MESSAGE_MAX,
        description="At most CHAT_MAX_MESSAGE_CHARS (4000 unless set lower).",
    )
    # No upper bound in the schema: an id past the database's range is a conversation that
    # does not exist (404), like any other unknown id.
    conversation_id: int | None = Field(
        default=None, ge=1, description="Leave out to start a conversation."
    )


class ToolCall(BaseModel):
    name: str
    arguments: dict[str, Any]
    result: str = Field(description="What the tool told the model.")


class ChatReply(BaseModel):
    conversation_id: int
    response: str
    tool_calls: list[ToolCall]


class ConversationSummary(BaseModel):
    id: int
    title: str = Field(description="The start of its first message.")
    created_at: datetime
    updated_at: datetime


class StoredMessage(BaseModel):
    id: int
    role: str = Field(description="`user` or `assistant`.")
    content: str
    tool_calls: list[dict[str, Any]]
    created_at: datetime


router = APIRouter(prefix="/api/{user_id}", tags=["chat"])

STREAM_DOC = (
    "With `Accept: text/event-stream` the same turn as Server-Sent Events: `text` "
    '(`{"delta"}`, as the model writes), `tool_call` (`{"name", "arguments", "result"}`), '
    'then `done` (`{"conversation_id", "response", "tool_calls"}`) or `error` (a problem).'
)


async def _in_turn(state: State, step: Callable[[], Awaitable[T]]) -> T:
    async with state.admission:
        return await step()


@router.post(
    "/chat",
    operation_id="chat",
    summary="Send the chat agent a message; it manages the user's tasks",
    dependencies=[Depends(json_body)],
    response_model=ChatReply,
    responses={
        200: {
            "description": "The answer. " + STREAM_DOC,
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **responses_for(
            *CALLER_FAILURES,
            *BODY_FAILURES,
            ConversationNotFoundError,
            ConversationBusyError,
            IdempotencyKeyReusedError,
            ChatRateLimitError,
            ModelFailedError,
            ModelTimeoutError,
            ChatNotConfiguredError,
        ),
    },
    openapi_extra={"parameters": [IDEMPOTENCY_KEY]},
)
async def chat(
    request: Request, user_id: UserIdPath, body: Annotated[ChatRequest, Body()]
) -> Response:
    """One turn: the message is stored, the agent answers with the history of the
    conversation (read from the database) and the task tools, the answer is stored. A retry
    with the same `Idempotency-Key` runs the turn once; two turns of one conversation run
    one after the other. 502/504 keep the message in the conversation."""
    principal = await admitted(request, user_id)
    state = request.app.state
    agent: ChatAgent | None = state.chat
    if agent is None:
        raise ChatNotConfiguredError
    settings = state.settings
    message = body.message
    if len(message) > settings.chat_max_message_chars or not message.strip():
        rule = f"must be 1-{settings.chat_max_message_chars} characters, not only spaces"
        raise InvalidInputError([{"loc": ["body", "message"], "msg": rule, "type": "value_error"}])
    key = idempotency_key(request)
    if body.conversation_id is not None and body.conversation_id > BIGINT_MAX:
        raise ConversationNotFoundError(body.conversation_id)
    conversations = Conversations(state.database, principal.user_id)
    end_turn(request.scope)
    turn = await conversations.begin(
        body.conversation_id,
        message,
        key,
        lease=timedelta(seconds=settings.chat_turn_seconds + LEASE_MARGIN_SECONDS),
        patience=settings.chat_turn_seconds,
        history=settings.chat_history_messages,
        per_minute=settings.chat_turns_per_minute,
        admitted=lambda step: _in_turn(state, step),
    )
    call = ChatCall(request, settings.chat_max_tool_calls)
    streamed = "text/event-stream" in request.headers.get("accept", "")
    if turn.answered is not None:
        answer = turn.answered
        reply = _reply(turn, answer.content, answer.tool_calls)
        if streamed:
            return _stream(_replayed(reply))
        return json_response(reply, headers={"Idempotent-Replayed": "true"})
    if streamed:
        ending = _Ending(state, conversations, turn)
        return _TurnStream(_streamed_turn(state, agent, turn, call, ending), ending)
    try:
        text = await agent.run(call, turn.history)
    except BaseException:
        await _in_turn(state, lambda: conversations.release(turn.conversation_id, turn.held))
        raise
    await _in_turn(state, lambda: conversations.finish(turn, text, call.calls))
    return json_response(_reply(turn, text, call.calls))


def _reply(turn: Turn, text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    shown = [{k: c[k] for k in ("name", "arguments", "result")} for c in calls]
    return {"conversation_id": turn.conversation_id, "response": text, "tool_calls": shown}


def _event(kind: str, data: Any) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=STREAM_HEADERS)


async def _replayed(reply: dict[str, Any]) -> AsyncIterator[bytes]:
    for call in reply["tool_calls"]:
        yield _event("tool_call", call)
    yield _event("text", {"delta": reply["response"]})
    yield _event("done", reply)


class _Ending:
    """How a streamed turn gives its conversation back: once, by its answer or by a release."""

    def __init__(self, state: State, conversations: Conversations, turn: Turn) -> None:
        self._state = state
        self._conversations = conversations
        self._turn = turn
        self.done = False

    async def finish(self, text: str, calls: list[dict[str, Any]]) -> None:
        self.done = True
        await _in_turn(self._state, lambda: self._conversations.finish(self._turn, text, calls))

    async def release(self) -> None:
        """Give the lease back, unless the turn was answered or released already."""
        if self.done:
            return
        self.done = True
        turn = self._turn
        await _in_turn(
            self._state, lambda: self._conversations.release(turn.conversation_id, turn.held)
        )


class _TurnStream(StreamingResponse):
    """A streamed turn whose lease is given back however the response ends. A client that
    goes away can stop the response before the turn's generator first runs (it then never
    runs) or while it waits (a cancelled generator cannot await its own clean-up): the
    release runs here, shielded from that cancellation."""

    def __init__(self, events: AsyncGenerator[bytes], ending: _Ending) -> None:
        super().__init__(events, media_type="text/event-stream", headers=STREAM_HEADERS)
        self._events = events
        self._ending = ending

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()  # a turn nobody reads stops calling the model
                await self._ending.release()


async def _streamed_turn(
    state: State, agent: ChatAgent, turn: Turn, call: ChatCall, ending: _Ending
) -> AsyncGenerator[bytes]:
    text = ""
    try:
        async with aclosing(agent.stream(call, turn.history)) as events:
            async for kind, data in events:
                if kind == "answer":
                    text = data["response"]
                else:
                    yield _event(kind, data)
    except ApiError as error:
        await ending.release()
        yield _event("error", orjson.loads(error_response(error).body))
        return
    await ending.finish(text, call.calls)
    yield _event("done", _reply(turn, text, call.calls))


@router.get(
    "/conversations",
    operation_id="listConversations",
    summary="The user's conversations, newest first",
    response_model=list[ConversationSummary],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": '`<...>; rel="next"` while more conversations follow.',
                    "schema": {"type": "string"},
                }
            }
        },
        **responses_for(*CALLER_FAILURES, InvalidInputError),
    },
)
async def list_conversations(
    request: Request,
    user_id: UserIdPath,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="Conversations older than this id.")
    ] = None,
) -> Response:
    principal = await admitted(request, user_id)
    conversations = Conversations(request.app.state.database, principal.user_id)
    rows = await conversations.page(limit + 1, before)  # one more: whether a next page exists
    return _page(request, rows, limit, "before")


@router.get(
    "/conversations/{conversation_id}/messages",
    operation_id="listConversationMessages",
    summary="The messages of a conversation, oldest first",
    response_model=list[StoredMessage],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": '`<...>; rel="next"` while more messages follow.',
                    "schema": {"type": "string"},
                }
            }
        },
        **responses_for(*CALLER_FAILURES, InvalidInputError, ConversationNotFoundError),
    },
)
async def list_messages(
    request: Request,
    user_id: UserIdPath,
    conversation_id: _ID,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    after: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="Messages after this id.")
    ] = None,
) -> Response:
    principal = await admitted(request, user_id)
    conversations = Conversations(request.app.state.database, principal.user_id)
    rows = await conversations.messages(conversation_id, limit + 1, after)
    return _page(request, rows, limit, "after")


def _page(request: Request, rows: Sequence[Any], limit: int, cursor: str) -> Response:
    """The first `limit` rows, with a `Link` to the page after them when more were read."""
    items = [dict(row._mapping) for row in rows[:limit]]
    headers = {}
    if len(rows) > limit:
        target = f"{quote(request.url.path)}?limit={limit}&{cursor}={items[-1]['id']}"
        headers["Link"] = link(target, "next")
    return json_response(items, headers=headers)


@router.delete(
    "/conversations/{conversation_id}",
    operation_id="deleteConversation",
    summary="Delete a conversation and its messages",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses_for(*CALLER_FAILURES, InvalidInputError, ConversationNotFoundError),
)
async def delete_conversation(request: Request, user_id: UserIdPath, conversation_id: _ID) -> None:
    principal = await admitted(request, user_id)
    await Conversations(request.app.state.database, principal.user_id).delete(conversation_id)
