"""Recurrence rules of tasks: validation, normalization and the next due date.

A rule is one of the presets `daily`, `weekly`, `monthly`, `yearly`, or an RFC 5545 `RRULE`
value (`FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE`, with or without the `RRULE:` prefix). RRULEs
are expanded here, with the meaning dateutil's rrule gives them, by arithmetic on day numbers
over at most the horizon's days: dateutil itself walks period after period up to the year
9999 for a rule that never matches, and re-scans a period once per BYSETPOS value, so one
rule could hold the event loop for a long time per completion (see performance.md).

The next occurrence is always computed from the current due date (the rule's DTSTART is the
task's deadline), strictly after it:
- Presets add a calendar step with dateutil's relativedelta, which clamps to the end of a
  shorter month: `monthly` from Jan 31 gives Feb 28 (Feb 29 in a leap year), and the series
  then continues from that day (Mar 28). `yearly` from Feb 29 gives Feb 28.
- RRULEs follow RFC 5545: `FREQ=MONTHLY` from the 31st skips months without a 31st. "The last
  day of every month" is `FREQ=MONTHLY;BYMONTHDAY=-1`.
- Date-time deadlines recur in UTC (the API keeps no time zone), date deadlines by date.
- A rule with no occurrence within `HORIZON` of the due date it is set with is refused then
  (`recurrence_problem`); a series that later meets such a gap (or the year 9999) ends.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Annotated

from dateutil.relativedelta import relativedelta
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
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_UNITS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}
_PERIOD_DAYS = _UNITS  # the most days one period's set can hold (what BYSETPOS counts in)
# A rule's next occurrence is looked for this far ahead (at least twice its own step); one
# that has none by then ends the series. Setting a rule that has none from its due date is
# refused, so this only ends series that ran into a long gap or the year 9999.
HORIZON = timedelta(days=366 * 10)
_LAST_YEAR = 9999
_LAST_DAY = date(_LAST_YEAR, 12, 31).toordinal()


@dataclass(frozen=True, slots=True)
class _Parts:
    """A parsed RRULE with each BY* list deduplicated and sorted."""

    freq: str
    interval: int
    months: tuple[int, ...]
    monthdays: tuple[int, ...]
    weekdays: tuple[int, ...]
    nth: tuple[tuple[int, int], ...]  # (ordinal, weekday): "the 2nd Monday" is (2, 0)
    setpos: tuple[int, ...]
    wkst: int


def _parse(text: str) -> _Parts:
    """The parts of a rule the pattern accepted, in the meaning dateutil gives them."""
    fields: dict[str, str] = dict(part.partition("=")[::2] for part in text.split(";"))
    freq = fields["FREQ"]
    weekdays: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for day in filter(None, fields.get("BYDAY", "").split(",")):
        weekday = _WEEKDAYS.index(day[-2:])
        # dateutil reads an ordinal only in monthly and yearly rules, as RFC 5545 allows
        if day[:-2] and freq in ("MONTHLY", "YEARLY"):
            nth.add((int(day[:-2]), weekday))
        else:
            weekdays.add(weekday)

    def numbers(name: str) -> tuple[int, ...]:
        return tuple(sorted({int(value) for value in fields.get(name, "").split(",") if value}))

    size = _PERIOD_DAYS[freq]
    setpos = tuple(pos for pos in numbers("BYSETPOS") if -size <= pos <= size)
    if len(setpos) < len(numbers("BYSETPOS")) and not setpos:
        setpos = (size + 1,)  # picks nothing: the one spelling of a rule that never recurs
    elif freq == "DAILY" and setpos:
        setpos = ()  # a day's set holds one date: the first is the last, the only one
    return _Parts(
        freq=freq,
        interval=int(fields.get("INTERVAL", "1")),
        months=numbers("BYMONTH"),
        monthdays=numbers("BYMONTHDAY"),
        weekdays=tuple(sorted(weekdays)),
        nth=tuple(sorted(nth)),
        setpos=setpos,
        wkst=_WEEKDAYS.index(fields.get("WKST", "MO")) if freq == "WEEKLY" else 0,
    )


def _spell(parts: _Parts) -> str:
    """The compact canonical text of a rule: never longer than any spelling of it."""
    words = [f"FREQ={parts.freq}"]
    if parts.interval != 1:
        words.append(f"INTERVAL={parts.interval}")
    if parts.wkst:
        words.append(f"WKST={_WEEKDAYS[parts.wkst]}")
    for name, values in (
        ("BYSETPOS", parts.setpos),
        ("BYMONTH", parts.months),
        ("BYMONTHDAY", parts.monthdays),
    ):
        if values:
            words.append(f"{name}={','.join(map(str, values))}")
    days = [_WEEKDAYS[day] for day in parts.weekdays]
    days += [f"{n}{_WEEKDAYS[day]}" for n, day in parts.nth]
    if days:
        words.append(f"BYDAY={','.join(days)}")
    return ";".join(words)


@dataclass(frozen=True, slots=True)
class _Filters:
    """The day filters of a rule from one start, with dateutil's defaults filled in: a rule
    that names no day repeats the start's (weekday, day of the month, month)."""

    freq: str
    months: frozenset[int]
    monthdays: tuple[int, ...]
    weekdays: frozenset[int]
    nth: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, parts: _Parts, start: date) -> _Filters:
        months, monthdays, weekdays = parts.months, parts.monthdays, parts.weekdays
        if not (monthdays or weekdays or parts.nth):
            if parts.freq == "YEARLY":
                months = months or (start.month,)
                monthdays = (start.day,)
            elif parts.freq == "MONTHLY":
                monthdays = (start.day,)
            elif parts.freq == "WEEKLY":
                weekdays = (start.weekday(),)
        return cls(parts.freq, frozenset(months), monthdays, frozenset(weekdays), parts.nth)

    def _nth(self, first: int, last: int) -> frozenset[int]:
        """The days in [first, last] (ordinals) that are the n-th weekday the rule names."""
        chosen = set()
        for n, weekday in self.nth:
            if n > 0:
                day = first + (weekday - (first - 1)) % 7 + 7 * (n - 1)
            else:
                day = last - ((last - 1) - weekday) % 7 + 7 * (n + 1)
            if first <= day <= last:
                chosen.add(day)
        return frozenset(chosen)

    def days(self, low: int, high: int) -> Iterator[int]:
        """The days (ordinals, ascending) in [low, high] that pass every filter."""
        start = date.fromordinal(low)
        year, month = start.year, start.month
        by_year = self.freq == "YEARLY" and not self.months
        nth_days: frozenset[int] | None = None
        nth_year = 0
        while year <= _LAST_YEAR:
            first = date(year, month, 1).toordinal()
            if first > high:
                return
            length = monthrange(year, month)[1]
            if not self.months or month in self.months:
                if self.nth and by_year and nth_year != year:
                    nth_days, nth_year = self._nth(*_year_span(year)), year
                elif self.nth and not by_year:
                    nth_days = self._nth(first, first + length - 1)
                if self.monthdays:
                    numbers: Iterable[int] = sorted(
                        {day if day > 0 else length + 1 + day for day in self.monthdays}
                    )
                else:
                    numbers = range(1, length + 1)
                for number in numbers:
                    day = first + number - 1
                    if not (1 <= number <= length and low <= day <= high):
                        continue
                    if self.weekdays and (day - 1) % 7 not in self.weekdays:
                        continue
                    if nth_days is not None and day not in nth_days:
                        continue
                    yield day
            month += 1
            if month == 13:
                year, month = year + 1, 1


