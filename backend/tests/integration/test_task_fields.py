"""Priority, due dates, tags and recurrence: what is accepted, stored and read back."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.test_tasks_api import create
from todo_api.models import TaskRead

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"


async def test_a_task_created_with_todays_fields_gets_the_defaults(
    client: httpx.AsyncClient,
) -> None:
    task = await create(client)

    assert TaskRead.model_validate(task)
    assert (task["priority"], task["due_date"], task["tags"], task["recurrence"]) == (
        "medium",
        None,
        [],
        None,
    )


async def test_every_field_reads_back_the_way_it_was_meant(client: httpx.AsyncClient) -> None:
    task = await create(
        client,
        priority="high",
        due_date="2026-12-01T17:00:00.123456+01:00",
        tags=["  Work ", "home", "WORK", "errand"],
        recurrence="RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
    )

    assert task["priority"] == "high"
    assert task["due_date"] == "2026-12-01T16:00:00.123456Z"  # UTC, to the microsecond
    assert task["tags"] == ["Work", "home", "errand"]  # trimmed, first spelling kept
    assert task["recurrence"] == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE"
    assert (await client.get(f"{TASKS}/{task['id']}")).json() == task

    all_day = await create(client, due_date="2026-12-01")
    assert all_day["due_date"] == "2026-12-01"  # a date stays a date


async def test_put_changes_and_clears_the_new_fields(client: httpx.AsyncClient) -> None:
    task = await create(client, priority="low", due_date="2026-12-01", tags=["a"])
    url = f"{TASKS}/{task['id']}"

    changed = (await client.put(url, json={"priority": "high", "tags": ["b", "c"]})).json()
    assert (changed["priority"], changed["tags"], changed["due_date"]) == (
        "high",
        ["b", "c"],
        "2026-12-01",
    )
    cleared = (await client.put(url, json={"tags": [], "due_date": None})).json()
    assert (cleared["tags"], cleared["due_date"], cleared["priority"]) == ([], None, "high")


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"priority": "urgent"}, "priority"),
        ({"priority": None}, "priority"),
        ({"due_date": "2026-12-01T17:00:00"}, "needs an offset"),
        ({"due_date": "2026-02-30"}, "not a calendar date"),
        ({"due_date": "tomorrow"}, "due_date"),
        ({"due_date": 20261201}, "due_date"),
        ({"due_date": "0001-01-01T00:00:00+01:00"}, "years 1-9999"),
        ({"tags": ["ok", "   "]}, "is blank"),
        ({"tags": ["bad\x07bell"]}, "'bad\\x07bell' contains a control character"),
        ({"tags": ["x" * 51]}, "longer than 50"),
        ({"tags": [str(n) for n in range(21)]}, "tags"),
        ({"tags": "work"}, "tags"),
        ({"recurrence": "fortnightly", "due_date": "2026-12-01"}, "recurrence"),
        ({"recurrence": "FREQ=HOURLY", "due_date": "2026-12-01"}, "recurrence"),
        ({"recurrence": "FREQ=DAILY;COUNT=3", "due_date": "2026-12-01"}, "no COUNT or UNTIL"),
        ({"recurrence": "daily"}, "a recurring task needs a due_date"),
        ({"recurrence": "daily", "due_date": None}, "a recurring task needs a due_date"),
    ],
)
async def test_bad_values_are_a_422_naming_the_field(
    client: httpx.AsyncClient, fields: dict[str, object], detail: str
) -> None:
    response = await client.post(TASKS, json={"title": "Task", **fields})

    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    assert (await client.get(TASKS)).json() == []


async def test_recurrence_rules_that_depend_on_the_stored_task_are_a_409(
    client: httpx.AsyncClient,
) -> None:
    plain = await create(client)
    recurring = await create(client, due_date="2026-12-01", recurrence="daily")

    for url, body in [
        (f"{TASKS}/{plain['id']}", {"recurrence": "daily"}),
        (f"{TASKS}/{recurring['id']}", {"due_date": None}),
    ]:
        response = await client.put(url, json=body)
        assert response.status_code == 409, response.text
        assert "needs a due_date" in response.json()["detail"]
    assert (await client.get(f"{TASKS}/{recurring['id']}")).json() == recurring


# The rule: the 8th date of a one-date set never comes, so each completion of such a
# task searched up to the year 9999 (~250 ms of CPU) and created nothing.
NEVER = "FREQ=YEARLY;INTERVAL=19;BYMONTHDAY=31;BYSETPOS=" + ",".join(["8"] * 76)


async def test_a_rule_with_no_occurrence_after_the_due_date_is_a_422_when_it_is_set(
    client: httpx.AsyncClient,
) -> None:
    stored = "FREQ=YEARLY;INTERVAL=19;BYSETPOS=8;BYMONTHDAY=31"  # duplicates dropped
    refused = f"body: recurrence {stored} has no occurrence after the due_date"
    created = await client.post(
        TASKS, json={"title": "Never", "due_date": "0001-01-01", "recurrence": NEVER}
    )
    assert created.status_code == 422, created.text
    assert created.json()["detail"].startswith(f"{refused} 0001-01-01 within 10 years")
    task = await create(client, due_date="2026-12-01")
    url = f"{TASKS}/{task['id']}"

    for body in (
        {"recurrence": NEVER, "due_date": "2026-12-01"},
        {"recurrence": NEVER},  # against the stored due date
        {"recurrence": "daily", "due_date": "9999-12-31"},
    ):
        response = await client.put(url, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("body: recurrence "), response.text
        assert "has no occurrence after the due_date" in response.json()["detail"]
    assert (await client.get(url)).json() == task
    assert (await client.put(url, json={"recurrence": "monthly"})).status_code == 200
    assert [t["id"] for t in (await client.get(TASKS)).json()] == [task["id"]]


async def test_the_longest_rules_are_stored_in_a_spelling_that_fits_the_column(
    client: httpx.AsyncClient,
) -> None:
    """dateutil wrote each `1MO` as `+1MO`: this 196-character rule grew to 231 and the
    column's CHECK answered 409."""
    days = ",".join(f"{n}{day}" for n in range(1, 6) for day in ("MO", "TU", "WE", "TH", "FR"))
    days += ",1SA,2SA,3SA,4SA,5SA,1SU,2SU,3SU,4SU,5SU"
    rule = f"FREQ=MONTHLY;BYDAY={days};BYMONTHDAY=1,2,3,4,5,6,7,8,9,10,11,12"
    assert 190 < len(rule) <= 200

    task = await create(client, due_date="2026-12-01", recurrence=rule)

    assert len(task["recurrence"]) <= len(rule)
    assert "+" not in task["recurrence"]
    assert task["recurrence"].startswith("FREQ=MONTHLY;BYMONTHDAY=1,2,3,4,5,6,7,8,9,10,11,12;")


