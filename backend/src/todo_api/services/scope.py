"""`UserTasks`: the only place task statements come from, each bound to one user.

The service never writes `select(Task)`, `update(Task)` or `delete(Task)` itself; it asks the
scope for a `Scoped` statement, whose SQL already filters on `tasks.user_id = :owner` and
whose parameters already carry the user. A new endpoint therefore cannot forget the user
filter: there is no unfiltered statement to start from, and a scoped statement executed
without its parameters fails instead of matching other users. A test checks that no other
module names a task table (`tests/unit/test_user_scope.py`).

The statements live in `services/statements/`, one module per job: the shared columns and
owner filter (`columns`), creates under the quotas (`creates`), writes to one task
(`writes`), lists, digests and tags (`lists`) and the changes feed (`changes`). They are
built once, at import (or once per shape), with bind parameters, so SQLAlchemy's compiled
cache hits (specs/001-backend-task-api/performance.md). `services/store.py` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from todo_api.models.task import DEFAULT_PRIORITY_LEVEL
from todo_api.services.lists.query import TaskListQuery
from todo_api.services.quotas import Quotas
from todo_api.services.statements.changes import (
    _changes,
)
from todo_api.services.statements.columns import (
    _GET,
    WRITABLE,
    TaskStatement,
)
from todo_api.services.statements.creates import (
    _INSERT,
    _INSERT_COUNTED,
    _INSERT_ONCE,
    _INSERT_ONCE_COUNTED,
    _KEY_RECORD,
    _QUOTA_STATE,
)
from todo_api.services.statements.lists import (
    _TAG_COUNTS,
    ListShape,
    _list,
    _list_digest,
    _list_params,
)
from todo_api.services.statements.writes import (
    _NEXT_OCCURRENCE,
    _NEXT_OCCURRENCE_ID,
    _delete,
    _toggle,
    _update,
)


@dataclass(frozen=True, slots=True)
class Scoped:
    """A task statement and the parameters that bind it to its user."""

    statement: TaskStatement
    params: Mapping[str, Any]


class UserTasks:
    """Statements over the tasks of one user."""

    def __init__(self, user_id: str, quotas: Quotas = Quotas()) -> None:  # noqa: B008  (frozen)
        self.user_id = user_id
        self.quotas = quotas

    def _scoped(self, statement: TaskStatement, **params: Any) -> Scoped:
        return Scoped(statement, {"owner": self.user_id, **params})

    def page(self, query: TaskListQuery, limit: int, after: tuple[Any, int] | None) -> Scoped:
        """Up to `limit` tasks matching `query`, in its order, after the position `after`
        ((sort key value, id) of the last task seen; None for the first page)."""
        params = _list_params(query, after)
        return self._scoped(_list(self._shape(query, after)), limit=limit, **params)

    @staticmethod
    def _shape(query: TaskListQuery, after: tuple[Any, int] | None) -> ListShape:
        return ListShape(
            status=query.status,
            priorities=bool(query.priority),
            tags=bool(query.tag),
            due_before=query.due_before is not None,
            due_after=query.due_after is not None,
            overdue=query.overdue,
            search=query.q is not None,
            search_spans_lines=query.q is not None and "\n" in query.q,
            sort=query.sort,
            direction=query.direction,
            after=after is not None,
        )

    def digest(
        self, query: TaskListQuery, limit: int | None, after: tuple[Any, int] | None
    ) -> Scoped:
        """The digest of (id, updated_at) of exactly the tasks `page` would return (every
        match when `limit` is None), in the same order: one row, one column."""
        params = _list_params(query, after)
        return self._scoped(_list_digest(self._shape(query, after)), limit=limit, **params)

    def changes(self, since: str | None, after_id: int | None, limit: int) -> Scoped:
        """Up to `limit` tasks written or deleted since the snapshot `since` (all tasks
        without it), by id after `after_id`; see `_changes`."""
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if after_id is not None:
            params["after_id"] = after_id
        return self._scoped(_changes(since is not None, after_id is not None), **params)

    def tag_counts(self) -> Scoped:
        """(tag, number of tasks) of every tag the user's tasks carry, by tag."""
        return self._scoped(_TAG_COUNTS)

    def get(self, task_id: int) -> Scoped:
        return self._scoped(_GET, task_id=task_id)

    def insert(
        self,
        columns: Mapping[str, Any],
        once: tuple[str, bytes] | None = None,
        *,
        counted: bool = True,
    ) -> Scoped:
        """A new task with the given column values (see `WRITABLE`; `completed` excluded).
        With `once` (an idempotency key and the request's fingerprint), the key is recorded
        with the task, and no task is made when the user has the key already (no row).
        `counted`: under the quotas, returning the counts after the task's columns (tasks,
        and keys for a keyed create); no row when the user is at a quota (`quota_state`)."""
        defaults = {"priority": DEFAULT_PRIORITY_LEVEL, "due_at": None, "due_all_day": False}
        values = {**defaults, "tags": [], "recurrence": None, "description": None, **columns}
        if once is None:
            if not counted:
                return self._scoped(_INSERT, **values)
            return self._scoped(_INSERT_COUNTED, max_tasks=self.quotas.max_tasks, **values)
        key, fingerprint = once
        if not counted:
            return self._scoped(_INSERT_ONCE, key=key, fingerprint=fingerprint, **values)
        return self._scoped(
            _INSERT_ONCE_COUNTED,
            key=key,
            fingerprint=fingerprint,
            max_tasks=self.quotas.max_tasks,
            max_keys=self.quotas.max_keys_per_day,
            **values,
        )

    def quota_state(self) -> Scoped:
        """(tasks full, keys of the last 24 hours full, seconds until a key leaves that
        window): why an insert under the quotas wrote nothing."""
        return self._scoped(
            _QUOTA_STATE, max_tasks=self.quotas.max_tasks, max_keys=self.quotas.max_keys_per_day
        )

    def key_record(self, key: str) -> Scoped:
        """(fingerprint, task_id) of the user's idempotency key `key`, if recorded."""
        return self._scoped(_KEY_RECORD, key=key)

    def next_occurrence(
        self, task_id: int, due_at: datetime, reminders: list[dict[str, str]]
    ) -> Scoped:
        """Insert the next occurrence of recurring task `task_id`, due at `due_at` with
        `reminders`, unless it has one already or the user is at MAX_TASKS_PER_USER (then no
        row comes back)."""
        return self._scoped(
            _NEXT_OCCURRENCE,
            task_id=task_id,
            next_due_at=due_at,
            next_reminders=reminders,
            max_tasks=self.quotas.max_tasks,
        )

    def next_occurrence_id(self, task_id: int) -> Scoped:
        """The id of the task created when `task_id` was completed, if any."""
        return self._scoped(_NEXT_OCCURRENCE_ID, task_id=task_id)

    def update(
        self,
        task_id: int,
        changes: Mapping[str, Any],
        *,
        unless_recurring: bool = False,
        versions: Sequence[datetime] | None = None,
    ) -> Scoped:
        """Set the given columns (a subset of `WRITABLE`) and touch `updated_at`; with
        `unless_recurring`, only when the stored task has no recurrence; with `versions`,
        only when its `updated_at` is one of them."""
        columns = tuple(name for name in WRITABLE if name in changes)
        if not columns or len(columns) != len(changes):
            raise ValueError(f"changes must be a non-empty subset of {WRITABLE}")
        values = {f"new_{name}": changes[name] for name in columns}
        statement = _update(columns, unless_recurring, versions is not None)
        return self._versioned(statement, versions, task_id=task_id, **values)

    def toggle(
        self,
        task_id: int,
        *,
        unless_recurring: bool = False,
        versions: Sequence[datetime] | None = None,
    ) -> Scoped:
        """Flip `completed` in the database (`completed = NOT completed`): no lost toggles.
        With `unless_recurring`, a pending recurring task is left alone (no row comes back):
        completing it needs the transaction that creates its next occurrence. With
        `versions`, only a task at one of those versions."""
        statement = _toggle(unless_recurring, versions is not None)
        return self._versioned(statement, versions, task_id=task_id)

    def delete(self, task_id: int, versions: Sequence[datetime] | None = None) -> Scoped:
        """Delete the task (leaving a tombstone); with `versions`, only at one of them."""
        return self._versioned(_delete(versions is not None), versions, task_id=task_id)

    def _versioned(
        self, statement: TaskStatement, versions: Sequence[datetime] | None, **params: Any
    ) -> Scoped:
        if versions is not None:
            params["versions"] = list(versions)
        return self._scoped(statement, **params)
