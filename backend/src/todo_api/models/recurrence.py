"""Recurrence rules of tasks: validation, normalization and the next due date.

A rule is one of the presets `daily`, `weekly`, `monthly`, `yearly`, or an RFC 5545 `RRULE`
value (`FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE`, with or without the `RRULE:` prefix). dateutil's
rrule parses and expands them; this module only decides which rules a todo list accepts.

The next occurrence is always computed from the current due date (the rule's DTSTART is the
task's deadline), strictly after it:
- Presets add a calendar step with dateutil's relativedelta, which clamps to the end of a
  shorter month: `monthly` from Jan 31 gives Feb 28 (Feb 29 in a leap year), and the series
  then continues from that day (Mar 28). `yearly` from Feb 29 gives Feb 28.
- RRULEs follow RFC 5545: `FREQ=MONTHLY` from the 31st skips months without a 31st. "The last
  day of every month" is `FREQ=MONTHLY;BYMONTHDAY=-1`.
- Date-time deadlines recur in UTC (the API keeps no time zone), date deadlines by date.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr
from pydantic import AfterValidator, StringConstraints, WithJsonSchema

RECURRENCE_MAX = 200
PRESETS: dict[str, relativedelta] = {
    "daily": relativedelta(days=1),
    "weekly": relativedelta(weeks=1),
    "monthly": relativedelta(months=1),
    "yearly": relativedelta(years=1),
}
# The RRULE grammar a task's rule may use, as one pattern (also the JSON Schema of the field).
# COUNT and UNTIL are left out: the rule restarts from each occurrence, so a count has
# nothing to count; clearing `recurrence` ends a series. Sub-daily frequencies make no sense
# for a todo list and could expand without bound.
_DAY = "(MO|TU|WE|TH|FR|SA|SU)"
_PARTS = {
    "BYDAY": f"([+-]?[1-5])?{_DAY}",
    "BYMONTHDAY": "-?([1-9]|[12][0-9]|3[01])",
    "BYMONTH": "([1-9]|1[0-2])",
    "BYSETPOS": "-?([1-9]|[1-9][0-9]|[12][0-9][0-9]|3[0-5][0-9]|36[0-6])",
}
RRULE_PATTERN = (
    "^(daily|weekly|monthly|yearly|(RRULE:)?FREQ=(DAILY|WEEKLY|MONTHLY|YEARLY)("
    + "|".join(f";{name}={value}(,{value})*" for name, value in _PARTS.items())
    + f"|;INTERVAL=[1-9][0-9]?|;WKST={_DAY})*)$"
)
_RRULE = re.compile(RRULE_PATTERN)
_UNITS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}
# A rule's next occurrence is looked for this far ahead (at least twice its own step); one
# that has none by then (say, "the 300th day of each month") ends the series. The bound
# is what `_BoundedRule` holds the search of dateutil to.
HORIZON = timedelta(days=366 * 10)
_PROBE = datetime(2000, 1, 1)


def _rule(text: str, start: datetime) -> rrule:
    parsed = rrulestr(text, dtstart=start)
    assert isinstance(parsed, rrule)  # a single RRULE value never parses to a set
    return parsed


def normalize_recurrence(value: str) -> str:
    """The canonical spelling of a rule (a preset, or the RRULE as dateutil writes it,
    without the `RRULE:` prefix); ValueError saying what is wrong."""
    if value in PRESETS:
        return value
    if not _RRULE.fullmatch(value):
        raise ValueError(
            "must be daily, weekly, monthly, yearly or an RRULE such as "
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE (FREQ=DAILY|WEEKLY|MONTHLY|YEARLY and the parts "
            "INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, BYSETPOS, WKST; no COUNT or UNTIL)"
        )
    try:
        rule = _rule(value.removeprefix("RRULE:"), _PROBE)
    except (ValueError, TypeError, KeyError, IndexError):
        raise ValueError(f"{value!r} is not a valid RRULE") from None
    return str(rule).partition("RRULE:")[2]


class _SearchTooLongError(Exception):
    """The rule went through more months than its horizon holds without an occurrence."""


class _BoundedRule(rrule):
    """An rrule whose search gives up after `months` months.

    dateutil checks UNTIL only against dates that match, and otherwise walks period after
    period up to the year 9999: a rule that never matches (`FREQ=DAILY;BYSETPOS=-15`, the
    30th of February) took 9-12 s of CPU, on the event loop. Its iteration rebuilds its
    month tables once per month (once per period for MONTHLY and YEARLY, so at least once
    a month), reading `_byeaster` each time: that read is counted here.
    """

    def __init__(self, *, months: int, **kwargs: Any) -> None:
        self._months_left = months
        super().__init__(**kwargs)

    @property
    def _byeaster(self) -> Any:
        self._months_left -= 1
        if self._months_left < 0:
            raise _SearchTooLongError
        return self._easter

    @_byeaster.setter
    def _byeaster(self, value: Any) -> None:
        self._easter = value


def _after(text: str, start: datetime) -> datetime | None:
    """The rule's first occurrence after `start` within the horizon, or None."""
    parts = dict(part.partition("=")[::2] for part in text.split(";"))
    step = _UNITS[parts["FREQ"]] * int(parts.get("INTERVAL", "1"))
    horizon = max(HORIZON, timedelta(days=2 * step))
    # dateutil keeps a parsed rule's settings in private attributes (as `rrule.replace` reads
    # them): the bounded copy is made from those.
    parsed: Any = _rule(text, start)
    try:
        rule = _BoundedRule(
            months=horizon.days // 28 + 2,
            freq=parsed._freq,
            dtstart=start,
            interval=parsed._interval,
            wkst=parsed._wkst,
            until=start + horizon,
            **parsed._original_rule,
        )
        return next((occurrence for occurrence in rule if occurrence > start), None)
    except OverflowError:  # a start near year 9999: nothing comes after it
        return None
    except _SearchTooLongError:
        return None


def next_due(due: date | datetime, recurrence: str) -> date | datetime | None:
    """The deadline of the occurrence after the one due at `due` (None past year 9999).

    `due` is a date for all-day tasks and an aware UTC date-time otherwise; the result has
    the same kind.
    """
    all_day = not isinstance(due, datetime)
    if isinstance(due, datetime):
        start = due.astimezone(UTC).replace(tzinfo=None)
    else:
        start = datetime.combine(due, time())
    try:
        if recurrence in PRESETS:
            following: datetime | None = start + PRESETS[recurrence]
        else:
            following = _after(recurrence, start)
    except (OverflowError, ValueError):
        return None
    if following is None:
        return None
    return following.date() if all_day else following.replace(tzinfo=UTC)


Recurrence = Annotated[
    str,
    StringConstraints(min_length=1, max_length=RECURRENCE_MAX, strict=True),
    AfterValidator(normalize_recurrence),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": RECURRENCE_MAX,
            "pattern": RRULE_PATTERN,
            "description": (
                "`daily`, `weekly`, `monthly`, `yearly`, or an RFC 5545 RRULE such as "
                "`FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE` (FREQ DAILY to YEARLY; no COUNT or "
                "UNTIL), read back normalized. Needs a `due_date`. Completing the task creates "
                "its next occurrence."
            ),
        }
    ),
]
