"""One live stream: the bytes of `text/event-stream` for one subscriber (see the package
docstring).

Each event is `event: <kind>` (`task.created`, `task.updated`, `task.completed`,
`task.reopened`, `task.deleted`, `reminder.due`), `data:` the task as the API renders it (the
deleted task's id and user; for a reminder the task, the reminder, `scheduled_for` and
`fired_at`) and `id:` the user's sequence number, which `Last-Event-ID` resumes from. Control
events: `resync` (the cursor is older than the outbox, or from another database: reload the
list, then follow this stream), `token-expired` (reconnect with a fresh token or ticket),
`shutdown` (with `retry:`: reconnect shortly, to any server).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from todo_api.database.runner import Database
from todo_api.database.timeouts import end_request_deadline
from todo_api.events.cloudevents import event_data
from todo_api.live.hub import LiveHub, Subscriber
from todo_api.live.reads import AFTER, POSITION
from todo_api.services.rendering import JSON_OPTIONS

BATCH = 100
RETRY_MS = 2000
SHUTDOWN_RETRY_MS = 1000


def frame(event: str, data: object, event_id: int | None = None) -> bytes:
    """One SSE event; the JSON has no newline, so it is one `data:` line."""
    head = f"event: {event}\n" if event_id is None else f"id: {event_id}\nevent: {event}\n"
    return head.encode() + b"data: " + orjson.dumps(data, option=JSON_OPTIONS) + b"\n\n"


async def start_position(
    database: Database, user_id: str, last_event_id: int | None
) -> tuple[int, bytes]:
    """Where the stream starts, and what to send first: from now when the client has no
    cursor; after its cursor when the outbox still holds everything since; else a `resync`."""
    position: Any = (await database.rows(POSITION, {"owner": user_id}))[0]
    current, oldest = position[0] or 0, position[1]
    first = f"retry: {RETRY_MS}\n\n".encode()
    if last_event_id is None:
        return current, first
    missed_from = last_event_id + 1
    if last_event_id > current or (
        missed_from <= current and (oldest is None or oldest > missed_from)
    ):
        reason = {"reason": "the cursor is too old to resume: reload the list", "cursor": current}
        return current, first + frame("resync", reason, current)
    return last_event_id, first


async def events(
    database: Database,
    hub: LiveHub,
    subscriber: Subscriber,
    after: int,
    first: bytes,
    *,
    expires_at: float,
    heartbeat: float,
) -> AsyncIterator[bytes]:
    """The stream's bytes until the token expires, the server shuts down, or the client
    leaves (the server then cancels this generator); always unsubscribes."""
    user_id = subscriber.user_id
    try:
        end_request_deadline()  # each read below has the database's own deadline
        yield first
        while True:
            subscriber.wake.clear()  # before reading: a wake-up during the read is kept
            while True:
                rows = await database.rows(
                    AFTER, {"owner": user_id, "after": after, "limit": BATCH}
                )
                if rows:
                    yield b"".join(frame(_kind(row.type), event_data(row), row.seq) for row in rows)
                    after = rows[-1].seq
                if len(rows) < BATCH:
                    break
            if hub.closing:
                yield f"retry: {SHUTDOWN_RETRY_MS}\n".encode() + frame("shutdown", {})
                return
            # Wait for a wake-up (the hub's LISTEN or poll: the user's sequence moved), with a
            # heartbeat while idle. A heartbeat reads nothing: with 5,000 idle streams a read
            # per heartbeat was 333 statements a second for no news (performance.md, "Live").
            while True:
                left = expires_at - time.time()
                if left <= 0:
                    yield frame(
                        "token-expired",
                        {"reason": "the token expired: reconnect with a fresh one"},
                    )
                    return
                try:
                    await asyncio.wait_for(subscriber.wake.wait(), min(heartbeat, left))
                    break
                except TimeoutError:
                    yield b": keepalive\n\n"
    finally:
        hub.unsubscribe(subscriber)


def _kind(outbox_type: str) -> str:
    return outbox_type if "." in outbox_type else f"task.{outbox_type}"
