"""Task use cases of one user: list, tags, create, get, update, complete and delete.

Nearly every use case is one SQL statement, atomic on its own (see database/engine.py): there
is no read-modify-write window in which a concurrent request could lose an update. The one
exception is completing a recurring task, which also creates the next occurrence: both
happen in one transaction, and the unique `previous_occurrence_id` makes a second next
occurrence impossible whatever the interleaving. Rows come back as `TaskRow`s (read by name;
their columns in `TASK_FIELDS` order), which the transports serialize without re-validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeAlias

from sqlalchemy import Row

from todo_api.database.runner import Database
from todo_api.errors import (
    ApiError,
    IdempotencyKeyBusyError,
    KeyQuotaError,
    TaskNotFoundError,
    TaskQuotaError,
)
from todo_api.models import TaskCreate, TaskUpdate
from todo_api.models.columns import column_values
from todo_api.services.conditional import not_written
from todo_api.services.idempotency import KeyedCreate
from todo_api.services.quotas import Quotas
from todo_api.services.recurrence import Changed as Changed  # what a write returns
from todo_api.services.recurrence import check_stored_due, complete
from todo_api.services.scope import Scoped, UserTasks
from todo_api.services.statements.columns import TASK_FIELDS, TaskTuple
from todo_api.services.statements.columns import TaskRow as TaskRow  # what the service returns
from todo_api.services.store import TaskStore

# A versions condition (`If-Match`): the task is written only at one of these `updated_at`s.
Versions: TypeAlias = Sequence[datetime] | None


class Created(NamedTuple):
    row: TaskRow
    replayed: bool
    """The idempotency key had created this task before: nothing was created now."""


class TaskService:
    """The tasks of the user the service was built for; nobody else's are reachable."""

    def __init__(
        self,
        database: Database,
        user_id: str,
        quotas: Quotas = Quotas(),  # noqa: B008  (frozen)
    ) -> None:
        self._store = TaskStore(database)
        self._tasks = UserTasks(user_id, quotas)
        self.user_id = user_id

    @property
    def store(self) -> TaskStore:
        """What runs the user's statements, for the features' own modules (lists, sync)."""
        return self._store

    @property
    def scope(self) -> UserTasks:
        """The user's statements, for the features' own modules (lists, sync)."""
        return self._tasks

    async def tag_counts(self) -> Sequence[Row[Any]]:
        """(`tag`, `tasks`: the number carrying it) for each of the user's tags, by tag."""
        return await self._rows(self._tasks.tag_counts())

    async def get(self, task_id: int) -> TaskRow:
        return self._found(await self._rows(self._tasks.get(task_id)), task_id)

    async def create(self, data: TaskCreate, idempotency_key: str | None = None) -> Created:
        """Create the task, under the quotas. With an idempotency key, at most once per key:
        a repeat returns the task the key created (`replayed`; the rule is
        services/idempotency.py)."""
        values = column_values(data.model_dump())
        quotas, user_id = self._tasks.quotas, self.user_id
        counted = quotas.checks.due(user_id, keyed=idempotency_key is not None)
        if idempotency_key is None:
            rows = await self._rows(self._tasks.insert(values, counted=counted))
            if not rows:  # the only reason: MAX_TASKS_PER_USER
                quotas.checks.refused(user_id)
                raise TaskQuotaError(quotas.max_tasks)
            if not counted:
                return Created(rows[0], replayed=False)
            row = rows[0]
            quotas.checks.counted(user_id, quotas.max_tasks - row.tasks_held - 1)
            return Created(_task_of(row), replayed=False)
        keyed = KeyedCreate(self._store, self._tasks, idempotency_key, values)
        new = await keyed.insert(counted=counted)
        if new is not None and not counted:
            return Created(new, replayed=False)
        if new is not None:
            quotas.checks.counted(
                user_id,
                quotas.max_tasks - new.tasks_held - 1,
                quotas.max_keys_per_day - new.keys_held - 1,
            )
            return Created(_task_of(new), replayed=False)
        replayed = await keyed.replay()
        if replayed is None:  # a quota, or the key expired and was removed in between
            await self._check_quotas()
            raise IdempotencyKeyBusyError
        return Created(replayed, replayed=True)

    async def update(self, task_id: int, data: TaskUpdate, versions: Versions = None) -> Changed:
        """Write the fields sent; sending `completed: true` completes the task (see below).
        With `versions`, only if the task is at one of them (else TaskChangedError)."""
        changes = column_values(data.changes())
        if data.recurrence is not None and "due_date" not in data.model_fields_set:
            await check_stored_due(self._store, self._tasks, task_id, data.recurrence)
        scoped = self._tasks.update(task_id, changes, versions=versions)
        if not data.completed or ("recurrence" in changes and changes["recurrence"] is None):
            return Changed(await self._written(await self._rows(scoped), task_id, versions), None)
        if "recurrence" in changes:  # completed and given a recurrence in one request
            return await self._complete(scoped, task_id, versions)
        plain = self._tasks.update(task_id, changes, unless_recurring=True, versions=versions)
        return await self._complete(scoped, task_id, versions, plain)

    async def set_completed(
        self, task_id: int, completed: bool | None, versions: Versions = None
    ) -> Changed:
        """Set `completed`, or flip it when `completed` is None; with `versions`, only if the
        task is at one of them.

        The flip is computed by the database, so concurrent toggles serialize on the row lock
        and none is lost.
        """
        tasks = self._tasks
        if completed is None:
            plain = tasks.toggle(task_id, unless_recurring=True, versions=versions)
            scoped = tasks.toggle(task_id, versions=versions)
            return await self._complete(scoped, task_id, versions, plain)
        scoped = tasks.update(task_id, {"completed": completed}, versions=versions)
        if completed:
            plain = tasks.update(
                task_id, {"completed": True}, unless_recurring=True, versions=versions
            )
            return await self._complete(scoped, task_id, versions, plain)
        return Changed(await self._written(await self._rows(scoped), task_id, versions), None)

    async def delete(self, task_id: int, versions: Versions = None) -> None:
        """Delete the task (its tombstone tells the changes feed); with `versions`, only if
        it is at one of them."""
        await self._written(
            await self._rows(self._tasks.delete(task_id, versions)), task_id, versions
        )

    async def _complete(
        self, scoped: Scoped, task_id: int, versions: Versions, plain: Scoped | None = None
    ) -> Changed:
        """`scoped`, which may complete a recurring task (services/recurrence.py `complete`;
        `plain`: the same change that leaves recurring tasks alone, tried first)."""
        try:
            return await complete(self._store, self._tasks, scoped, task_id, plain)
        except TaskNotFoundError:
            if versions is None:
                raise
            raise await self._not_written(task_id) from None

    async def _check_quotas(self) -> None:
        """Raise the quota error a keyed create that wrote nothing ran into, if any."""
        (state,) = await self._rows(self._tasks.quota_state())
        quotas = self._tasks.quotas
        if state.tasks_full or state.keys_full:
            quotas.checks.refused(self.user_id)
        if state.tasks_full:
            raise TaskQuotaError(quotas.max_tasks)
        if state.keys_full:
            raise KeyQuotaError(quotas.max_keys_per_day, max(1, int(state.key_frees_in or 1)))

    async def _rows(self, scoped: Scoped) -> Sequence[Row[Any]]:
        """Run one statement within the database deadline (see `Database.rows`)."""
        return await self._store.rows(scoped)

    @staticmethod
    def _found(rows: Sequence[TaskRow], task_id: int) -> TaskRow:
        if not rows:
            raise TaskNotFoundError(task_id)
        return rows[0]

    async def _written(self, rows: Sequence[TaskRow], task_id: int, versions: Versions) -> TaskRow:
        """The row a write returned; when none came back, why (see `_not_written`)."""
        if rows:
            return rows[0]
        if versions is None:
            raise TaskNotFoundError(task_id)
        raise await self._not_written(task_id)

    async def _not_written(self, task_id: int) -> ApiError:
        """Why a write conditioned on versions changed nothing (services/conditional.py)."""
        return await not_written(self._store, self._tasks, task_id)


_TASK_COLUMNS = len(TASK_FIELDS)


def _task_of(row: Row[Any]) -> TaskTuple:
    """The task's columns of a create's row that has the quota counts after them."""
    return TaskTuple._make(row[:_TASK_COLUMNS])
