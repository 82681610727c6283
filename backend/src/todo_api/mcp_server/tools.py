"""The six task tools. Each is one `TaskService` call, like a REST handler.

Arguments are typed with the REST API's own field types (`models/`), so a tool's JSON Schema
states the same limits, enums and formats as the OpenAPI contract, and the same values are
accepted and refused. The docstrings are the tool descriptions a model reads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field, WithJsonSchema

from todo_api.mcp_server.caller import app_state, arguments_sent, principal_of, task_service
from todo_api.mcp_server.results import (
    DeletedTask,
    TaskPage,
    deleted_result,
    page_result,
    task_result,
)
from todo_api.models import TaskCreate, TaskRead, TaskUpdate
from todo_api.models.fields import (
    BIGINT_MAX,
    DEFAULT_PRIORITY,
    Description,
    DueDate,
    Priority,
    Tags,
    Title,
)
from todo_api.models.recurrence import Recurrence
from todo_api.models.reminders import Reminders
from todo_api.services.lists.cursors import cursor_key, decode_cursor, encode_cursor
from todo_api.services.lists.pages import read_page
from todo_api.services.lists.query import (
    CURSOR_MAX,
    LIST_LIMIT_MAX,
    Order,
    SearchText,
    SortKey,
    Status,
    TagFilter,
    TaskListQuery,
)
from todo_api.services.tasks import Changed

LIST_LIMIT_DEFAULT = 50

TaskId = Annotated[
    int,
    Field(ge=1, le=BIGINT_MAX, description="The task's id, as add_task or list_tasks gave it."),
]
TaskResult = Annotated[CallToolResult, TaskRead]

_QUERY = TaskListQuery.model_fields
_PUT = TaskUpdate.model_json_schema()["properties"]


def _described(name: str) -> Any:
    """The description the REST list gives its parameter `name`."""
    return Field(description=_QUERY[name].description)


def _as_in_put(name: str) -> Any:
    """The schema `PUT` documents for field `name`: may be left out, never null."""
    return WithJsonSchema(_PUT[name])


async def add_task(
    ctx: Context[Any, Any],
    title: Annotated[Title, Field(description="What to do, 1-200 characters.")],
    description: Annotated[Description | None, Field(description="Details, if any.")] = None,
    priority: Priority = DEFAULT_PRIORITY,
    due_date: DueDate | None = None,
    tags: Tags = [],  # noqa: B006  (never mutated; pydantic copies it per call anyway)
    recurrence: Recurrence | None = None,
    reminders: Reminders = [],  # noqa: B006  (never mutated)
) -> TaskResult:
    """Add a task to the user's list and return it, with the id to use in later calls.

    Only `title` is required. A recurring task (`recurrence`) needs a `due_date`:
    completing it adds its next occurrence. `reminders` fire once each, before the due date
    (`{"before": "PT15M"}`) or at an instant (`{"at": "2026-12-08T09:00:00Z"}`)."""
    data = TaskCreate.model_validate(
        {
            "title": title,
            "description": description,
            "priority": priority,
            "due_date": due_date,
            "tags": tags,
            "recurrence": recurrence,
            "reminders": reminders,
        }
    )
    async with task_service(ctx) as tasks:
        created = await tasks.create(data)
    return task_result(created.row, "Added ")


async def list_tasks(
    ctx: Context[Any, Any],
    status: Annotated[Status, _described("status")] = "all",
    priority: Annotated[
        list[Priority], Field(description="Tasks of any of these priorities.")
    ] = [],  # noqa: B006
    tag: Annotated[
        list[TagFilter], Field(description="Tasks carrying all of these tags (exact spelling).")
    ] = [],  # noqa: B006
    search: Annotated[SearchText | None, _described("q")] = None,
    overdue: Annotated[bool | None, _described("overdue")] = None,
    due_before: Annotated[DueDate | None, _described("due_before")] = None,
    due_after: Annotated[DueDate | None, _described("due_after")] = None,
    sort: Annotated[SortKey, _described("sort")] = "created",
    order: Annotated[Order | None, _described("order")] = None,
    limit: Annotated[
        int, Field(ge=1, le=LIST_LIMIT_MAX, description="At most this many tasks.")
    ] = LIST_LIMIT_DEFAULT,
    cursor: Annotated[
        str | None,
        Field(max_length=CURSOR_MAX, description="`next_cursor` of the previous call, if any."),
    ] = None,
) -> Annotated[CallToolResult, TaskPage]:
    """List the user's tasks, newest first unless `sort`/`order` say otherwise. Filters
    combine with AND; with none, every task. An empty `tasks` list means no task matches
    (or the user has none). When `next_cursor` is not null, more tasks match: call again
    with the same arguments and that cursor."""
    query = TaskListQuery(
        status=status,
        priority=priority,
        tag=tag,
        q=search,
        overdue=overdue,
        due_before=due_before,
        due_after=due_after,
        sort=sort,
        order=order,
        limit=limit,
    )
    user_id = principal_of(ctx).user_id
    after = None
    if cursor:
        after = decode_cursor(await cursor_key(app_state(ctx)), user_id, query, cursor)
    async with task_service(ctx) as tasks:
        page = await read_page(tasks, query, limit, after)
    following = None
    if page.next_after is not None:
        key = await cursor_key(app_state(ctx))
        following = encode_cursor(key, user_id, query, page.next_after)
    return page_result(page.rows, following)


async def get_task(ctx: Context[Any, Any], task_id: TaskId) -> TaskResult:
    """Get one task by id. A task that does not exist (or is not the user's) is an error
    saying it was not found."""
    async with task_service(ctx) as tasks:
        row = await tasks.get(task_id)
    return task_result(row)


async def update_task(
    ctx: Context[Any, Any],
    task_id: TaskId,
    title: Annotated[Title | None, _as_in_put("title")] = None,
    description: Annotated[Description | None, Field(description="null clears it.")] = None,
    completed: Annotated[bool | None, _as_in_put("completed")] = None,
    priority: Annotated[Priority | None, _as_in_put("priority")] = None,
    due_date: DueDate | None = None,
    tags: Annotated[Tags | None, _as_in_put("tags")] = None,
    recurrence: Recurrence | None = None,
    reminders: Annotated[Reminders | None, _as_in_put("reminders")] = None,
) -> TaskResult:
    """Change some fields of a task and return it. Only the arguments given change; the
    others keep their value. `description`, `due_date` and `recurrence` are cleared with
    null, `tags` and `reminders` with []. `completed: true` on a recurring task adds its
    next occurrence."""
    given = {
        "title": title,
        "description": description,
        "completed": completed,
        "priority": priority,
        "due_date": due_date,
        "tags": tags,
        "recurrence": recurrence,
        "reminders": reminders,
    }
    sent = arguments_sent(ctx)
    data = TaskUpdate.model_validate({name: value for name, value in given.items() if name in sent})
    async with task_service(ctx) as tasks:
        changed = await tasks.update(task_id, data)
    return _changed_result(changed, "Updated ")


async def complete_task(
    ctx: Context[Any, Any],
    task_id: TaskId,
    completed: Annotated[
        bool | None,
        Field(description="true: mark done; false: mark not done; left out: toggle."),
    ] = None,
) -> TaskResult:
    """Mark a task done or not done (toggle when `completed` is left out) and return it.
    Completing a recurring task adds its next occurrence, once."""
    async with task_service(ctx) as tasks:
        changed = await tasks.set_completed(task_id, completed)
    return _changed_result(changed, "")


async def delete_task(
    ctx: Context[Any, Any], task_id: TaskId
) -> Annotated[CallToolResult, DeletedTask]:
    """Delete a task for good. Deleting a task that does not exist (or was already
    deleted) is an error saying it was not found."""
    async with task_service(ctx) as tasks:
        await tasks.delete(task_id)
    return deleted_result(task_id)


def _changed_result(changed: Changed, note: str) -> CallToolResult:
    if changed.next_occurrence_id is not None:
        note = f"{note}(next occurrence: task #{changed.next_occurrence_id}) "
    return task_result(changed.row, note)


_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
_DELETE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)


def register(server: MCPServer) -> None:
    """Add the six tools to `server`, each described by its docstring."""
    tools: list[tuple[Callable[..., Any], str, ToolAnnotations]] = [
        (add_task, "Add a task", _WRITE),
        (list_tasks, "List tasks", _READ),
        (get_task, "Get a task", _READ),
        (update_task, "Update a task", _IDEMPOTENT),
        (complete_task, "Complete a task", _WRITE),
        (delete_task, "Delete a task", _DELETE),
    ]
    for tool, title, hints in tools:
        description = inspect.getdoc(tool)
        server.add_tool(tool, title=title, description=description, annotations=hints)