def test_the_database_refuses_what_the_api_refuses(admin_connection: psycopg.Connection) -> None:
    admin_connection.execute(
        "TRUNCATE users, tasks, task_tombstones, idempotency_keys, task_events"
        " RESTART IDENTITY CASCADE"
    )
    admin_connection.execute("INSERT INTO users (id) VALUES ('alice')")
    insert = "INSERT INTO tasks (user_id, title, {}) VALUES ('alice', 'x', %s)"
    for column, value in [
        ("priority", 4),
        ("priority", 0),
        ("tags", ["x" * 51]),
        ("tags", [" padded"]),
        ("tags", ["bell\x07"]),
        ("tags", [str(n) for n in range(21)]),
        ("tags", [None]),
        ("recurrence", "daily"),  # without a due date
        ("due_all_day", True),  # without a due date
        ("reminders", Jsonb({"at": "2026-12-01T09:00:00Z"})),  # not an array
        ("reminders", Jsonb([1])),
        ("reminders", Jsonb([{"at": "2026-12-01T09:00:00Z", "before": "PT1H"}])),
        ("reminders", Jsonb([{"at": 5}])),
        ("reminders", Jsonb([{"at": "2026-12-01T09:00:00Z"}] * 6)),
        ("reminders", Jsonb([{"before": "PT1H"}])),  # relative, without a due date
    ]:
        with pytest.raises(psycopg.errors.CheckViolation):
            admin_connection.execute(insert.format(column), (value,))
    admin_connection.execute(insert.format("tags"), (["x" * 50] * 20,))
    admin_connection.execute(insert.format("reminders"), (Jsonb([{"at": "2026-12-01"}] * 5),))


