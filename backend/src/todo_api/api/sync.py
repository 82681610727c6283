"""`GET /api/{user_id}/tasks/changes`: the changes feed, for clients that keep a local copy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from todo_api.api.deps import TaskServiceDep
from todo_api.api.list_query import QueryParameters
from todo_api.api.paths import UserIdPath
from todo_api.api.problems import CALLER_FAILURES, responses_for
from todo_api.api.responses import json_response
from todo_api.errors import ExpiredSyncCursorError, InvalidInputError, InvalidSyncCursorError
from todo_api.models.changes import TaskChanges
from todo_api.models.tombstone import CURSOR_MAX_AGE_DAYS, TOMBSTONE_DAYS
from todo_api.services.lists.cursors import cursor_key
from todo_api.services.rendering import task_dict
from todo_api.services.sync.feed import changes_since

CHANGES_PAGE_MAX = 1000
CURSOR_MAX = 2000

CHANGES_DESCRIPTION = f"""Tasks created, written or deleted since the cursor `since`;
without it, every task (a first sync). Following the cursors never misses a change,
including one committed while the previous answer was being read; a task may come
again after a later change (apply it again: it is its current state).

While `has_more` is true, call again at once with the new cursor. Deletions are
remembered {TOMBSTONE_DAYS} days and a cursor is valid {CURSOR_MAX_AGE_DAYS} days;
an older one gets 410: sync again without `since` and replace the local copy.

A query parameter other than `since` and `limit` is a 422 naming it (`_`, a cache-buster,
is accepted and ignored)."""

_PARAMETERS = QueryParameters(("since", "limit"))


async def _known_parameters(request: Request) -> None:
    """A 422 for an unknown query parameter (a misspelled `since` would resync everything)."""
    _PARAMETERS.check(request.query_params)


router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    responses=responses_for(*CALLER_FAILURES),
)


@router.get(
    "/changes",
    operation_id="listTaskChanges",
    summary="What changed since a cursor (delta sync)",
    description=CHANGES_DESCRIPTION,
    response_model=TaskChanges,
    responses=responses_for(InvalidSyncCursorError, ExpiredSyncCursorError, InvalidInputError),
    dependencies=[Depends(_known_parameters)],
)
async def list_task_changes(
    request: Request,
    user_id: UserIdPath,
    tasks: TaskServiceDep,
    since: Annotated[
        str | None,
        Query(
            max_length=CURSOR_MAX,
            description="The `cursor` of the previous answer; absent: every task.",
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=CHANGES_PAGE_MAX, description="At most this many changes per answer."),
    ] = CHANGES_PAGE_MAX,
) -> Response:
    """The changes feed; its description is `CHANGES_DESCRIPTION`."""
    answer = await changes_since(tasks, await cursor_key(request.app.state), since, limit)
    return json_response(
        {
            "changed": [task_dict(row) for row in answer.changed],
            "deleted": answer.deleted,
            "cursor": answer.cursor,
            "has_more": answer.has_more,
        }
    )