def _picked(days: list[int], setpos: tuple[int, ...]) -> list[int]:
    """The days of one period that BYSETPOS picks (all of them without it)."""
    if not setpos:
        return days
    size = len(days)
    return sorted(
        {days[pos - 1 if pos > 0 else pos] for pos in setpos if -size <= pos <= size and pos}
    )


def _periods(parts: _Parts, start: int, limit: int) -> Iterator[tuple[int, int]]:
    """The [first, last] days (ordinals) of the rule's periods from the one holding `start`
    up to `limit`, as dateutil counts them (a first week starts at `start`)."""
    interval = parts.interval
    if parts.freq == "WEEKLY":
        week = start - ((start - 1) % 7 - parts.wkst) % 7
        yield start, week + 6
        week += 7 * interval
        while week <= limit:
            yield week, week + 6
            week += 7 * interval
        return
    day = date.fromordinal(start)
    if parts.freq == "MONTHLY":
        index = day.year * 12 + day.month - 1
        while True:
            year, month = divmod(index, 12)
            if year > _LAST_YEAR:
                return
            first = date(year, month + 1, 1).toordinal()
            if first > limit:
                return
            yield first, first + monthrange(year, month + 1)[1] - 1
            index += interval
    else:  # YEARLY
        year = day.year
        while year <= _LAST_YEAR and (first := date(year, 1, 1).toordinal()) <= limit:
            yield _year_span(year)
            year += interval


