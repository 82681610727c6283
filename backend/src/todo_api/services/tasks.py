"""Task use cases of one user: list, tags, create, get, update, complete and delete.

Nearly every use case is one SQL statement, atomic on its own (see database/engine.py): there
is no read-modify-write window in which a concurrent request could lose an update. The one
exception is completing a recurring task, which also creates the next occurrence: both
happen in one transaction, and the unique `previous_occurrence_id` makes a second next
occurrence impossible whatever the interleaving. Rows come back as `TaskRow`s (column
tuples in `TASK_FIELDS` order), which the API layer serializes without re-validation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple, TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection

from todo_api.database.runner import Database
from todo_api.models import TaskCreate, TaskUpdate
from todo_api.models.columns import column_values, due_instant, due_value
from todo_api.models.recurrence import next_due
from todo_api.models.task_query import TaskListQuery
from todo_api.services.scope import TASK_FIELDS, Scoped, UserTasks, sort_position

# A task as the columns of `TASK_FIELDS`, in that order (a SQLAlchemy Row at run time).
TaskRow: TypeAlias = Sequence[Any]

# Lists are read in pages of this many rows (keyset pagination in the list's own order), so
# memory stays bounded and no single step holds the event loop for long, whatever the size.
PAGE_SIZE = 1000
_COMPLETED, _DUE_AT, _ALL_DAY, _RECURRENCE = (
    TASK_FIELDS.index(name) for name in ("completed", "due_at", "due_all_day", "recurrence")
)


class TaskNotFoundError(LookupError):
    """The task does not exist or belongs to another user (indistinguishable on purpose)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


class Page(NamedTuple):
    rows: Sequence[TaskRow]
    next_after: tuple[Any, int] | None
    """Where the next page starts ((sort key, id) of the last row), None on the last page."""


class Changed(NamedTuple):
    row: TaskRow
    next_occurrence_id: int | None
    """The task that completing this recurring one created (or had created before)."""


class TaskService:
    """The tasks of the user the service was built for; nobody else's are reachable."""

    def __init__(self, database: Database, user_id: str) -> None:
        self._database = database
        self._tasks = UserTasks(user_id)

    async def pages(
        self,
        query: TaskListQuery,
        after: tuple[Any, int] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[Sequence[TaskRow]]:
        """Every task matching `query` (after the position `after`), in its order, as
        non-empty pages (no silent cap).

        Each page is its own statement starting after the last row of the one before, so a
        task created or deleted meanwhile never makes another appear twice.
        """
        while True:
            rows = await self._rows(self._tasks.page(query, page_size, after))
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            after = sort_position(rows[-1], query.sort)

    async def page(
        self, query: TaskListQuery, limit: int, after: tuple[Any, int] | None = None
    ) -> Page:
        """At most `limit` tasks matching `query` after the position `after`."""
        rows = await self._rows(self._tasks.page(query, limit + 1, after))
        if len(rows) <= limit:
            return Page(rows, None)
        rows = rows[:limit]
        return Page(rows, sort_position(rows[-1], query.sort))

    async def tag_counts(self) -> Sequence[TaskRow]:
        """(tag, number of tasks carrying it) for each of the user's tags, by tag."""
        return await self._rows(self._tasks.tag_counts())

    async def get(self, task_id: int) -> TaskRow:
        return self._found(await self._rows(self._tasks.get(task_id)), task_id)

    async def create(self, data: TaskCreate) -> TaskRow:
        (row,) = await self._rows(self._tasks.insert(column_values(data.model_dump())))
        return row

    async def update(self, task_id: int, data: TaskUpdate) -> Changed:
        """Write the fields sent; sending `completed: true` completes the task (see below)."""
        changes = column_values(data.changes())
        scoped = self._tasks.update(task_id, changes)
        if not data.completed or ("recurrence" in changes and changes["recurrence"] is None):
            return Changed(self._found(await self._rows(scoped), task_id), None)
        if "recurrence" in changes:  # completed and given a recurrence in one request
            return await self._complete(scoped, task_id)
        plain = self._tasks.update(task_id, changes, unless_recurring=True)
        return await self._complete(scoped, task_id, plain)

    async def set_completed(self, task_id: int, completed: bool | None) -> Changed:
        """Set `completed`, or flip it when `completed` is None.

        The flip is computed by the database, so concurrent toggles serialize on the row lock
        and none is lost.
        """
        if completed is None:
            plain = self._tasks.toggle(task_id, unless_recurring=True)
            return await self._complete(self._tasks.toggle(task_id), task_id, plain)
        scoped = self._tasks.update(task_id, {"completed": completed})
        if completed:
            plain = self._tasks.update(task_id, {"completed": True}, unless_recurring=True)
            return await self._complete(scoped, task_id, plain)
        return Changed(self._found(await self._rows(scoped), task_id), None)

    async def delete(self, task_id: int) -> None:
        self._found(await self._rows(self._tasks.delete(task_id)), task_id)

    async def _complete(self, scoped: Scoped, task_id: int, plain: Scoped | None = None) -> Changed:
        """Run `scoped` (which may complete the task) and, when it leaves a recurring task
        completed, create its next occurrence, in one transaction.

        `plain` is the same change guarded to leave recurring tasks alone: tried first, as
        one autocommit statement, it spares most completions the transaction's BEGIN and
        COMMIT round trips. When it changes no row (a recurring task, or none at all), the
        transaction decides.
        """
        if plain is not None:
            rows = await self._rows(plain)
            if rows:
                return Changed(rows[0], None)

        async def work(connection: AsyncConnection) -> Changed:
            row = self._found(
                (await connection.execute(scoped.statement, scoped.params)).all(), task_id
            )
            if not row[_COMPLETED] or row[_RECURRENCE] is None:
                return Changed(row, None)
            due = due_value(row[_DUE_AT], row[_ALL_DAY])  # never None: a CHECK sees to it
            following = next_due(due, row[_RECURRENCE]) if due is not None else None
            if following is None:  # the rule has no further occurrence: the series ends
                return Changed(row, None)
            for step in (
                self._tasks.next_occurrence(task_id, due_instant(following)),
                self._tasks.next_occurrence_id(task_id),  # created by an earlier completion
            ):
                created = (await connection.execute(step.statement, step.params)).first()
                if created is not None:
                    return Changed(row, created[0])
            return Changed(row, None)

        return await self._database.transaction(work)

    async def _rows(self, scoped: Scoped) -> Sequence[TaskRow]:
        """Run one statement within the database deadline (see `Database.rows`)."""
        return await self._database.rows(scoped.statement, scoped.params)

    @staticmethod
    def _found(rows: Sequence[TaskRow], task_id: int) -> TaskRow:
        if not rows:
            raise TaskNotFoundError(task_id)
        return rows[0]
