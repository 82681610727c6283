"""The organizing fields' rules as pure functions: tags, deadlines, recurrence, cursors."""

from __future__ import annotations

import gc
import re
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from typing import cast

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from dateutil.rrule import rrule, rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from todo_api.errors import InvalidCursorError
from todo_api.models.columns import due_columns, due_value
from todo_api.models.fields import INVISIBLE_CHARS, TAG_PATTERN, Tags, normalize_tag, parse_due
from todo_api.models.recurrence import (
    RRULE_PATTERN,
    next_due,
    normalize_recurrence,
    recurrence_problem,
)
from todo_api.services.lists.cursors import decode_cursor, encode_cursor
from todo_api.services.lists.query import SEARCH_WORK_MAX, TaskListQuery, search_work

TAG = re.compile(TAG_PATTERN)
RRULE = re.compile(RRULE_PATTERN)


def _accepted(check: object, value: str) -> bool:
    try:
        check(value)  # type: ignore[operator]
    except ValueError:
        return False
    return True


@given(st.text(max_size=60) | st.sampled_from([" a ", "\u200b", "a\x85", "x" * 50, "x" * 51]))
def test_the_tag_pattern_accepts_exactly_what_the_validator_accepts(value: str) -> None:
    assert _accepted(normalize_tag, value) == bool(TAG.search(value)), repr(value)


@given(
    st.from_regex(RRULE, fullmatch=True)
    | st.text(alphabet="FREQ=DAILYWEKMONTHBYSP;,0123456789-", max_size=40)
)
def test_every_rule_the_pattern_accepts_the_validator_accepts_too(value: str) -> None:
    assert _accepted(normalize_recurrence, value) == bool(RRULE.search(value)), repr(value)


