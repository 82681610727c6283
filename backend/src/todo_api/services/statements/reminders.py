"""A user's upcoming reminders (the plan of migration 0006, joined with the tasks' titles),
in firing order, a keyset page at a time; and the user's time zone, read and set."""

from __future__ import annotations

from typing import Any

from sqlalchemy import DateTime, Integer, Text, bindparam, func, select, tuple_, update
from sqlmodel import col

from todo_api.models import Task, TaskReminder, User
from todo_api.services.statements.columns import _OWNED, _OWNER, ACTING

_BEFORE = bindparam("before", type_=DateTime(timezone=True))
_AFTER_AT = bindparam("after_at", type_=DateTime(timezone=True))
_AFTER_ID = bindparam("after_id", type_=Integer)
_LIMIT = bindparam("limit", type_=Integer)
_ZONE = bindparam("time_zone", type_=Text)

_UPCOMING = (
    select(
        col(TaskReminder.task_id),
        col(Task.title),
        col(TaskReminder.fire_at),
        col(TaskReminder.reminder),
    )
    .join(Task, col(Task.id) == col(TaskReminder.task_id))
    .where(ACTING, col(TaskReminder.user_id) == _OWNER, _OWNED, col(TaskReminder.fire_at) < _BEFORE)
    .order_by(col(TaskReminder.fire_at), col(TaskReminder.task_id))
    .limit(_LIMIT)
)
_UPCOMING_AFTER = _UPCOMING.where(
    tuple_(col(TaskReminder.fire_at), col(TaskReminder.task_id)) > tuple_(_AFTER_AT, _AFTER_ID)
)


def upcoming(after: bool) -> Any:
    """The page statement: the first page, or the page after (`after_at`, `after_id`)."""
    return _UPCOMING_AFTER if after else _UPCOMING


TIME_ZONE = select(col(User.time_zone)).where(ACTING, col(User.id) == _OWNER)
# PostgreSQL computes the plan in the zone, so it must know it: an unknown one is refused
# (SQLSTATE 22023) by this statement alone, before anything is written.
ZONE_KNOWN = select(func.timezone(_ZONE, func.now()))
# A new zone moves the user's planned all-day reminders (a trigger of migration 0006). It takes
# the locks in the writers' order (migration 0006): first the all-day tasks (FOR KEY SHARE, in
# id order, in an InitPlan, so before the row update), then the user row, then the plan's rows.
# Taking the user row first deadlocked with a deletion of one of those tasks: the deletion
# held the task and waited for the user row; the replan held the user row and waited for the
# task (the foreign key of its new plan rows).
_ALL_DAY_HELD = (
    select(func.count())
    .select_from(
        select(col(Task.id))
        .where(_OWNED, col(Task.due_all_day))
        .order_by(col(Task.id))
        .with_for_update(read=True, key_share=True)
        .subquery()
    )
    .scalar_subquery()
)
SET_TIME_ZONE = (
    update(User)
    .where(ACTING, col(User.id) == _OWNER, _ALL_DAY_HELD >= 0)
    .values(time_zone=_ZONE)
    .returning(col(User.time_zone))
)
