"""Tool results: the REST shapes as structured content, and a short text for the model.

Agents that read `structuredContent` get exactly what the REST API returns for the same
task (the same `task_dict` and JSON options); models that read only text get one line per
task, with the id they need for the next call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from todo_api.models import TaskRead
from todo_api.services.rendering import JSON_OPTIONS, task_dict
from todo_api.services.tasks import TaskRow


class TaskPage(BaseModel):
    """What `list_tasks` returns."""

    tasks: list[TaskRead] = Field(description="The matching tasks, in the order asked for.")
    next_cursor: str | None = Field(
        description=(
            "Null when these are all the matching tasks. Otherwise more match: call "
            "list_tasks again with the same arguments and this cursor for the next ones."
        )
    )


class DeletedTask(BaseModel):
    """What `delete_task` returns."""

    id: int = Field(description="The id of the task that was deleted.")
    deleted: bool = Field(description="Always true: the task no longer exists.")


def _json(value: object) -> Any:
    """`value` as the REST API writes it (datetimes in UTC with `Z`), as JSON values."""
    return orjson.loads(orjson.dumps(value, option=JSON_OPTIONS))


def describe(task: dict[str, Any]) -> str:
    """One task as a line of text: `[x] #12 Title (priority high; due ...)`."""
    facts = [f"priority {task['priority']}"]
    if task["due_date"] is not None:
        facts.append(f"due {task['due_date']}")
    if task["tags"]:
        facts.append(f"tags {', '.join(task['tags'])}")
    if task["recurrence"] is not None:
        facts.append(f"repeats {task['recurrence']}")
    line = (
        f"[{'x' if task['completed'] else ' '}] #{task['id']} {task['title']} ({'; '.join(facts)})"
    )
    if task["description"]:
        line += f"\n    {task['description']}"
    return line


def task_result(row: TaskRow, note: str = "") -> CallToolResult:
    """One task: its REST JSON, and its line of text after `note`."""
    task = _json(task_dict(row))
    return CallToolResult(
        content=[TextContent(type="text", text=note + describe(task))], structured_content=task
    )


def page_result(rows: Sequence[TaskRow], next_cursor: str | None) -> CallToolResult:
    """A list of tasks: `TaskPage` JSON, and a line per task (or a sentence when none)."""
    tasks = _json([task_dict(row) for row in rows])  # one round trip for the whole list
    lines = [describe(task) for task in tasks] or ["No tasks match."]
    if next_cursor is not None:
        lines.append(f"More tasks match: pass cursor {next_cursor!r} to see the next ones.")
    return CallToolResult(
        content=[TextContent(type="text", text="\n".join(lines))],
        structured_content={"tasks": tasks, "next_cursor": next_cursor},
    )


def deleted_result(task_id: int) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=f"Deleted task #{task_id}.")],
        structured_content={"id": task_id, "deleted": True},
    )


def error_result(detail: str) -> CallToolResult:
    """A failed call the model can read and correct: `isError` with the REST `detail`."""
    return CallToolResult(content=[TextContent(type="text", text=detail)], is_error=True)