def test_the_checks_call_no_sql_function(admin_connection: psycopg.Connection) -> None:
    """PostgreSQL prepares CHECK constraints afresh for every INSERT and UPDATE, and tries to
    inline each `LANGUAGE sql` function they call, parsing its body, on every write (migration
    0015): the functions `tasks`' constraints call are PL/pgSQL."""
    rows = admin_connection.execute(
        "SELECT DISTINCT p.proname, l.lanname FROM pg_constraint c"
        " JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid"
        " AND d.refclassid = 'pg_proc'::regclass"
        " JOIN pg_proc p ON p.oid = d.refobjid JOIN pg_language l ON l.oid = p.prolang"
        " WHERE c.conrelid = 'tasks'::regclass AND c.contype = 'c'"
    ).fetchall()
    assert {name for name, _ in rows} == {"task_tags_are_valid", "task_reminders_are_valid"}
    assert {language for _, language in rows} == {"plpgsql"}


# --- Recurrence -------------------------------------------------------------------------------


async def complete(
    client: httpx.AsyncClient, task: dict[str, Any], **body: object
) -> httpx.Response:
    response = await client.patch(f"{TASKS}/{task['id']}/complete", json=body or None)
    assert response.status_code == 200, response.text
    return response


def next_link(response: httpx.Response) -> str:
    target, rel = response.headers["link"].split("; ")
    assert rel == 'rel="next-occurrence"'
    return target.strip("<>")


