"""Reminders through the API: the field on tasks, the upcoming list, the time zone setting."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"
DUE = "2030-06-03T17:00:00Z"


async def _create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(TASKS, json={"title": "Pay rent", **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_reminders_round_trip_in_every_task_response(client: httpx.AsyncClient) -> None:
    task = await _create(
        client,
        due_date=DUE,
        reminders=[{"before": "PT15M"}, {"at": "2030-06-01T09:00:00+02:00"}, {"before": "PT15M"}],
    )
    expected = [{"before": "PT15M"}, {"at": "2030-06-01T07:00:00Z"}]
    assert task["reminders"] == expected  # in UTC, the duplicate dropped
    assert (await client.get(f"{TASKS}/{task['id']}")).json()["reminders"] == expected
    assert (await client.get(TASKS)).json()[0]["reminders"] == expected
    changes = (await client.get(f"{TASKS}/changes")).json()
    assert changes["changed"][0]["reminders"] == expected
    plain = await _create(client)
    assert plain["reminders"] == []


@pytest.mark.parametrize(
    ("reminders", "says"),
    [
        (
            [{"before": "PT15M"}] * 3
            + [{"before": "PT1M"}, {"before": "PT2M"}, {"before": "PT3M"}],
            "at most 5",
        ),
        ([{"before": "PT90M"}], "each part below its next unit"),
        ([{"before": "P31D"}], "at most 30 days"),
        ([{"before": "-PT1M"}], "ISO 8601 duration"),
        ([{"at": "2030-06-01"}], "not a date"),
        ([{"at": "2030-06-01T09:00:00"}], "offset"),
        ([{"before": "PT1M", "at": "2030-06-01T09:00:00Z"}], "must be"),
        ([{"in": "PT1M"}], "must be"),
        ([{"before": 60}], "must be a string"),
        ({"before": "PT1M"}, "list"),
    ],
)
async def test_a_bad_reminder_is_a_422_saying_why(
    client: httpx.AsyncClient, reminders: Any, says: str
) -> None:
    response = await client.post(
        TASKS, json={"title": "x", "due_date": DUE, "reminders": reminders}
    )
    assert response.status_code == 422
    assert says in response.json()["detail"]


async def test_relative_reminders_need_a_due_date(client: httpx.AsyncClient) -> None:
    response = await client.post(TASKS, json={"title": "x", "reminders": [{"before": "PT1M"}]})
    assert response.status_code == 422
    assert "need a due_date" in response.json()["detail"]
    absolute = await _create(client, reminders=[{"at": "2030-06-01T09:00:00Z"}])
    assert (
        await client.put(f"{TASKS}/{absolute['id']}", json={"reminders": [{"before": "PT1M"}]})
    ).status_code == 409
    task = await _create(client, due_date=DUE, reminders=[{"before": "PT1M"}])
    cleared = await client.put(f"{TASKS}/{task['id']}", json={"due_date": None})
    assert cleared.status_code == 409
    assert "Reminders with `before`" in cleared.json()["detail"]
    both = await client.put(f"{TASKS}/{task['id']}", json={"due_date": None, "reminders": []})
    assert both.status_code == 200
    assert (await client.put(f"{TASKS}/{task['id']}", json={"reminders": None})).status_code == 422


async def test_the_next_occurrence_of_a_recurring_task_has_the_same_reminders(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    task = await _create(
        client, due_date="2030-06-03", recurrence="weekly", reminders=[{"before": "P1D"}]
    )
    await client.patch(f"{TASKS}/{task['id']}/complete")
    (following,) = (await client.get(TASKS, params={"status": "pending"})).json()
    assert following["reminders"] == [{"before": "P1D"}]
    upcoming = (await client.get("/api/alice/reminders")).json()
    # All day, UTC: 09:00 on 2030-06-10, one day before.
    assert upcoming == [
        {
            "task_id": following["id"],
            "title": "Pay rent",
            "at": "2030-06-09T09:00:00Z",
            "reminder": {"before": "P1D"},
        }
    ]


async def test_the_upcoming_list_is_the_users_own_in_time_order_a_page_at_a_time(
    client: httpx.AsyncClient,
) -> None:
    for day in (5, 3, 4):
        await _create(client, due_date=f"2030-06-0{day}T12:00:00Z", reminders=[{"before": "PT1H"}])
    await client.post(
        "/api/bob/tasks",
        json={"title": "bob's", "due_date": DUE, "reminders": [{"before": "PT1H"}]},
    )
    first = await client.get("/api/alice/reminders", params={"limit": 2})
    assert [item["at"] for item in first.json()] == ["2030-06-03T11:00:00Z", "2030-06-04T11:00:00Z"]
    next_url = first.headers["link"].split(";")[0].strip("<>")
    second = await client.get(next_url)
    assert [item["at"] for item in second.json()] == ["2030-06-05T11:00:00Z"]
    assert "link" not in second.headers
    before = await client.get("/api/alice/reminders", params={"before": "2030-06-04T11:00:00Z"})
    assert len(before.json()) == 1
    stolen = next_url.replace("/alice/", "/bob/")
    assert (await client.get(stolen)).status_code == 400  # a cursor is bound to its user
    assert (await client.get("/api/alice/reminders", params={"befor": "x"})).status_code == 422
    by_day = await client.get("/api/alice/reminders", params={"before": "2030-06-04"})
    assert len(by_day.json()) == 2  # a date: to the end of that day (UTC)
    bad = await client.get("/api/alice/reminders", params={"before": "next week"})
    assert bad.status_code == 422


async def test_the_time_zone_setting_moves_all_day_reminders(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/alice/settings")).json() == {"time_zone": "UTC"}
    await _create(client, due_date="2030-06-03", reminders=[{"before": "PT0S"}])
    changed = await client.put("/api/alice/settings", json={"time_zone": "America/New_York"})
    assert changed.json() == {"time_zone": "America/New_York"}
    (upcoming,) = (await client.get("/api/alice/reminders")).json()
    assert upcoming["at"] == "2030-06-03T13:00:00Z"  # 09:00 EDT
    for bad in ("Mars/Olympus_Mons", "EST5EDT_nope", "utc+3", ""):
        response = await client.put("/api/alice/settings", json={"time_zone": bad})
        assert response.status_code == 422, bad
    assert (await client.get("/api/alice/settings")).json() == {"time_zone": "America/New_York"}
    assert (await client.get("/api/bob/settings")).json() == {"time_zone": "UTC"}


async def test_a_time_zone_change_racing_the_deletion_of_an_all_day_task_does_not_deadlock(
    client: httpx.AsyncClient, owner_database: Any
) -> None:
    """The deletion holds the task, then wants the user row (its event's sequence); the zone
    change must not hold the user row while it waits for that task (its replan's foreign
    key): it takes the all-day tasks first, as writers do."""
    import asyncio

    from tests.support import libpq_url

    task = await _create(client, due_date="2030-06-03", reminders=[{"before": "PT0S"}])
    with psycopg.connect(libpq_url(owner_database), prepare_threshold=None) as deleter:
        deleter.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", [task["id"]])
        zone_change = asyncio.ensure_future(
            client.put("/api/alice/settings", json={"time_zone": "America/New_York"})
        )
        await asyncio.sleep(0.5)
        assert not zone_change.done()  # waits for the task the deletion holds
        # Before the fix the zone change held the user row by now, and this waited for it:
        # a deadlock, one side aborted after deadlock_timeout.
        await asyncio.to_thread(deleter.execute, "DELETE FROM tasks WHERE id = %s", [task["id"]])
        deleter.commit()
    changed = await asyncio.wait_for(zone_change, 10)
    assert changed.status_code == 200, changed.text
    assert (await client.get("/api/alice/settings")).json() == {"time_zone": "America/New_York"}
    assert (await client.get("/api/alice/reminders")).json() == []
