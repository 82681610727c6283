"""`/api/{user_id}/tasks`: the six task operations. Each handler is one service call."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Request, Response, status

from todo_api.api.deps import TaskServiceDep
from todo_api.api.media_type import json_body
from todo_api.api.paths import TaskIdPath, UserIdPath
from todo_api.api.problems import problem_responses
from todo_api.api.responses import json_response, task_dict, task_list_response, task_response
from todo_api.models import TaskCompletion, TaskCreate, TaskRead, TaskUpdate

router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    responses=problem_responses(401, 403, 503),
    dependencies=[Depends(json_body)],
)

_WITH_TASK_ID = problem_responses(404, 422)


@router.get(
    "",
    operation_id="listTasks",
    summary="List the user's tasks, newest first",
    response_model=list[TaskRead],
    responses=problem_responses(422),
)
async def list_tasks(request: Request, tasks: TaskServiceDep) -> Response:
    """Every task of the user as a bare JSON array, newest first; `[]` when there are none."""
    return await task_list_response(tasks.pages(), request.app.state.bulk_lane)


@router.post(
    "",
    operation_id="createTask",
    summary="Create a task",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskRead,
    responses={
        201: {
            "headers": {
                "Location": {"description": "URL of the new task", "schema": {"type": "string"}}
            }
        },
        **problem_responses(400, 408, 413, 415, 422),
    },
)
async def create_task(
    request: Request, user_id: UserIdPath, body: TaskCreate, tasks: TaskServiceDep
) -> Response:
    """Create a task for the user. The server sets `id`, `completed` and the timestamps."""
    task = task_dict(await tasks.create(body))
    location = request.app.url_path_for(
        "getTask", user_id=quote(user_id, safe=""), task_id=str(task["id"])
    )
    return json_response(task, status.HTTP_201_CREATED, {"Location": location})


@router.get(
    "/{task_id}",
    name="getTask",
    operation_id="getTask",
    summary="Get one task",
    response_model=TaskRead,
    responses=_WITH_TASK_ID,
)
async def get_task(task_id: TaskIdPath, tasks: TaskServiceDep) -> Response:
    """The task, or 404 when it does not exist or belongs to someone else."""
    return task_response(await tasks.get(task_id))


@router.put(
    "/{task_id}",
    operation_id="updateTask",
    summary="Update a task",
    response_model=TaskRead,
    responses=problem_responses(400, 404, 408, 413, 415, 422),
)
async def update_task(task_id: TaskIdPath, body: TaskUpdate, tasks: TaskServiceDep) -> Response:
    """Change the fields sent; fields left out keep their value, `description: null` clears."""
    return task_response(await tasks.update(task_id, body))


@router.delete(
    "/{task_id}",
    operation_id="deleteTask",
    summary="Delete a task",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_WITH_TASK_ID,
)
async def delete_task(task_id: TaskIdPath, tasks: TaskServiceDep) -> Response:
    """Delete the task; 204 with no body. Deleting it again is a 404."""
    await tasks.delete(task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/{task_id}/complete",
    operation_id="toggleTaskCompletion",
    summary="Toggle (or set) completion",
    response_model=TaskRead,
    responses=problem_responses(400, 404, 408, 413, 415, 422),
)
async def toggle_task_completion(
    task_id: TaskIdPath,
    tasks: TaskServiceDep,
    body: Annotated[TaskCompletion | None, Body()] = None,
) -> Response:
    """No body (or `{}`) flips `completed`; `{"completed": true|false}` sets it."""
    completed = body.completed if body is not None else None
    return task_response(await tasks.set_completed(task_id, completed))
