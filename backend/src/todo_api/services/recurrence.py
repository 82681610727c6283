"""Recurring tasks: completing one creates its next occurrence, once.

The date rule (which rules are accepted, the next due date) is models/recurrence.py; this
module holds what the service does with it, for every transport. Completing a recurring task
and creating its next occurrence (same fields, the rule's next `due_date`) happen in one
transaction; the unique `previous_occurrence_id` makes a second next occurrence impossible
whatever the interleaving (completing again, after un-completing, or concurrently, creates
none). Without room under MAX_TASKS_PER_USER, the completion is rolled back with it. A rule
sent without a due date is checked against the stored one (`check_stored_due`). The
statements are services/statements/writes.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from todo_api.errors import RecurrenceNeverRecursError, TaskNotFoundError, TaskQuotaError
from todo_api.models.columns import due_instant, due_value
from todo_api.models.recurrence import next_due, recurrence_problem
from todo_api.models.reminders import instant_text
from todo_api.services.scope import Scoped, UserTasks
from todo_api.services.statements.columns import TaskRow
from todo_api.services.store import StoreTransaction, TaskStore


class Changed(NamedTuple):
    row: TaskRow
    next_occurrence_id: int | None
    """The task that completing this recurring one created (or had created before)."""


async def check_stored_due(
    store: TaskStore, tasks: UserTasks, task_id: int, recurrence: str
) -> None:
    """Refuse a rule sent without a due date when it has no occurrence after the stored
    one (TaskUpdate checks it against a due date in the same body). A task without a
    due date is left to the CHECK (409), a missing one to the update (404)."""
    rows = await store.rows(tasks.get(task_id))
    due = due_value(rows[0].due_at, rows[0].due_all_day) if rows else None
    problem = recurrence_problem(due, recurrence) if due is not None else None
    if problem is not None:
        raise RecurrenceNeverRecursError(problem)


async def complete(
    store: TaskStore, tasks: UserTasks, scoped: Scoped, task_id: int, plain: Scoped | None
) -> Changed:
    """Run `scoped` (which may complete the task) and, when it leaves a recurring task
    completed, create its next occurrence, in one transaction; TaskNotFoundError when no
    task was written.

    `plain` is the same change guarded to leave recurring tasks alone: tried first, as
    one autocommit statement, it spares most completions the transaction's BEGIN and
    COMMIT round trips. When it changes no row (a recurring task, or none at all), the
    transaction decides.
    """
    if plain is not None:
        rows = await store.rows(plain)
        if rows:
            return Changed(rows[0], None)

    async def work(transaction: StoreTransaction) -> Changed:
        rows = await transaction.rows(scoped)
        if not rows:
            raise TaskNotFoundError(task_id)
        row = rows[0]
        if not row.completed or row.recurrence is None:
            return Changed(row, None)
        due = due_value(row.due_at, row.due_all_day)  # never None: a CHECK sees to it
        following = next_due(due, row.recurrence) if due is not None else None
        if following is None:  # the rule has no further occurrence: the series ends
            return Changed(row, None)
        next_due_at = due_instant(following)
        reminders = following_reminders(row.reminders, next_due_at - row.due_at)
        for step in (
            tasks.next_occurrence(task_id, next_due_at, reminders),
            tasks.next_occurrence_id(task_id),  # created by an earlier completion
        ):
            created = await transaction.first(step)
            if created is not None:
                return Changed(row, created.id)
        # No room for the next occurrence: the completion is rolled back with it, else
        # completing over and over would grow the user past the quota.
        raise TaskQuotaError(tasks.quotas.max_tasks)

    return await store.in_transaction(work)


def following_reminders(reminders: list[dict[str, str]], shift: timedelta) -> list[dict[str, str]]:
    """The next occurrence's reminders: the same, relative to its own due date. Relative
    ones (`before`) follow the due date by themselves; an absolute one (`at`) moves by as
    much as the due date did."""
    moved = []
    for reminder in reminders:
        at = reminder.get("at")
        if at is None:
            moved.append(reminder)
        else:
            instant = datetime.fromisoformat(at) + shift
            moved.append({"at": instant_text(instant)})
    return moved
