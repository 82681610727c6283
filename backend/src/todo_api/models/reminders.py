"""The `reminders` field of a task: what a reminder may be, checked like every other field.

A task has at most `REMINDERS_MAX` reminders, each one of:
- `{"before": "PT15M"}`: an ISO 8601 duration before the due date (an all-day due date counts
  back from 09:00 in the user's time zone). Days (0-30), hours (0-23), minutes and seconds
  (0-59), or weeks (0-4) alone: at most 30 days, each part below its next unit, so the
  contract's pattern is the whole rule. It needs a due date.
- `{"at": "2026-12-08T09:00:00+01:00"}`: an instant with an offset, read back in UTC (`Z`).
Duplicates are dropped (the first is kept), as tags are. The database keeps when each fires
(migration 0006, see reminders/).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from todo_api.models.fields import parse_due

REMINDERS_MAX = 5
_DAYS = "(?:[12]?[0-9])D"
_HOURS = "(?:[01]?[0-9]|2[0-3])H"
_MINUTES = "[0-5]?[0-9]M"
_SECONDS = "[0-5]?[0-9]S"
_CLOCK = f"T(?:{_HOURS}(?:{_MINUTES})?(?:{_SECONDS})?|{_MINUTES}(?:{_SECONDS})?|{_SECONDS})"
BEFORE_PATTERN = f"^P(?:{_DAYS}(?:{_CLOCK})?|{_CLOCK}|30D|[0-4]W)$"
_BEFORE = re.compile(BEFORE_PATTERN)

REMINDERS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": REMINDERS_MAX,
    "items": {
        "oneOf": [
            {
                "type": "object",
                "properties": {"before": {"type": "string", "pattern": BEFORE_PATTERN}},
                "required": ["before"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"at": {"type": "string", "format": "date-time"}},
                "required": ["at"],
                "additionalProperties": False,
            },
        ]
    },
    "description": (
        'Up to 5 reminders: `{"before": "PT15M"}` (an ISO 8601 duration of at most 30 '
        "days before the due date; an all-day due date counts back from 09:00 in the user's "
        'time zone; needs a due date) or `{"at": "2026-12-08T09:00:00Z"}` (an instant '
        "with an offset). Each fires once, as a `reminder.due` event."
    ),
    "examples": [[{"before": "PT15M"}, {"at": "2026-12-08T09:00:00Z"}]],
}


def parse_reminders(value: object) -> list[dict[str, str]]:
    """The reminders as stored and rendered (instants in UTC with `Z`, duplicates dropped);
    ValueError, saying which one and why, for anything else."""
    if not isinstance(value, list):
        raise ValueError("must be a list of reminders")
    if len(value) > REMINDERS_MAX:
        raise ValueError(f"at most {REMINDERS_MAX} reminders")
    reminders: list[dict[str, str]] = []
    for index, item in enumerate(value):
        reminder = _reminder(item, index)
        if reminder not in reminders:
            reminders.append(reminder)
    return reminders


def _reminder(item: object, index: int) -> dict[str, str]:
    where = f"reminder {index + 1}"
    if not isinstance(item, dict) or len(item) != 1 or not ({"before", "at"} & item.keys()):
        raise ValueError(f'{where}: must be {{"before": "<duration>"}} or {{"at": "<instant>"}}')
    ((key, raw),) = item.items()
    if not isinstance(raw, str):
        raise ValueError(f"{where}: {key} must be a string")
    if key == "before":
        if not _BEFORE.fullmatch(raw):
            raise ValueError(
                f"{where}: before must be an ISO 8601 duration of at most 30 days, each part "
                "below its next unit (PT15M, PT1H30M, P1D, P1W)"
            )
        return {"before": raw}
    instant = parse_due(raw)
    if not isinstance(instant, datetime):
        raise ValueError(f"{where}: at must be a date-time with an offset, not a date")
    return {"at": instant_text(instant)}


def instant_text(instant: datetime) -> str:
    """An `at` as stored and rendered: UTC, with `Z`."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def has_relative(reminders: list[dict[str, str]] | None) -> bool:
    """Whether any reminder counts from the due date (and so needs one)."""
    return any("before" in reminder for reminder in reminders or ())


Reminders = Annotated[
    list[dict[str, str]], PlainValidator(parse_reminders), WithJsonSchema(REMINDERS_SCHEMA)
]
