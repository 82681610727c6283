"""`/api/{user_id}/tasks`: the six task operations. Each handler is one service call."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Request, Response, status

from todo_api.api.deps import TaskServiceDep
from todo_api.api.etags import ETAG_HEADER, NOT_MODIFIED, not_modified
from todo_api.api.headers import (
    IDEMPOTENCY_KEY,
    IF_MATCH,
    IF_NONE_MATCH,
    idempotency_key,
    if_match,
    if_none_match,
)
from todo_api.api.links import NEXT_OCCURRENCE_HEADER, NEXT_PAGE_HEADER, link, with_cursor
from todo_api.api.list_query import ListQuery, list_parameters
from todo_api.api.media_type import json_body
from todo_api.api.paths import TASK_ID, TaskIdPath, UserIdPath
from todo_api.api.problems import BODY_FAILURES, CALLER_FAILURES, responses_for
from todo_api.api.responses import json_response, task_list_response, task_response
from todo_api.errors import (
    ConflictError,
    ForbiddenUserError,
    IdempotencyKeyBusyError,
    IdempotencyKeyReusedError,
    InvalidCursorError,
    InvalidInputError,
    KeyQuotaError,
    RecurrenceNeverRecursError,
    ReplayedTaskDeletedError,
    TaskChangedError,
    TaskNotFoundError,
    TaskQuotaError,
)
from todo_api.models import TaskCompletion, TaskCreate, TaskRead, TaskUpdate
from todo_api.services.conditional import (
    list_etag,
    none_match,
    rows_digest,
    task_etag_of,
    versions_of,
)
from todo_api.services.lists.cursors import cursor_key, decode_cursor, encode_cursor
from todo_api.services.lists.pages import answer_digest, read_page
from todo_api.services.rendering import task_dict
from todo_api.services.tasks import Changed

router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    responses=responses_for(*CALLER_FAILURES),
)

# On the routes that take a body only: a dependency costs its resolution on every request.
_JSON_BODY = [Depends(json_body)]
_WITH_TASK_ID = (TaskNotFoundError, InvalidInputError)
# A write that can create a task (a create, or completing a recurring task): the quota's 403
# joins the caller's.
_QUOTA = (ForbiddenUserError, TaskQuotaError)
_ETAG = {"headers": ETAG_HEADER}


@router.get(
    "",
    operation_id="listTasks",
    summary="List the user's tasks: filter, sort, search, page",
    response_model=list[TaskRead],
    responses={
        200: {"headers": {**NEXT_PAGE_HEADER, **ETAG_HEADER}},
        **NOT_MODIFIED,
        **responses_for(InvalidCursorError, InvalidInputError),
    },
    openapi_extra={"parameters": [*list_parameters(), IF_NONE_MATCH]},
)
async def list_tasks(
    request: Request, user_id: UserIdPath, query: ListQuery, tasks: TaskServiceDep
) -> Response:
    """The user's tasks as a bare JSON array (`[]` when none match), newest first unless
    `sort`/`order` say otherwise. Filters combine with AND. With `limit`, at most that many
    and a `Link: <url>; rel="next"` header while more remain; without it, every match.

    The weak `ETag` identifies this exact answer; sent back in `If-None-Match`, it gets a
    304 with no body while the answer is unchanged.

    A query parameter not listed here is a 422 naming it (and the one probably meant), except
    `_`, a cache-buster some fetch wrappers add, which is accepted and ignored."""
    after = None
    if query.cursor:
        after = decode_cursor(await cursor_key(request.app.state), user_id, query, query.cursor)

    def etag(digest: str) -> str:
        return list_etag(user_id, query, digest)

    digest = None
    conditional = if_none_match(request)
    if conditional is not None:
        digest = await answer_digest(tasks, query, after)
        if none_match(conditional, etag(digest)):
            return not_modified(etag(digest))
    if query.limit is None:
        state = request.app.state
        return await task_list_response(
            tasks, query, after, etag, state.bulk_lane, state.long_lists, digest
        )
    page = await read_page(tasks, query, query.limit, after)
    headers = {"ETag": etag(rows_digest(page.read))}
    if page.next_after is not None:
        key = await cursor_key(request.app.state)
        cursor = encode_cursor(key, user_id, query, page.next_after)
        headers["Link"] = link(with_cursor(request.scope, query, cursor), "next")
    return json_response([task_dict(row) for row in page.rows], headers=headers)


@router.post(
    "",
    operation_id="createTask",
    dependencies=_JSON_BODY,
    summary="Create a task",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskRead,
    responses={
        201: {
            "headers": {
                "Location": {"description": "URL of the new task", "schema": {"type": "string"}},
                **ETAG_HEADER,
                "Idempotent-Replayed": {
                    "description": "`true` when an Idempotency-Key repeat created nothing.",
                    "schema": {"type": "string", "enum": ["true"]},
                },
            }
        },
        **responses_for(
            *BODY_FAILURES,
            *_QUOTA,
            ReplayedTaskDeletedError,
            ConflictError,
            IdempotencyKeyBusyError,
            IdempotencyKeyReusedError,
            KeyQuotaError,
        ),
    },
    openapi_extra={"parameters": [IDEMPOTENCY_KEY]},
)
async def create_task(
    request: Request, user_id: UserIdPath, body: TaskCreate, tasks: TaskServiceDep
) -> Response:
    """Create a task for the user. The server sets `id`, `completed` and the timestamps.

    With `Idempotency-Key`, a repeat of the request creates nothing (see the header); 404
    when the task the key created has since been deleted."""
    created = await tasks.create(body, idempotency_key(request))
    headers = {"Location": _task_path(request, user_id, created.row.id)}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return task_response(created.row, status.HTTP_201_CREATED, headers)


@router.get(
    f"/{TASK_ID}",
    name="getTask",
    operation_id="getTask",
    summary="Get one task",
    response_model=TaskRead,
    responses={200: _ETAG, **NOT_MODIFIED, **responses_for(*_WITH_TASK_ID)},
    openapi_extra={"parameters": [IF_NONE_MATCH]},
)
async def get_task(request: Request, task_id: TaskIdPath, tasks: TaskServiceDep) -> Response:
    """The task, or 404 when it does not exist or belongs to someone else. 304 with no
    body when `If-None-Match` holds its current `ETag`."""
    row = await tasks.get(task_id)
    etag = task_etag_of(row)
    if none_match(if_none_match(request), etag):
        return not_modified(etag)
    return task_response(row)


@router.put(
    f"/{TASK_ID}",
    operation_id="updateTask",
    dependencies=_JSON_BODY,
    summary="Update a task",
    response_model=TaskRead,
    responses={
        200: {"headers": {**NEXT_OCCURRENCE_HEADER, **ETAG_HEADER}},
        **responses_for(
            *BODY_FAILURES,
            *_QUOTA,
            TaskNotFoundError,
            ConflictError,
            TaskChangedError,
            RecurrenceNeverRecursError,
        ),
    },
    openapi_extra={"parameters": [IF_MATCH]},
)
async def update_task(
    request: Request,
    user_id: UserIdPath,
    task_id: TaskIdPath,
    body: TaskUpdate,
    tasks: TaskServiceDep,
) -> Response:
    """Change the fields sent; fields left out keep their value, `null` clears `description`,
    `due_date` and `recurrence`, `[]` clears `tags`. `completed: true` on a recurring task
    creates its next occurrence, as `PATCH .../complete` does. With `If-Match`, 412 when the
    task has changed since."""
    changed = await tasks.update(task_id, body, versions_of(if_match(request)))
    return _changed_response(request, user_id, changed)


@router.delete(
    f"/{TASK_ID}",
    operation_id="deleteTask",
    summary="Delete a task",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses_for(*_WITH_TASK_ID, TaskChangedError),
    openapi_extra={"parameters": [IF_MATCH]},
)
async def delete_task(request: Request, task_id: TaskIdPath, tasks: TaskServiceDep) -> Response:
    """Delete the task; 204 with no body. Deleting it again is a 404. With `If-Match`, 412
    when the task has changed since."""
    await tasks.delete(task_id, versions_of(if_match(request)))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    f"/{TASK_ID}/complete",
    operation_id="toggleTaskCompletion",
    dependencies=_JSON_BODY,
    summary="Toggle (or set) completion",
    response_model=TaskRead,
    responses={
        200: {"headers": {**NEXT_OCCURRENCE_HEADER, **ETAG_HEADER}},
        **responses_for(*BODY_FAILURES, *_QUOTA, TaskNotFoundError, TaskChangedError),
    },
    openapi_extra={"parameters": [IF_MATCH]},
)
async def toggle_task_completion(
    request: Request,
    user_id: UserIdPath,
    task_id: TaskIdPath,
    tasks: TaskServiceDep,
    body: Annotated[TaskCompletion | None, Body()] = None,
) -> Response:
    """No body (or `{}`) flips `completed`; `{"completed": true|false}` sets it.

    Completing a recurring task creates its next occurrence (same fields, the rule's next
    `due_date`) once: completing it again, after un-completing it or concurrently, creates
    no second one. The response is the completed task; a `Link` header with
    `rel="next-occurrence"` names the next one. With `If-Match`, 412 when the task has
    changed since."""
    completed = body.completed if body is not None else None
    changed = await tasks.set_completed(task_id, completed, versions_of(if_match(request)))
    return _changed_response(request, user_id, changed)


def _changed_response(request: Request, user_id: str, changed: Changed) -> Response:
    headers = {}
    if changed.next_occurrence_id is not None:
        path = _task_path(request, user_id, changed.next_occurrence_id)
        headers["Link"] = link(path, "next-occurrence")
    return task_response(changed.row, headers=headers)


def _task_path(request: Request, user_id: str, task_id: int) -> str:
    return str(
        request.app.url_path_for("getTask", user_id=quote(user_id, safe=""), task_id=str(task_id))
    )
