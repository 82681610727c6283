"""`UserTasks`: the only place task statements begin, each already limited to one user.

The service never writes `select(Task)`, `update(Task)` or `delete(Task)` itself; it asks the
scope, which adds `tasks.user_id = :user_id` before anything else can be chained. A new
endpoint therefore cannot forget the user filter: there is no unfiltered statement to start
from. A test checks that no other module of the service layer builds task statements.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, delete, func, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert, ReturningUpdate
from sqlmodel import col
from sqlmodel.sql.expression import Select

from todo_api.models import Task, User

# The columns of a task, in wire order. Selecting columns (not ORM objects) keeps the hot
# path free of identity-map bookkeeping; the router serializes these rows as they come.
TASK_FIELDS = ("id", "user_id", "title", "description", "completed", "created_at", "updated_at")
TASK_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(getattr(Task, name) for name in TASK_FIELDS)

# Statement types returning task rows (column tuples of any length).
TaskSelect: TypeAlias = Select[*tuple[Any, ...]]
TaskUpdate: TypeAlias = ReturningUpdate[*tuple[Any, ...]]
TaskDelete: TypeAlias = ReturningDelete[*tuple[Any, ...]]
TaskInsert: TypeAlias = ReturningInsert[*tuple[Any, ...]]

# Newest first; `id` breaks ties between tasks created in the same microsecond.
_ONE_MICROSECOND = timedelta(microseconds=1)

NEWEST_FIRST = (col(Task.created_at).desc(), col(Task.id).desc())


class UserTasks:
    """Statements over the tasks of one user."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id

    @property
    def _owned(self) -> ColumnElement[bool]:
        return col(Task.user_id) == self.user_id

    def select(self) -> TaskSelect:
        """SELECT the task columns of this user's tasks."""
        # sqlmodel's `select()` is typed for at most four columns; its class takes any number.
        return Select(*TASK_COLUMNS).where(self._owned)

    def update(self, task_id: int) -> TaskUpdate:
        """UPDATE one task of this user; bumps `updated_at` so it always moves forward."""
        return (
            update(Task)
            .where(self._owned, col(Task.id) == task_id)
            .values(
                updated_at=func.greatest(
                    func.clock_timestamp(), col(Task.updated_at) + _ONE_MICROSECOND
                )
            )
            .returning(*TASK_COLUMNS)
        )

    def delete(self, task_id: int) -> TaskDelete:
        """DELETE one task of this user, returning its id when it existed."""
        return delete(Task).where(self._owned, col(Task.id) == task_id).returning(col(Task.id))

    def insert(self, values: dict[str, Any]) -> TaskInsert:
        """INSERT a task for this user, creating the user row in the same statement.

        The user row is upserted in a CTE, so a user's first write needs no extra round trip,
        and concurrent first writes cannot fail: ON CONFLICT waits for the other insert.
        """
        ensure_user = pg_insert(User).values(id=self.user_id).on_conflict_do_nothing()
        return (
            insert(Task)
            .values(user_id=self.user_id, **values)
            .add_cte(ensure_user.cte("ensure_user"))
            .returning(*TASK_COLUMNS)
        )