def test_tags_are_trimmed_and_deduplicated_case_insensitively_keeping_order() -> None:
    tags = TypeAdapter(Tags)
    assert tags.validate_python([" Work", "home ", "WORK", "Home", "errand"]) == [
        "Work",
        "home",
        "errand",
    ]
    with pytest.raises(ValidationError, match="'   ' is blank"):
        tags.validate_python(["ok", "   "])
    with pytest.raises(ValidationError):
        tags.validate_python(["x"] * 21)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("2026-12-01T17:00:00+01:00", datetime(2026, 12, 1, 16, tzinfo=UTC)),
        ("2026-12-01t17:00:00.1234567z", datetime(2026, 12, 1, 17, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_deadlines_parse_to_a_date_or_a_utc_date_time(text: str, parsed: object) -> None:
    assert parse_due(text) == parsed
    assert type(parse_due(text)) is type(parsed)


@pytest.mark.parametrize(
    "text", ["2026-12-01T17:00:00", "2026-12-01 17:00", "2026-13-01", "1 Dec 2026", ""]
)
def test_deadlines_without_offset_or_out_of_shape_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_due(text)


def test_a_date_is_stored_as_the_last_microsecond_of_its_day_and_read_back_as_a_date() -> None:
    due_at, all_day = due_columns(date(9999, 12, 31))
    assert due_at == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert all_day is True
    assert due_value(due_at, all_day) == date(9999, 12, 31)
    moment = datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert due_value(*due_columns(moment)) == moment


@pytest.mark.parametrize(
    ("due", "rule", "following"),
    [
        (date(2027, 1, 31), "monthly", date(2027, 2, 28)),
        (date(2028, 1, 31), "monthly", date(2028, 2, 29)),
        (date(2028, 2, 29), "yearly", date(2029, 2, 28)),
        (date(2027, 1, 31), "FREQ=MONTHLY", date(2027, 3, 31)),
        (date(2027, 1, 30), "FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1", date(2027, 1, 31)),
        (date(2027, 1, 1), "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", date(2028, 2, 29)),
        (date(2027, 1, 1), "FREQ=MONTHLY;BYSETPOS=300", None),  # never: the series ends
        (date(9999, 12, 31), "daily", None),  # past year 9999
        (datetime(2026, 11, 30, 23, tzinfo=UTC), "weekly", datetime(2026, 12, 7, 23, tzinfo=UTC)),
    ],
)
def test_next_due(due: date, rule: str, following: date | None) -> None:
    assert next_due(due, normalize_recurrence(rule)) == following


# Found by the fuzzer: no day is ever the 15th-from-last of a one-day set (DAILY).
NEVER = (
    "FREQ=DAILY;BYMONTHDAY=15,-25,-21,-9,-29,-30,30,-26,-13,3,30,-31,-31,31,3,4,31,8,11,-3,"
    "20,3,15,30,-3,30,-14,-15,-21;BYSETPOS=-15,-364,245,280,346;BYDAY=SU"
)


@pytest.mark.parametrize("rule", [NEVER, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"])
@pytest.mark.parametrize("due", [date(110, 12, 21), date(2026, 12, 21)])
def test_a_rule_that_never_matches_ends_the_series_without_searching_to_year_9999(
    rule: str, due: date
) -> None:
    """dateutil alone walked every day up to the year 9999 for such a rule: 9-12 s of CPU on
    the event loop for one request. The search stops at the horizon (about 13 ms)."""
    started = time.process_time()
    assert next_due(due, normalize_recurrence(rule)) is None
    assert time.process_time() - started < 1.0


def _longest(prefix: str, values: list[str]) -> str:
    """`prefix` and as many of `values` (comma-separated) as fit in 200 characters."""
    rule = prefix + values[0]
    for value in values[1:]:
        if len(rule) + 1 + len(value) > 200:
            break
        rule += "," + value
    return rule


# The costliest rules the pattern accepts: long BY* lists, duplicates, the longest INTERVAL,
# sets that BYSETPOS never picks from, dates that exist once in 28 years.
WORST = [
    _longest("FREQ=YEARLY;INTERVAL=19;BYMONTHDAY=31;BYSETPOS=", ["8"] * 100),
    _longest("FREQ=YEARLY;INTERVAL=99;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYSETPOS=", ["-1"] * 80),
    _longest("FREQ=MONTHLY;INTERVAL=99;BYSETPOS=", [str(n) for n in range(300, 367)]),
    _longest("FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30,31;BYSETPOS=", [str(n) for n in range(1, 99)]),
    _longest("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR,SA;BYSETPOS=", ["7"] * 80),
    _longest(
        "FREQ=DAILY;INTERVAL=97;BYMONTH=2;BYDAY=MO;BYMONTHDAY=", [str(-n) for n in range(1, 32)]
    ),
    _longest(
        "FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR,SA;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYSETPOS=",
        [str(n) for n in range(-366, -300)],
    ),
    NEVER,
]


@pytest.mark.parametrize("rule", WORST)
def test_the_costliest_rules_validate_and_advance_in_a_few_milliseconds_whatever_the_date(
    rule: str,
) -> None:
    """The first rule took ~200 ms of CPU per completion, forever: dateutil searched up to
    the year 9999 (its search was bounded in period rebuilds, not days) and re-scanned each
    year once per BYSETPOS value. The bound counts this thread's CPU alone, with no garbage
    collection inside it (the process's CPU time includes other tests' server threads), and
    leaves room for coverage's tracing: the costliest takes about 7 ms alone and 55 ms in a
    whole suite under coverage on a slow machine; the bug took 200 ms without coverage."""
    assert len(rule) <= 200
    gc.collect()
    gc.disable()
    try:
        for due in (
            date(1, 1, 1),
            date(2026, 12, 21),
            date(9999, 12, 1),
            datetime(9990, 6, 1, tzinfo=UTC),
        ):
            started = time.thread_time()
            normalized = normalize_recurrence(rule)
            recurrence_problem(due, normalized)
            next_due(due, normalized)
            assert time.thread_time() - started < 0.15, (rule, due)
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("rule", "due"),
    [
        (WORST[0], date(1, 1, 1)),  # the 8th of a one-date set: never
        ("FREQ=WEEKLY;BYSETPOS=8", date(2026, 12, 1)),  # a week holds seven days
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", date(2026, 12, 1)),
        ("daily", date(9999, 12, 31)),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", date(2024, 3, 1)),  # 2044: too far
    ],
)
def test_a_rule_with_no_occurrence_after_its_due_date_is_a_problem_when_set(
    rule: str, due: date
) -> None:
    problem = recurrence_problem(due, normalize_recurrence(rule))
    assert problem is not None
    assert problem.startswith(f"recurrence {normalize_recurrence(rule)} has no occurrence after")
    assert recurrence_problem(date(2026, 12, 1), "FREQ=MONTHLY;BYMONTHDAY=-1") is None


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(RRULE, fullmatch=True).filter(lambda rule: rule[0] in "FR"),
    st.dates(date(1990, 1, 1), date(2040, 12, 31)),
    st.times().map(lambda moment: moment.replace(microsecond=0)),  # dateutil drops them
)
def test_a_rule_recurs_as_dateutil_says_it_does(rule: str, day: date, moment: time_of_day) -> None:
    """The expansion is ours (bounded), the meaning dateutil's: where the rule has a next
    occurrence, dateutil finds the same date, spelled as sent or normalized."""
    start = datetime.combine(day, moment)
    # next_due answers with the kind it is given: a date-time (or None) here.
    following = cast(
        datetime | None, next_due(start.replace(tzinfo=UTC), normalize_recurrence(rule))
    )
    if following is None:
        return  # dateutil would search to the year 9999 to agree
    for spelling in (rule.removeprefix("RRULE:"), normalize_recurrence(rule)):
        # One RRULE line, no forceset: dateutil parses it to an rrule, never a set.
        parsed = cast(rrule, rrulestr(spelling, dtstart=start))
        expanded = parsed.replace(until=following.replace(tzinfo=None))
        assert next(day for day in expanded if day > start) == following.replace(tzinfo=None)
    assert following - start.replace(tzinfo=UTC) <= timedelta(days=366 * 2 * 99)


@given(st.from_regex(RRULE, fullmatch=True))
def test_normalizing_never_makes_a_rule_longer(rule: str) -> None:
    """dateutil's spelling grew a 197-character rule past the column's 200 (a 409)."""
    assert len(normalize_recurrence(rule)) <= len(rule)


def test_rules_are_normalized_to_a_compact_canonical_spelling() -> None:
    assert (
        normalize_recurrence(
            "RRULE:FREQ=YEARLY;WKST=SU;INTERVAL=1;BYDAY=+1MO,TU,1MO;BYMONTH=3,1,3;BYSETPOS=2,-1,2"
        )
        == "FREQ=YEARLY;BYSETPOS=-1,2;BYMONTH=1,3;BYDAY=TU,1MO"
    )
    assert (
        normalize_recurrence("FREQ=WEEKLY;WKST=SU;BYDAY=2MO,MO") == "FREQ=WEEKLY;WKST=SU;BYDAY=MO"
    )
    assert normalize_recurrence("FREQ=DAILY;BYSETPOS=-1,1") == "FREQ=DAILY"
    assert normalize_recurrence("FREQ=MONTHLY;BYSETPOS=40,32,-99") == "FREQ=MONTHLY;BYSETPOS=32"


def test_rules_are_normalized() -> None:
    assert normalize_recurrence("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;INTERVAL=2") == (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE"
    )
    for refused in ("freq=daily", "FREQ=HOURLY", "FREQ=DAILY;COUNT=2", "Daily", "FREQ=DAILY;X=1"):
        with pytest.raises(ValueError, match="must be daily"):
            normalize_recurrence(refused)


@given(st.text(min_size=1, max_size=200))
def test_a_search_never_costs_more_than_its_length_so_short_ones_always_pass(q: str) -> None:
    assert 1 <= search_work(q) <= len(q.lower())


@pytest.mark.parametrize(
    ("q", "work"),
    [
        ("milk", 2.1),
        ("Buy milk and eggs at the corner shop before noon on Saturday, then call mum", 4.9),
        ("the quick brown fox jumps over the lazy dog. " * 4, 7.4),  # a period of 45
        ("tx" * 100, 100.5),
        ("t" * 198 + "xy", 198.0),
    ],
)
def test_the_work_of_a_search_is_the_sum_of_one_over_its_prefixes_periods(
    q: str, work: float
) -> None:
    assert search_work(q) == pytest.approx(work, abs=0.05)
    accepted = _accepted(lambda text: TaskListQuery(q=text), q)
    assert accepted == (work <= SEARCH_WORK_MAX)


def test_cursors_round_trip_and_are_bound_to_key_user_and_query() -> None:
    server = AESGCM(AESGCM.generate_key(256))
    query = TaskListQuery(sort="due_date", tag=["work"])
    for key in (None, datetime(2026, 12, 1, tzinfo=UTC)):
        cursor = encode_cursor(server, "alice", query, (key, 42))
        assert decode_cursor(server, "alice", query, cursor) == (key, 42)
        wider = query.model_copy(update={"limit": 5})
        assert decode_cursor(server, "alice", wider, cursor) == (key, 42)
        for user, other in [("bob", query), ("alice", TaskListQuery(sort="due_date"))]:
            with pytest.raises(InvalidCursorError):
                decode_cursor(server, user, other, cursor)
        with pytest.raises(InvalidCursorError):  # another server's (or an old) key
            decode_cursor(AESGCM(AESGCM.generate_key(256)), "alice", query, cursor)
    for garbage in ("", ".", "a.b.c", "!!.??", "e30.e30", "\u00e9t\u00e9"):
        with pytest.raises(InvalidCursorError):
            decode_cursor(server, "alice", query, garbage)


def test_two_cursors_for_the_same_position_differ_and_hide_the_key_length() -> None:
    server, query = AESGCM(AESGCM.generate_key(256)), TaskListQuery(sort="title")
    short = encode_cursor(server, "alice", query, ("a", 1))
    assert short != encode_cursor(server, "alice", query, ("a", 1))  # a fresh nonce each
    assert len(short) == len(encode_cursor(server, "alice", query, ("a" * 20, 1)))


@pytest.mark.parametrize("char", INVISIBLE_CHARS)
def test_the_pattern_and_the_validator_both_refuse_an_invisible_character_inside_a_tag(
    char: str,
) -> None:
    value = f"a{char}b"
    assert not _accepted(normalize_tag, value)
    assert not TAG.search(value)


def test_tags_come_out_in_nfc_whichever_form_came_in() -> None:
    assert normalize_tag(" cafe\u0301 ") == normalize_tag("caf\u00e9") == "caf\u00e9"
    assert TypeAdapter(Tags).validate_python(["caf\u00e9", "CAFE\u0301"]) == ["caf\u00e9"]


@pytest.mark.parametrize("field", ["q", "tag"])
def test_a_lone_surrogate_in_a_list_filter_stays_refused(field: str) -> None:
    value = "a\ud800" if field == "q" else ["a\ud800"]
    with pytest.raises(ValidationError):
        TaskListQuery.model_validate({field: value})


def test_the_next_occurrence_moves_absolute_reminders_with_its_due_date() -> None:
    from datetime import timedelta

    from todo_api.services.recurrence import following_reminders

    moved = following_reminders(
        [{"before": "PT15M"}, {"at": "2030-06-01T09:00:00Z"}], timedelta(days=7)
    )
    assert moved == [{"before": "PT15M"}, {"at": "2030-06-08T09:00:00Z"}]
