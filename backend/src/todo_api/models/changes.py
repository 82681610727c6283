"""The answer of the changes feed (`GET /api/{user_id}/tasks/changes`)."""

from __future__ import annotations

from pydantic import BaseModel

from todo_api.models.task import TaskRead


class TaskChanges(BaseModel):
    """What changed since a cursor: apply `changed` (insert or replace by id) and `deleted`
    (remove by id) to the local copy, then keep `cursor` for the next call."""

    changed: list[TaskRead]
    """Tasks created or written since the cursor, as they are now, by id."""
    deleted: list[int]
    """Ids of tasks deleted since the cursor (possibly some the client never saw)."""
    cursor: str
    """Where the next call continues: pass it as `since`."""
    has_more: bool
    """The answer was cut at `limit`: call again with `cursor` at once for the rest."""
