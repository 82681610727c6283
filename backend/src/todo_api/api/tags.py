"""`GET /api/{user_id}/tags`: the user's tags and how many tasks carry each."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from todo_api.api.deps import TaskServiceDep
from todo_api.api.problems import CALLER_FAILURES, responses_for
from todo_api.api.responses import json_response
from todo_api.errors import InvalidInputError

router = APIRouter(prefix="/api/{user_id}/tags", tags=["tasks"])


class TagCount(BaseModel):
    tag: str
    count: int


@router.get(
    "",
    operation_id="listTags",
    summary="List the user's tags with their task counts",
    response_model=list[TagCount],
    responses=responses_for(*CALLER_FAILURES, InvalidInputError),
)
async def list_tags(tasks: TaskServiceDep) -> Response:
    """Every tag on the user's tasks, spelled as stored, with the number of tasks carrying
    it, ordered by tag (code point order); `[]` when no task has a tag. For filter menus:
    pass a tag back as `tag=` to the list."""
    rows = await tasks.tag_counts()
    return json_response([{"tag": row.tag, "count": row.tasks} for row in rows])
