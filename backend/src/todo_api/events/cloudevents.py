"""An outbox row as a CloudEvents 1.0 event in structured JSON (what every sink sends).

`data` is the task exactly as the REST API renders it (`services/rendering.task_dict`), read
back from the JSON snapshot the trigger stored; for a deletion, the task's id and user.
Extension attributes `userid` and `userseq` (the per-user sequence number, an integer that
grows by one with each change of that user's tasks) let a consumer order and deduplicate
with no database of its own; `id` is the same on every redelivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from todo_api.services.rendering import JSON_OPTIONS, task_dict

SPEC_VERSION = "1.0"
TYPE_PREFIX = "com.todoapi."
TASK_CHANNEL = "task-events"
REMINDER_CHANNEL = "reminders"
CONTENT_TYPE = "application/cloudevents+json"
TASK_EVENT_KINDS = ("created", "updated", "completed", "reopened", "deleted")
REMINDER_DUE = "reminder.due"
# The outbox `type` column -> the CloudEvents `type` and the channel it goes to.
EVENT_TYPES = {
    **{kind: (f"{TYPE_PREFIX}task.{kind}", TASK_CHANNEL) for kind in TASK_EVENT_KINDS},
    REMINDER_DUE: (f"{TYPE_PREFIX}{REMINDER_DUE}", REMINDER_CHANNEL),
}


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """One event, ready for any sink: where it goes, its key and its bytes."""

    outbox_id: int  # the outbox row, marked delivered once the sink acknowledges
    event_id: str
    channel: str  # NATS subject / Kafka topic
    user_id: str  # Kafka key: one user's events stay in one partition, in order
    type: str
    body: bytes  # the structured CloudEvent
    occurred_at: datetime


def render(row: Any, source: str) -> OutboundEvent:
    """The outbox row (`outbox.OUTBOX_COLUMNS`) as the event every sink sends."""
    event_type, channel = EVENT_TYPES[row.type]
    occurred_at: datetime = row.occurred_at
    event = {
        "specversion": SPEC_VERSION,
        "id": str(row.event_id),
        "source": source,
        "type": event_type,
        "subject": str(row.task_id),
        "time": occurred_at,
        "datacontenttype": "application/json",
        "userid": row.user_id,
        "userseq": row.seq,
        "data": event_data(row),
    }
    return OutboundEvent(
        outbox_id=row.id,
        event_id=str(row.event_id),
        channel=channel,
        user_id=row.user_id,
        type=event_type,
        body=orjson.dumps(event, option=JSON_OPTIONS),
        occurred_at=occurred_at,
    )


def event_data(row: Any) -> dict[str, Any]:
    """The event's `data` (also what a live stream sends, live/stream.py)."""
    snapshot: dict[str, Any] | None = row.task
    if snapshot is None:
        return {"id": row.task_id, "user_id": row.user_id}
    task = _task(snapshot)
    if row.type != REMINDER_DUE:
        return task
    detail: dict[str, Any] = row.detail
    return {
        "task": task,
        "reminder": detail["reminder"],
        "scheduled_for": _instant(detail["scheduled_for"]),
        "fired_at": _instant(detail["fired_at"]),
    }


def _task(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The task as the REST API renders it, from the trigger's JSON snapshot (the whole row
    since migration 0017: only the API's fields are taken, by name)."""
    due_at = snapshot["due_at"]
    return task_dict(
        (
            snapshot["id"],
            snapshot["user_id"],
            snapshot["title"],
            snapshot["description"],
            snapshot["completed"],
            _instant(snapshot["created_at"]),
            _instant(snapshot["updated_at"]),
            snapshot["priority"],
            None if due_at is None else _instant(due_at),
            snapshot["due_all_day"],
            snapshot["tags"],
            snapshot["recurrence"],
            snapshot["reminders"],
        )
    )


def _instant(text: str) -> datetime:
    """A timestamp as PostgreSQL writes it in JSON, in UTC (rendered with `Z`)."""
    return datetime.fromisoformat(text).astimezone(UTC)
