"""The changes feed: what a user's tasks went through since a snapshot."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    and_,
    bindparam,
    cast,
    false,
    func,
    not_,
    null,
    true,
    union_all,
)
from sqlmodel import col
from sqlmodel.sql.expression import Select

from todo_api.models import Task, TaskTombstone
from todo_api.models.xid8 import PgSnapshot
from todo_api.services.statements.columns import (
    _OWNED,
    _OWNER,
    _PAGE_LIMIT,
    ACTING,
    TASK_COLUMNS,
    TASK_FIELDS,
    TaskSelect,
)

# --- The changes feed ----------------------------------------------------------------------

# A sync cursor holds a snapshot (`pg_current_snapshot()` as text). "Changed since" is "written
# by a transaction that snapshot did not see": that includes a transaction that was still
# running when the snapshot was taken and committed later, which a timestamp would miss.
# Transactions older than the snapshot's xmin were all seen, so the index range starts there.
_SINCE = cast(bindparam("since", type_=Text), PgSnapshot())
_AFTER_ID = bindparam("after_id", type_=BigInteger)
# The columns of a changes row (see `_changes`), and where the task's own sit among them.
CHANGES_FIELDS = ("snapshot", "at", *TASK_FIELDS, "deleted")
CHANGED_TASK = slice(CHANGES_FIELDS.index("id"), CHANGES_FIELDS.index("deleted"))


def _written_since(xid: Any) -> ColumnElement[bool]:
    return and_(
        xid >= func.pg_snapshot_xmin(_SINCE), not_(func.pg_visible_in_snapshot(xid, _SINCE))
    )


@lru_cache(maxsize=4)
def _changes(since: bool, after: bool) -> TaskSelect:
    """One page of the changes feed, in one statement (so one snapshot): the snapshot itself
    and the time (the next cursor), then up to `limit` tasks written and tasks deleted since
    the `since` snapshot (everything alive without one), by id, after `after_id`.

    Rows: CHANGES_FIELDS (the snapshot, its time, the task, whether it was deleted); a
    deleted task has only id and user_id, and a page without changes is one row of the first
    two columns and nulls."""
    changed: TaskSelect = Select(*TASK_COLUMNS, false().label("deleted")).where(_OWNED)
    if after:
        changed = changed.where(col(Task.id) > _AFTER_ID)
    if not since:
        page = changed.subquery("page")
    else:
        deleted: TaskSelect = Select(
            col(TaskTombstone.task_id).label("id"),
            col(TaskTombstone.user_id),
            *(null() for _ in TASK_FIELDS[2:]),
            true().label("deleted"),
        ).where(col(TaskTombstone.user_id) == _OWNER, _written_since(col(TaskTombstone.change_xid)))
        if after:
            deleted = deleted.where(col(TaskTombstone.task_id) > _AFTER_ID)
        changed = changed.where(_written_since(col(Task.change_xid)))
        page = union_all(changed, deleted).subquery("page")
    page_rows = Select(page).order_by(page.c.id).limit(_PAGE_LIMIT).subquery("page_rows")
    point = Select(
        cast(func.pg_current_snapshot(), Text).label("snapshot"), func.now().label("at")
    ).subquery("sync_point")
    return (
        Select(point, page_rows)
        .select_from(point.outerjoin(page_rows, true()))
        .where(ACTING)
        .order_by(page_rows.c.id)
    )
