"""Writes to one task: toggle, update, delete (leaving a tombstone), and the next
occurrence of a recurring task."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import (
    DateTime,
    bindparam,
    delete,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col
from sqlmodel.sql.expression import Select

from todo_api.models import Task, TaskTombstone
from todo_api.services.statements.columns import (
    _AT_VERSION,
    _OWNED,
    _TASK_ID,
    _THIS_TASK,
    _TOUCH,
    _TYPES,
    ACTING,
    TASK_COLUMNS,
    TaskInsert,
    TaskSelect,
    TaskUpdate,
)
from todo_api.services.statements.creates import (
    _ROOM_FOR_TASK,
)

_TOGGLE: TaskUpdate = (
    update(Task)
    .where(ACTING, _OWNED, _THIS_TASK)
    .values(completed=not_(col(Task.completed)), **_TOUCH)
    .returning(*TASK_COLUMNS)
)
# Completions that cannot create a next occurrence, as one autocommit statement: the guards
# leave a recurring task that would become completed alone (no row: take the transaction).
_NOT_RECURRING = col(Task.recurrence).is_(None)
_TOGGLE_UNLESS_RECURRING: TaskUpdate = _TOGGLE.where(or_(_NOT_RECURRING, col(Task.completed)))


@lru_cache(maxsize=4)
def _toggle(unless_recurring: bool, if_match: bool) -> TaskUpdate:
    statement = _TOGGLE_UNLESS_RECURRING if unless_recurring else _TOGGLE
    return statement.where(_AT_VERSION) if if_match else statement


@lru_cache(maxsize=2)
def _delete(if_match: bool) -> TaskInsert:
    """DELETE of one task that leaves a tombstone (for the changes feed), in one statement."""
    deleted = delete(Task).where(_OWNED, _THIS_TASK)
    if if_match:
        deleted = deleted.where(_AT_VERSION)
    gone = deleted.returning(col(Task.id), col(Task.user_id)).cte("deleted")
    return (
        insert(TaskTombstone)
        .add_cte(gone)
        .from_select(["task_id", "user_id"], select(gone.c.id, gone.c.user_id).where(ACTING))
        .returning(col(TaskTombstone.task_id))
    )


# The next occurrence of a recurring task: a copy of it with the next deadline, created at
# most once per task (ON CONFLICT on the unique `previous_occurrence_id`), and only while
# the user has room for another task.
_COPIED = ("title", "description", "priority", "tags", "recurrence", "due_all_day")
_NEXT_OCCURRENCE: TaskInsert = (
    pg_insert(Task)
    .from_select(
        ["user_id", *_COPIED, "due_at", "reminders", "previous_occurrence_id"],
        select(
            col(Task.user_id),
            *(getattr(Task, name) for name in _COPIED),
            bindparam("next_due_at", type_=DateTime(timezone=True)),
            # Moved with the due date (services/recurrence.py `following_reminders`).
            bindparam("next_reminders", type_=JSONB),
            col(Task.id),
        ).where(ACTING, _OWNED, _THIS_TASK, _ROOM_FOR_TASK),
    )
    .on_conflict_do_nothing(index_elements=["previous_occurrence_id"])
    .returning(col(Task.id))
)
_NEXT_OCCURRENCE_ID: TaskSelect = Select(col(Task.id)).where(
    ACTING, _OWNED, col(Task.previous_occurrence_id) == _TASK_ID
)


@lru_cache(maxsize=512)
def _update(columns: tuple[str, ...], unless_recurring: bool, if_match: bool) -> TaskUpdate:
    """UPDATE of exactly `columns` (one statement per combination, built on first use),
    optionally only of a task without a recurrence, optionally only at given versions."""
    assignments: dict[str, Any] = {
        name: bindparam(f"new_{name}", type_=_TYPES[name]) for name in columns
    }
    statement = (
        update(Task).where(ACTING, _OWNED, _THIS_TASK).values(**assignments, **_TOUCH)
    ).returning(*TASK_COLUMNS)
    if unless_recurring:
        statement = statement.where(_NOT_RECURRING)
    return statement.where(_AT_VERSION) if if_match else statement
