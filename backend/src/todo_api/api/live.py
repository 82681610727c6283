"""`GET /api/{user_id}/events` (the live stream) and `POST /api/{user_id}/events/tickets`
(a ticket for `EventSource`): thin transport over live/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from todo_api.api.auth import authorized, bearer_scheme
from todo_api.api.deps import admitted
from todo_api.api.list_query import QueryParameters
from todo_api.api.paths import UserIdPath
from todo_api.api.problems import CALLER_FAILURES, responses_for
from todo_api.api.responses import json_response
from todo_api.database.timeouts import end_request_deadline
from todo_api.errors import InvalidInputError, InvalidTicketError, StreamLimitError
from todo_api.live import tickets
from todo_api.live.hub import LiveHub, Subscriber
from todo_api.live.stream import events, start_position

_PARAMETERS = QueryParameters(("ticket", "last_event_id"))
_LAST_EVENT_ID_MAX = 20
STREAM_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}

STREAM_DESCRIPTION = """Server-Sent Events: every change to the user's tasks (from REST, MCP,
recurrence or a reminder firing) as it commits. Each event has `event:` its kind
(`task.created`, `task.updated`, `task.completed`, `task.reopened`, `task.deleted`,
`reminder.due`), `data:` the task as the API renders it (a deletion: its id and user; a
reminder: the task, the reminder, `scheduled_for`, `fired_at`) and `id:` a cursor.
Reconnecting with `Last-Event-ID` (browsers send it themselves) delivers everything since,
once; a cursor too old to resume gets `event: resync` (reload the list). The stream ends
with `event: token-expired` when the token expires and with `event: shutdown` (and a
`retry:` hint) when the server stops: reconnect. A comment line comes every 15 s when idle.

Authenticate with `Authorization: Bearer`, or, from a browser's `EventSource` (which cannot
send headers), with `?ticket=` from `POST .../events/tickets`: single use, valid 60 s; such a
client resumes with `?last_event_id=` (a new `EventSource` cannot send the header)."""


async def _known_parameters(request: Request) -> None:
    _PARAMETERS.check(request.query_params)


class StreamTicketRead(BaseModel):
    ticket: str = Field(description="Pass as `?ticket=` to `GET .../events`; single use.")
    expires_in: int = Field(description="Seconds the ticket stays valid if unused.")


router = APIRouter(prefix="/api/{user_id}/events", tags=["live updates"])


@router.post(
    "/tickets",
    operation_id="createStreamTicket",
    summary="A single-use ticket that opens one live stream (for EventSource)",
    status_code=status.HTTP_201_CREATED,
    response_model=StreamTicketRead,
    responses=responses_for(*CALLER_FAILURES, InvalidInputError),
)
async def create_stream_ticket(request: Request, user_id: UserIdPath) -> Response:
    """A ticket bound to the token's user, valid for one stream opened within
    `LIVE_TICKET_SECONDS`; that stream ends when this token expires."""
    principal = await admitted(request, user_id)
    state = request.app.state
    lifetime = state.settings.live_ticket_seconds
    ticket = await tickets.mint(state.database, principal.user_id, lifetime, principal.expires_at)
    return json_response(
        {"ticket": ticket, "expires_in": lifetime},
        status.HTTP_201_CREATED,
        {"Cache-Control": "no-store"},
    )


@router.get(
    "",
    operation_id="streamEvents",
    summary="Live updates of the user's tasks (Server-Sent Events)",
    description=STREAM_DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **responses_for(*CALLER_FAILURES, InvalidTicketError, StreamLimitError, InvalidInputError),
    },
    dependencies=[Depends(_known_parameters)],
)
async def stream_events(
    request: Request,
    user_id: UserIdPath,
    ticket: Annotated[
        str | None, Query(max_length=tickets.TICKET_MAX_CHARS, description="From POST .../tickets.")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(
            max_length=_LAST_EVENT_ID_MAX,
            description="Resume after this event id, for a client that cannot send the "
            "`Last-Event-ID` header (a new `EventSource`); the header wins when both are sent.",
        ),
    ] = None,
) -> Response:
    state = request.app.state
    hub: LiveHub = state.live_hub
    if ticket is not None and await bearer_scheme(request) is None:
        used = await tickets.use(state.database, ticket)
        if used is None or used[0] != user_id:
            raise InvalidTicketError
        expires_at = used[1]
    else:
        expires_at = (await authorized(request, user_id)).expires_at
    resume_after = _last_event_id(request.headers.get("last-event-id") or last_event_id)
    await state.admission.enter(request.scope)
    subscriber = hub.subscribe(user_id)
    try:
        after, first = await start_position(state.database, user_id, resume_after)
    except BaseException:
        hub.unsubscribe(subscriber)
        raise
    end_request_deadline()  # the stream's reads each have their own deadline
    body = events(
        state.database,
        hub,
        subscriber,
        after,
        first,
        expires_at=expires_at,
        heartbeat=state.settings.live_heartbeat_seconds,
    )
    return _LiveStream(body, hub, subscriber)


class _LiveStream(StreamingResponse):
    """A live stream whose place in the hub is given back however the response ends. The
    generator unsubscribes in its own `finally`, but only if it ever ran: a response stopped
    before its first step (a client that left before the first byte, when the server's
    `receive` or `send` suspends first) never starts it, and a generator that never started
    runs no `finally`. With today's uvicorn and anyio nothing suspends before it starts (the
    test's clients that hang up at once are given back by the generator), so this only keeps
    the limits and `LIVE_RELEASE_SECONDS` from depending on that. Unsubscribing twice is a
    no-op."""

    def __init__(self, body: AsyncIterator[bytes], hub: LiveHub, subscriber: Subscriber) -> None:
        super().__init__(body, media_type="text/event-stream", headers=STREAM_HEADERS)
        self._hub = hub
        self._subscriber = subscriber

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._hub.unsubscribe(self._subscriber)


def _last_event_id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if len(raw) > _LAST_EVENT_ID_MAX or not raw.isascii() or not raw.isdigit():
        raise InvalidInputError(
            [
                {
                    "loc": ["header", "Last-Event-ID"],
                    "msg": "must be the id of an event of this stream (a number)",
                    "type": "value_error",
                }
            ]
        )
    return int(raw)
