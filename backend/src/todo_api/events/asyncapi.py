"""The event contract: an AsyncAPI 3.0 document of the channels, messages and bindings.

Exported like the OpenAPI contract (`python -m todo_api asyncapi`, `make openapi` writes it to
specs/001-backend-task-api/contracts/asyncapi.json; a test keeps the file fresh). The task
schema is `TaskRead`'s own, so the events and the REST API cannot describe a task differently.
"""

from __future__ import annotations

import json
from typing import Any

from todo_api import __version__
from todo_api.events.cloudevents import (
    CONTENT_TYPE,
    REMINDER_CHANNEL,
    REMINDER_DUE,
    TASK_CHANNEL,
    TASK_EVENT_KINDS,
    TYPE_PREFIX,
)
from todo_api.models import TaskRead

_REF = "#/components/schemas/{model}"
_KAFKA_KEY = {"type": "string", "description": "The user id: one user's events, one partition."}
_SUMMARIES = {
    "created": "A task was created (also the next occurrence of a recurring task).",
    "updated": "A task's fields changed (not its completion).",
    "completed": "A task was marked completed.",
    "reopened": "A completed task was marked not completed.",
    "deleted": "A task was deleted; `data` holds its id and user id only.",
}


def _envelope(kind: str) -> dict[str, Any]:
    if kind == REMINDER_DUE:
        data = {"$ref": _REF.format(model="ReminderDue")}
        event_type = f"{TYPE_PREFIX}{REMINDER_DUE}"
    else:
        data = {"$ref": _REF.format(model="DeletedTask" if kind == "deleted" else "TaskRead")}
        event_type = f"{TYPE_PREFIX}task.{kind}"
    return {
        "type": "object",
        "description": "A CloudEvents 1.0 event in structured JSON.",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "userid",
            "userseq",
            "data",
        ],
        "additionalProperties": False,
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "Unique; the same on every redelivery: deduplicate by it.",
            },
            "source": {"type": "string", "description": "EVENTS_SOURCE (default /todo-api)."},
            "type": {"const": event_type},
            "subject": {"type": "string", "description": "The task id."},
            "time": {
                "type": "string",
                "format": "date-time",
                "description": "When the change was made.",
            },
            "datacontenttype": {"const": "application/json"},
            "userid": {"type": "string", "description": "The user whose task changed."},
            "userseq": {
                "type": "integer",
                "minimum": 1,
                "description": "Per-user sequence number, one more with each event of the "
                "user (task changes and reminders share it), in commit order: order by it. "
                "Within one channel a gap is an event of the other channel.",
            },
            "data": data,
        },
    }


_REMINDER_DUE_DATA: dict[str, Any] = {
    "type": "object",
    "required": ["task", "reminder", "scheduled_for", "fired_at"],
    "additionalProperties": False,
    "properties": {
        "task": {"$ref": _REF.format(model="TaskRead")},
        "reminder": {
            "type": "object",
            "description": "The reminder as the task holds it: before (a duration) or at.",
        },
        "scheduled_for": {
            "type": "string",
            "format": "date-time",
            "description": "When it was due; earlier than fired_at by the downtime, if any.",
        },
        "fired_at": {"type": "string", "format": "date-time"},
    },
}


def _message(kind: str) -> dict[str, Any]:
    return {
        "name": f"{TYPE_PREFIX}task.{kind}",
        "title": f"Task {kind}",
        "summary": _SUMMARIES[kind],
        "contentType": CONTENT_TYPE,
        "payload": {"$ref": _REF.format(model=f"Task{kind.capitalize()}Event")},
        "bindings": {"kafka": {"key": _KAFKA_KEY, "bindingVersion": "0.5.0"}},
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the events this service sends."""
    task_schema = TaskRead.model_json_schema(mode="serialization", ref_template=_REF)
    schemas: dict[str, Any] = {
        **task_schema.pop("$defs", {}),
        "TaskRead": task_schema,
        "DeletedTask": {
            "type": "object",
            "required": ["id", "user_id"],
            "additionalProperties": False,
            "properties": {"id": {"type": "integer"}, "user_id": {"type": "string"}},
        },
    }
    for kind in TASK_EVENT_KINDS:
        schemas[f"Task{kind.capitalize()}Event"] = _envelope(kind)
    schemas["ReminderDue"] = _REMINDER_DUE_DATA
    schemas["ReminderDueEvent"] = _envelope(REMINDER_DUE)
    messages = {f"task{kind.capitalize()}": _message(kind) for kind in TASK_EVENT_KINDS}
    reminder_message = {
        "name": f"{TYPE_PREFIX}{REMINDER_DUE}",
        "title": "Reminder due",
        "summary": "A reminder of a task fired (once); late when the service was down.",
        "contentType": CONTENT_TYPE,
        "payload": {"$ref": _REF.format(model="ReminderDueEvent")},
        "bindings": {"kafka": {"key": _KAFKA_KEY, "bindingVersion": "0.5.0"}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "todo-api task events",
            "version": __version__,
            "description": "Every committed change to a task, recorded in the same "
            "transaction (a transactional outbox) and delivered at least once, in order per "
            "user, to the sink EVENTS_URL names. Deduplicate by `id`; order by `userseq`.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "JetStream: stream TODO captures both subjects; each message "
                "has the header Nats-Msg-Id = the event id.",
            },
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "Idempotent producer, acks=all, key = user id.",
            },
            "webhook": {
                "host": "receiver.example",
                "protocol": "https",
                "description": "One POST per event, in order, signed per Standard Webhooks "
                "(webhook-id, webhook-timestamp, webhook-signature).",
            },
        },
        "channels": {
            "taskEvents": {
                "address": TASK_CHANNEL,
                "description": "Changes to tasks (NATS subject / Kafka topic).",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {"kafka": {"topic": TASK_CHANNEL, "bindingVersion": "0.5.0"}},
            },
            "reminders": {
                "address": REMINDER_CHANNEL,
                "description": "Reminders firing (NATS subject / Kafka topic).",
                "messages": {"reminderDue": {"$ref": "#/components/messages/reminderDue"}},
                "bindings": {"kafka": {"topic": REMINDER_CHANNEL, "bindingVersion": "0.5.0"}},
            },
        },
        "operations": {
            "sendTaskEvents": {
                "action": "send",
                "channel": {"$ref": "#/channels/taskEvents"},
                "messages": [
                    {"$ref": f"#/channels/taskEvents/messages/{name}"} for name in messages
                ],
            },
            "sendReminders": {
                "action": "send",
                "channel": {"$ref": "#/channels/reminders"},
                "messages": [{"$ref": "#/channels/reminders/messages/reminderDue"}],
            },
        },
        "components": {
            "messages": {**messages, "reminderDue": reminder_message},
            "schemas": schemas,
        },
    }


def asyncapi_json() -> str:
    """The document, stably formatted (sorted keys, trailing newline)."""
    return json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
