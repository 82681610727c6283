"""Task use cases of one user: list, create, get, update, toggle and delete.

Each use case is one SQL statement, atomic on its own (see database/engine.py): there is no
read-modify-write window in which a concurrent request could lose an update. Rows come back
as `TaskRow`s (plain column tuples), which the API layer serializes without re-validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from sqlalchemy import not_
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.models import Task, TaskCreate, TaskUpdate
from todo_api.services.scope import NEWEST_FIRST, UserTasks

# A task as the columns of `TASK_FIELDS`, in that order (a SQLAlchemy Row at run time).
TaskRow: TypeAlias = Sequence[Any]


class TaskNotFoundError(LookupError):
    """The task does not exist or belongs to another user (indistinguishable on purpose)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


class TaskService:
    """The tasks of the user the service was built for; nobody else's are reachable."""

    def __init__(self, session: AsyncSession, user_id: str) -> None:
        self._session = session
        self._tasks = UserTasks(user_id)

    async def list(self) -> Sequence[TaskRow]:
        """All of the user's tasks, newest first (no silent cap)."""
        result = await self._session.exec(self._tasks.select().order_by(*NEWEST_FIRST))
        return result.all()

    async def get(self, task_id: int) -> TaskRow:
        result = await self._session.exec(self._tasks.select().where(col(Task.id) == task_id))
        return self._found(result.first(), task_id)

    async def create(self, data: TaskCreate) -> TaskRow:
        result = await self._session.exec(self._tasks.insert(data.model_dump()))
        return result.one()

    async def update(self, task_id: int, data: TaskUpdate) -> TaskRow:
        statement = self._tasks.update(task_id).values(**data.changes())
        return self._found((await self._session.exec(statement)).first(), task_id)

    async def set_completed(self, task_id: int, completed: bool | None) -> TaskRow:
        """Set `completed`, or flip it when `completed` is None.

        The flip is computed by the database (`completed = NOT completed`), so concurrent
        toggles serialize on the row lock and none is lost.
        """
        value = not_(col(Task.completed)) if completed is None else completed
        statement = self._tasks.update(task_id).values(completed=value)
        return self._found((await self._session.exec(statement)).first(), task_id)

    async def delete(self, task_id: int) -> None:
        result = await self._session.exec(self._tasks.delete(task_id))
        self._found(result.first(), task_id)

    @staticmethod
    def _found(row: TaskRow | None, task_id: int) -> TaskRow:
        if row is None:
            raise TaskNotFoundError(task_id)
        return row
