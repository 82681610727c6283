"""Task use cases of one user: list, create, get, update, toggle and delete.

Each use case is one SQL statement, atomic on its own (see database/engine.py): there is no
read-modify-write window in which a concurrent request could lose an update. Rows come back
as `TaskRow`s (column tuples in `TASK_FIELDS` order), which the API layer serializes without
re-validation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeAlias

from todo_api.database.runner import Database
from todo_api.models import TaskCreate, TaskUpdate
from todo_api.services.scope import TASK_FIELDS, Scoped, UserTasks

# A task as the columns of `TASK_FIELDS`, in that order (a SQLAlchemy Row at run time).
TaskRow: TypeAlias = Sequence[Any]

# Lists are read in pages of this many rows (keyset pagination on created_at, id), so memory
# stays bounded and no single step holds the event loop for long, whatever the list's size.
PAGE_SIZE = 1000
_CREATED_AT, _ID = TASK_FIELDS.index("created_at"), TASK_FIELDS.index("id")


class TaskNotFoundError(LookupError):
    """The task does not exist or belongs to another user (indistinguishable on purpose)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


class TaskService:
    """The tasks of the user the service was built for; nobody else's are reachable."""

    def __init__(self, database: Database, user_id: str) -> None:
        self._database = database
        self._tasks = UserTasks(user_id)

    async def pages(self, page_size: int = PAGE_SIZE) -> AsyncIterator[Sequence[TaskRow]]:
        """All of the user's tasks, newest first, as non-empty pages (no silent cap).

        Each page is its own statement: tasks created while a long list is being read are
        newer than the pages still to come, so none appears twice or out of order.
        """
        scoped = self._tasks.first_page(page_size)
        while True:
            rows = await self._rows(scoped)
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            last = rows[-1]
            scoped = self._tasks.next_page((last[_CREATED_AT], last[_ID]), page_size)

    async def get(self, task_id: int) -> TaskRow:
        return self._found(await self._rows(self._tasks.get(task_id)), task_id)

    async def create(self, data: TaskCreate) -> TaskRow:
        (row,) = await self._rows(self._tasks.insert(data.title, data.description))
        return row

    async def update(self, task_id: int, data: TaskUpdate) -> TaskRow:
        return self._found(await self._rows(self._tasks.update(task_id, data.changes())), task_id)

    async def set_completed(self, task_id: int, completed: bool | None) -> TaskRow:
        """Set `completed`, or flip it when `completed` is None.

        The flip is computed by the database, so concurrent toggles serialize on the row lock
        and none is lost.
        """
        if completed is None:
            scoped = self._tasks.toggle(task_id)
        else:
            scoped = self._tasks.update(task_id, {"completed": completed})
        return self._found(await self._rows(scoped), task_id)

    async def delete(self, task_id: int) -> None:
        self._found(await self._rows(self._tasks.delete(task_id)), task_id)

    async def _rows(self, scoped: Scoped) -> Sequence[TaskRow]:
        """Run one statement within the database deadline (see `Database.rows`)."""
        return await self._database.rows(scoped.statement, scoped.params)

    @staticmethod
    def _found(rows: Sequence[TaskRow], task_id: int) -> TaskRow:
        if not rows:
            raise TaskNotFoundError(task_id)
        return rows[0]