@pytest.mark.parametrize(
    ("due", "rule", "following"),
    [
        ("2026-12-31", "daily", "2027-01-01"),
        ("2026-12-01T09:30:00Z", "daily", "2026-12-02T09:30:00Z"),
        ("2026-11-26", "weekly", "2026-12-03"),
        ("2027-01-31", "monthly", "2027-02-28"),
        ("2028-01-31", "monthly", "2028-02-29"),  # a leap year
        ("2027-02-28", "monthly", "2027-03-28"),  # the series goes on from the clamped day
        ("2028-02-29", "yearly", "2029-02-28"),
        ("2027-01-31", "FREQ=MONTHLY", "2027-03-31"),  # RFC 5545: no February 31st
        ("2027-02-28", "FREQ=MONTHLY;BYMONTHDAY=-1", "2027-03-31"),
        ("2026-11-25", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE", "2026-12-07"),
        ("2026-11-23T08:00:00+01:00", "FREQ=WEEKLY;BYDAY=FR", "2026-11-27T07:00:00Z"),
        ("2027-01-01", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "2028-02-29"),
    ],
)
async def test_completing_a_recurring_task_creates_the_next_occurrence(
    client: httpx.AsyncClient, due: str, rule: str, following: str
) -> None:
    task = await create(
        client, "Pay rent", description="d", priority="high", tags=["home"], due_date=due
    )
    task = (await client.put(f"{TASKS}/{task['id']}", json={"recurrence": rule})).json()

    response = await complete(client, task)

    assert response.json()["completed"] is True
    assert response.json()["id"] == task["id"]
    created = (await client.get(next_link(response))).json()
    assert created["due_date"] == following
    assert created["completed"] is False
    same = ("title", "description", "priority", "tags", "recurrence")
    assert {name: created[name] for name in same} == {name: task[name] for name in same}
    assert len((await client.get(TASKS)).json()) == 2


async def test_toggling_back_and_forth_or_via_put_creates_one_next_occurrence(
    client: httpx.AsyncClient,
) -> None:
    task = await create(client, due_date="2026-12-01", recurrence="daily")
    url = f"{TASKS}/{task['id']}"

    first = next_link(await complete(client, task))
    undone = await client.patch(f"{url}/complete")
    assert undone.json()["completed"] is False
    assert "link" not in undone.headers
    assert (await client.get(first)).status_code == 200  # un-completing keeps it
    again = await client.put(url, json={"completed": True})
    assert next_link(again) == first
    await client.patch(f"{url}/complete", json={"completed": False})
    assert next_link(await complete(client, task)) == first
    assert len((await client.get(TASKS)).json()) == 2


async def test_a_plain_task_completes_without_a_next_occurrence(
    client: httpx.AsyncClient,
) -> None:
    response = await complete(client, await create(client, due_date="2026-12-01"))
    assert "link" not in response.headers
    assert len((await client.get(TASKS)).json()) == 1


async def test_100_concurrent_completions_leave_exactly_one_next_occurrence(
    client: httpx.AsyncClient,
) -> None:
    task = await create(client, due_date="2026-12-01", recurrence="weekly")
    url = f"{TASKS}/{task['id']}/complete"

    responses = await asyncio.gather(
        *(client.patch(url, json={"completed": True}) for _ in range(100))
    )

    assert {response.status_code for response in responses} == {200}
    assert len({next_link(response) for response in responses}) == 1
    tasks = (await client.get(TASKS)).json()
    assert sorted(t["due_date"] for t in tasks) == ["2026-12-01", "2026-12-08"]


async def test_100_concurrent_toggles_create_one_next_occurrence(
    client: httpx.AsyncClient,
) -> None:
    task = await create(client, due_date="2026-12-01", recurrence="daily")

    await asyncio.gather(*(client.patch(f"{TASKS}/{task['id']}/complete") for _ in range(100)))

    tasks = (await client.get(TASKS)).json()
    assert sorted(t["due_date"] for t in tasks) == ["2026-12-01", "2026-12-02"]
    assert [t["completed"] for t in tasks if t["id"] == task["id"]] == [False]  # 100 flips


# JSON may escape a lone surrogate; a body holding one is not Unicode text (raw bytes here:
# httpx would refuse to encode it).
SURROGATE_BODIES = [
    b'{"title": "a", "tags": ["\\ud800"]}',
    b'{"title": "a", "tags": ["ok", "x\\udfffy"]}',
    b'{"title": "\\ud800"}',
    b'{"title": "a", "description": "b\\udc00"}',
]
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.mark.parametrize("body", SURROGATE_BODIES)
async def test_a_lone_surrogate_in_any_string_field_is_a_422_on_create_keyed_create_and_put(
    client: httpx.AsyncClient, body: bytes
) -> None:
    keyed = {**JSON_HEADERS, "Idempotency-Key": "surrogate-1"}
    task = await create(client)
    for response in (
        await client.post(TASKS, content=body, headers=JSON_HEADERS),
        await client.post(TASKS, content=body, headers=keyed),
        await client.put(f"{TASKS}/{task['id']}", content=body, headers=JSON_HEADERS),
    ):
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "surrogate" in detail or "unicode" in detail, detail
    assert (await client.get(TASKS)).json() == [task]


async def test_tags_are_stored_in_nfc_and_the_tag_filter_matches_either_spelling(
    client: httpx.AsyncClient,
) -> None:
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    task = await create(client, tags=[nfd, nfc, "Cafe\u0301"])
    assert task["tags"] == [nfc]  # one tag, however it was typed
    for spelling in (nfc, nfd):
        found = (await client.get(TASKS, params={"tag": spelling})).json()
        assert [t["id"] for t in found] == [task["id"]], spelling
    assert (await client.get("/api/alice/tags")).json() == [{"tag": nfc, "count": 1}]


@pytest.mark.parametrize(
    "tag",
    [
        "ab\u202ecd",
        "\u2066x",
        "a\u200fb",
        "a\u061cb",
        "a\u200bb",
        "a\u2060b",
        "a\ufeffb",
        "a\u00adb",
    ],
)
async def test_bidi_and_zero_width_characters_inside_a_tag_are_a_422(
    client: httpx.AsyncClient, tag: str
) -> None:
    response = await client.post(TASKS, json={"title": "a", "tags": [tag]})
    assert response.status_code == 422, response.text
    assert "tags" in response.json()["detail"]
    filtered = await client.get(TASKS, params={"tag": tag})
    assert filtered.status_code == 422, filtered.text


async def test_joiners_inside_a_tag_stay_allowed_for_emoji_and_persian(
    client: httpx.AsyncClient,
) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    task = await create(client, tags=[family, persian])
    assert task["tags"] == [family, persian]
