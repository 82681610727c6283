"""Reminders firing while the service runs, across two server processes, and across downtime."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.events_support import outbox_events, seed
from tests.support import PathUserAuth, metric_value, running_server
from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"reminders_poll_seconds": 0.2}))


def _reminder_events(connection: psycopg.Connection) -> list[dict[str, Any]]:
    return [e for e in outbox_events(connection) if e["type"] == "com.todoapi.reminder.due"]


async def _wait_for(connection: psycopg.Connection, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while len(_reminder_events(connection)) < count:
        assert time.monotonic() < deadline, f"{len(_reminder_events(connection))} of {count}"
        await asyncio.sleep(0.05)


async def _fired(base: str) -> float:
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{base}/metrics")).text
    return metric_value(metrics, "todo_api_reminders_fired_total")


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_a_reminder_fires_once_on_time_and_never_for_a_completed_deleted_or_moved_time(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    await client.post(TASKS, json={"title": "fires", "reminders": [{"at": _at(1)}]})
    done = (await client.post(TASKS, json={"title": "done", "reminders": [{"at": _at(1)}]})).json()
    gone = (await client.post(TASKS, json={"title": "gone", "reminders": [{"at": _at(1)}]})).json()
    moved = (
        await client.post(TASKS, json={"title": "moved", "reminders": [{"at": _at(1)}]})
    ).json()
    await client.patch(f"{TASKS}/{done['id']}/complete")
    await client.delete(f"{TASKS}/{gone['id']}")
    later = _at(2.5)
    await client.put(f"{TASKS}/{moved['id']}", json={"reminders": [{"at": later}]})

    await _wait_for(clean_database, 2, within=6)
    await asyncio.sleep(0.5)  # nothing more comes
    events = _reminder_events(clean_database)
    assert [e["data"]["task"]["title"] for e in events] == ["fires", "moved"]
    for event in events:
        data = event["data"]
        lag = datetime.fromisoformat(data["fired_at"]) - datetime.fromisoformat(
            data["scheduled_for"]
        )
        assert timedelta(0) <= lag < timedelta(seconds=2)
        assert data["task"]["reminders"] == [data["reminder"]]
    assert datetime.fromisoformat(events[1]["data"]["scheduled_for"]) == datetime.fromisoformat(
        later
    )
    metrics = (await client.get("/metrics")).text
    assert metric_value(metrics, "todo_api_reminders_fired_total") == 2


SEED = """
INSERT INTO users (id) SELECT 'user-' || n FROM generate_series(1, 10) AS n;
INSERT INTO tasks (user_id, title, reminders)
SELECT 'user-' || (n % 10 + 1), 'Task ' || n,
       jsonb_build_array(jsonb_build_object('at', to_char(
           (now() + interval '3 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
FROM generate_series(1, 1000) AS n;
"""


async def test_two_servers_fire_the_same_thousand_reminders_each_once(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> None:
    # Small rounds and the shortest poll: one scheduler alone needs 200 rounds for the thousand,
    # longer than the other's poll, so both take part however fast the machine is (with 50
    # per round, one server once fired all 1000 before the other polled).
    env = {"REMINDERS_POLL_SECONDS": "0.05", "REMINDERS_BATCH_SIZE": "5"}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with (
        running_server(migrated_database, tmp_path / "one", serve=True, env=env) as (one, _),
        running_server(migrated_database, tmp_path / "two", serve=True, env=env) as (two, _),
    ):
        seed(clean_database, SEED)
        await _wait_for(clean_database, 1000, within=30)
        await asyncio.sleep(1)
        fired = [await _fired(base) for base in (one, two)]

    events = _reminder_events(clean_database)
    assert len(events) == 1000
    assert len({e["data"]["task"]["id"] for e in events}) == 1000
    assert sum(fired) == 1000
    assert all(count > 0 for count in fired), fired  # both took part
    lags = sorted(
        datetime.fromisoformat(e["data"]["fired_at"])
        - datetime.fromisoformat(e["data"]["scheduled_for"])
        for e in events
    )
    assert lags[-1] < timedelta(seconds=5)
    row = clean_database.execute("SELECT count(*) FROM task_reminders").fetchone()
    assert row == (0,)


async def test_a_reminder_due_while_the_service_was_down_fires_once_on_start_marked_late(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> None:
    env = {"REMINDERS_POLL_SECONDS": "0.1", "REMINDERS_MAX_LATENESS": "PT30S"}
    with running_server(migrated_database, tmp_path, serve=True, env=env) as (base, _):
        async with httpx.AsyncClient(base_url=base, auth=PathUserAuth()) as http:
            for title, seconds in (("late", 1.5), ("too late", 0.5)):
                response = await http.post(
                    TASKS, json={"title": title, "reminders": [{"at": _at(seconds)}]}
                )
                assert response.status_code == 201
    clean_database.execute(
        "UPDATE task_reminders SET fire_at = now() - interval '40 seconds' WHERE task_id = 2"
    )
    await asyncio.sleep(2.5)  # down across both reminders' times
    assert _reminder_events(clean_database) == []
    with running_server(migrated_database, tmp_path, serve=True, env=env) as (base, _):
        await _wait_for(clean_database, 1, within=10)
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{base}/metrics")).text

    (event,) = _reminder_events(clean_database)
    assert event["data"]["task"]["title"] == "late"
    late_by = datetime.fromisoformat(event["data"]["fired_at"]) - datetime.fromisoformat(
        event["data"]["scheduled_for"]
    )
    assert late_by > timedelta(seconds=0.5)
    assert metric_value(metrics, "todo_api_reminders_missed_total") == 1
