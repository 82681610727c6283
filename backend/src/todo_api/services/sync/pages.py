"""One page of the changes feed, read in one statement (so one snapshot): the tasks written and
deleted since a snapshot, by id (services/statements/changes.py builds the statement)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from todo_api.database.errors import RefusedValueError
from todo_api.services.statements.changes import CHANGED_TASK, CHANGES_FIELDS
from todo_api.services.tasks import TaskService

# Where a changes row holds what every row of the feed is asked (an index, not a Row's
# attribute: a page has up to a thousand rows).
_CHANGE_ID, _DELETED = CHANGES_FIELDS.index("id"), CHANGES_FIELDS.index("deleted")


class UnknownSnapshotError(LookupError):
    """A changes cursor names transactions this database never had (it was taken from
    another database, or a backup was restored since)."""


class ChangesPage(NamedTuple):
    snapshot: str
    """The snapshot the page was read in (`pg_current_snapshot()` as text)."""
    at: datetime
    """When it was read (the database's clock)."""
    changed: Sequence[Sequence[Any]]
    """The tasks' columns, in TASK_FIELDS order (to render, see services/rendering.py)."""
    deleted: Sequence[int]
    last_id: int | None
    """The id the next page continues after, None on the last page."""


async def read_changes(
    tasks: TaskService, since: str | None, after_id: int | None, limit: int
) -> ChangesPage:
    """Up to `limit` tasks written or deleted since the snapshot `since` (every task
    without it), by id after `after_id`, all read in one snapshot."""
    try:
        rows = await tasks.store.rows(tasks.scope.changes(since, after_id, limit + 1))
    except RefusedValueError:  # PostgreSQL refuses a snapshot of transactions it never had
        raise UnknownSnapshotError from None
    point = rows[0]
    items = [row for row in rows if row[_CHANGE_ID] is not None]
    last_id = None
    if len(items) > limit:
        items = items[:limit]
        last_id = items[-1].id
    changed = [row[CHANGED_TASK] for row in items if not row[_DELETED]]
    deleted = [row[_CHANGE_ID] for row in items if row[_DELETED]]
    return ChangesPage(point.snapshot, point.at, changed, deleted, last_id)
