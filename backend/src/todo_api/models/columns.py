"""How the wire's task fields are stored: the one place that maps one to the other.

- `priority` is a name on the wire and its position in `PRIORITIES` (from 1) in the table,
  so sorting by priority is sorting small integers.
- `due_date` is a date or a UTC date-time on the wire and two columns in the table:
  `due_at`, the instant the deadline passes, and `due_all_day`. A date-only deadline is due
  by the end of that day in UTC, stored as the day's last microsecond (23:59:59.999999Z):
  every comparison (sorting, `due_before`/`due_after`, overdue) then treats both kinds alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from todo_api.models.fields import PRIORITIES

_END_OF_DAY = time.max.replace(tzinfo=UTC)


def priority_level(name: str) -> int:
    return PRIORITIES.index(name) + 1


def due_instant(due: date | datetime) -> datetime:
    """The instant a deadline passes: a date-time itself, the end of a date's day (UTC)."""
    if isinstance(due, datetime):
        return due
    return datetime.combine(due, _END_OF_DAY)


def due_columns(due: date | datetime | None) -> tuple[datetime | None, bool]:
    """`(due_at, due_all_day)` for a wire `due_date`."""
    if due is None:
        return None, False
    return due_instant(due), not isinstance(due, datetime)


def due_value(due_at: datetime | None, all_day: bool) -> date | datetime | None:
    """The wire `due_date` of the two columns: a date stays a date."""
    if due_at is None or not all_day:
        return due_at
    return due_at.astimezone(UTC).date()


def column_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The column values for the given wire fields of a task (only those given)."""
    columns = dict(fields)
    if "priority" in columns:
        columns["priority"] = priority_level(columns["priority"])
    if "due_date" in columns:
        columns["due_at"], columns["due_all_day"] = due_columns(columns.pop("due_date"))
    return columns
