"""A task as the API renders it, for every transport (REST, MCP) and every consumer.

Rows leave the service as column tuples in `TASK_FIELDS` order; `task_dict` turns one into the
JSON object `TaskRead` documents, and orjson with `JSON_OPTIONS` writes it (datetimes in UTC
with `Z`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from todo_api.models.fields import PRIORITIES

JSON_OPTIONS = orjson.OPT_UTC_Z


def task_dict(row: Iterable[Any]) -> dict[str, Any]:
    """The row (columns in `TASK_FIELDS` order) as the JSON object `TaskRead` documents.
    Written out (not a loop over the fields): it is called once per task of a list, and
    the literal is much faster (see performance.md)."""
    (
        id_,
        user_id,
        title,
        description,
        completed,
        created_at,
        updated_at,
        priority,
        due_at,
        due_all_day,
        tags,
        recurrence,
        reminders,
    ) = row
    return {
        "id": id_,
        "user_id": user_id,
        "title": title,
        "description": description,
        "completed": completed,
        "created_at": created_at,
        "updated_at": updated_at,
        "priority": PRIORITIES[priority - 1],
        "due_date": due_at.date() if due_all_day else due_at,
        "tags": tags,
        "recurrence": recurrence,
        "reminders": reminders,
    }