def _after(parts: _Parts, start: datetime) -> datetime | None:
    """The rule's first occurrence after `start` within the horizon, or None.

    The work is bounded by the horizon: at most its days are looked at (only those of the
    rule's periods), once each, whatever the rule.
    """
    step = _UNITS[parts.freq] * parts.interval
    origin = start.date().toordinal()
    limit = min(origin + max(HORIZON.days, 2 * step), _LAST_DAY)
    filters = _Filters.of(parts, start.date())
    found: int | None = None
    size = _PERIOD_DAYS[parts.freq]
    if any(abs(pos) > size for pos in parts.setpos):
        return None  # see _parse: such a rule picks nothing
    if parts.freq in ("DAILY", "WEEKLY"):
        # one scan of the horizon's days, grouped into the rule's periods
        if parts.freq == "DAILY":
            origin_period, length = origin, 1
        else:
            origin_period, length = origin - ((origin - 1) % 7 - parts.wkst) % 7, 7
        days = filters.days(origin if parts.setpos else origin + 1, limit)
        for index, group in groupby(days, lambda day: (day - origin_period) // length):
            if index % parts.interval == 0:
                chosen = _picked(list(group), parts.setpos)
                found = next((day for day in chosen if day > origin), None)
                if found is not None:
                    break
    else:
        for first, last in _periods(parts, origin, limit):
            chosen = _picked(list(filters.days(first, min(last, _LAST_DAY))), parts.setpos)
            found = next((day for day in chosen if day > origin), None)
            if found is not None:
                break
    if found is None or found > limit:
        return None
    return datetime.combine(date.fromordinal(found), start.time())


def _year_span(year: int) -> tuple[int, int]:
    """The first and last day (ordinals) of `year`."""
    return date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()


def normalize_recurrence(value: str) -> str:
    """The canonical spelling of a rule: a preset, or the RRULE without the `RRULE:` prefix,
    each BY* list deduplicated and sorted, and defaults left out (`_spell`); ValueError
    saying what is wrong. It is never longer than the rule sent, so it fits the column."""
    if value in PRESETS:
        return value
    if not _RRULE.fullmatch(value):
        raise ValueError(
            "must be daily, weekly, monthly, yearly or an RRULE such as "
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE (FREQ=DAILY|WEEKLY|MONTHLY|YEARLY and the parts "
            "INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, BYSETPOS, WKST; no COUNT or UNTIL)"
        )
    return _spell(_parse(value.removeprefix("RRULE:")))


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
            following = _after(_parse(recurrence), start)
    except (OverflowError, ValueError):
        return None
    if following is None:
        return None
    return following.date() if all_day else following.replace(tzinfo=UTC)


def recurrence_problem(due: date | datetime, recurrence: str) -> str | None:
    """Why a task due at `due` cannot take `recurrence` (None when it can): a rule with no
    occurrence after its first deadline would end at the first completion, so it is refused
    when set rather than found out then."""
    if next_due(due, recurrence) is not None:
        return None
    return (
        f"recurrence {recurrence} has no occurrence after the due_date {due.isoformat()} "
        f"within {HORIZON.days // 366} years"
    )


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
