"""Recording task events: every committed change has exactly one event in the outbox,
written in the change's own transaction; nothing for a change that did not happen."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.events_support import outbox_events
from tests.support import libpq_url
from todo_api.config import Settings
from todo_api.events.asyncapi import asyncapi_document
from todo_api.events.outbox import pruning
from todo_api.services.housekeeping import Housekeeping

pytestmark = pytest.mark.anyio


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"].removeprefix("com.todoapi.task.") for event in events]


async def test_each_change_has_one_event_whose_data_is_the_task_as_rest_renders_it(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    created = (await client.post("/api/alice/tasks", json={"title": "Buy milk"})).json()
    updated = (
        await client.put(
            f"/api/alice/tasks/{created['id']}",
            json={"title": "Buy oat milk", "due_date": "2026-12-08", "tags": ["shop"]},
        )
    ).json()
    completed = (await client.patch(f"/api/alice/tasks/{created['id']}/complete")).json()
    reopened = (await client.patch(f"/api/alice/tasks/{created['id']}/complete")).json()
    assert (await client.delete(f"/api/alice/tasks/{created['id']}")).status_code == 204

    events = outbox_events(clean_database)
    assert _types(events) == ["created", "updated", "completed", "reopened", "deleted"]
    assert [event["data"] for event in events] == [
        created,
        updated,
        completed,
        reopened,
        {"id": created["id"], "user_id": "alice"},
    ]
    assert [event["userseq"] for event in events] == [1, 2, 3, 4, 5]
    for event in events:
        assert event["specversion"] == "1.0"
        assert event["subject"] == str(created["id"])
        assert event["userid"] == "alice"
        assert event["source"] == "/todo-api"
        assert event["datacontenttype"] == "application/json"
        assert event["time"].endswith("Z")
    assert len({event["id"] for event in events}) == 5
    for event in events:
        validate_against_contract(event)


def validate_against_contract(event: dict[str, Any]) -> None:
    """`event` matches its message's payload schema in contracts/asyncapi.json."""
    document = asyncapi_document()
    kind = event["type"].removeprefix("com.todoapi.task.")
    schema = {
        "$ref": f"#/components/schemas/Task{kind.capitalize()}Event",
        "components": document["components"],
    }
    jsonschema.validate(event, schema)


async def test_changes_that_did_not_happen_record_nothing(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    task = (await client.post("/api/alice/tasks", json={"title": "Plan"})).json()
    stale = {"If-Match": '"not-the-version"'}
    attempts = [
        await client.put(f"/api/alice/tasks/{task['id']}", json={"title": "x"}, headers=stale),
        await client.patch(f"/api/alice/tasks/{task['id']}/complete", headers=stale),
        await client.delete(f"/api/alice/tasks/{task['id']}", headers=stale),
        await client.put(f"/api/alice/tasks/{task['id']}", json={"title": ""}),
        await client.post("/api/alice/tasks", json={"title": "x", "priority": "urgent"}),
        await client.put("/api/alice/tasks/999999", json={"title": "x"}),
        await client.delete("/api/bob/tasks/" + str(task["id"])),
    ]

    assert [response.status_code for response in attempts] == [412, 412, 412, 422, 422, 404, 404]
    assert _types(outbox_events(clean_database)) == ["created"]


async def test_a_statement_that_fails_after_writing_rolls_its_event_back_with_it(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    task = (await client.post("/api/alice/tasks", json={"title": "Plan"})).json()

    def change_then_fail() -> None:
        with clean_database.transaction():
            clean_database.execute("UPDATE tasks SET title = 'changed' WHERE id = %s", [task["id"]])
            clean_database.execute("DO $$ BEGIN RAISE EXCEPTION 'abort'; END $$")

    with pytest.raises(psycopg.errors.RaiseException):
        change_then_fail()

    assert _types(outbox_events(clean_database)) == ["created"]


async def test_completing_a_recurring_task_records_the_completion_and_the_next_occurrence(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    task = (
        await client.post(
            "/api/alice/tasks",
            json={"title": "Water plants", "due_date": "2026-12-01", "recurrence": "weekly"},
        )
    ).json()
    await client.patch(f"/api/alice/tasks/{task['id']}/complete")
    following = (await client.get("/api/alice/tasks", params={"status": "pending"})).json()

    events = outbox_events(clean_database)
    assert _types(events) == ["created", "completed", "created"]
    assert events[2]["data"] == following[0]
    assert events[2]["data"]["due_date"] == "2026-12-08"


async def test_sequence_numbers_count_per_user(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    for user in ("alice", "bob", "alice", "carol", "bob", "alice"):
        await client.post(f"/api/{user}/tasks", json={"title": "t"})

    by_user: dict[str, list[int]] = {}
    for event in outbox_events(clean_database):
        by_user.setdefault(event["userid"], []).append(event["userseq"])
    assert by_user == {"alice": [1, 2, 3], "bob": [1, 2], "carol": [1]}


async def test_a_deleted_user_takes_its_events_and_sequence_along_and_its_id_starts_afresh(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    # A completed recurring task: deleting the user deletes the first occurrence, whose
    # follower's `previous_occurrence_id` is set to null on the way (an update of a task of
    # a user being deleted), and both tasks. None of that may record an event (the outbox's
    # foreign key would refuse it and the deletion would fail): the user's sequence row goes
    # first (migration 0013's trigger on `users`).
    task = (
        await client.post(
            "/api/alice/tasks",
            json={"title": "Water plants", "due_date": "2026-12-01", "recurrence": "weekly"},
        )
    ).json()
    await client.patch(f"/api/alice/tasks/{task['id']}/complete")
    await client.post("/api/bob/tasks", json={"title": "stays"})
    assert [e["userseq"] for e in outbox_events(clean_database)] == [1, 2, 3, 1]

    clean_database.execute("DELETE FROM users WHERE id = 'alice'")

    assert [(e["userid"], e["userseq"]) for e in outbox_events(clean_database)] == [("bob", 1)]
    sequences = clean_database.execute(
        "SELECT user_id, last_seq FROM event_sequences ORDER BY 1"
    ).fetchall()
    assert sequences == [("bob", 1)]
    await client.post("/api/alice/tasks", json={"title": "again"})
    await client.post("/api/bob/tasks", json={"title": "on"})
    by_user = [(e["userid"], e["userseq"]) for e in outbox_events(clean_database)]
    assert by_user == [("bob", 1), ("alice", 1), ("bob", 2)]


async def test_writers_send_no_notify_whoever_listens(
    client: httpx.AsyncClient, clean_database: psycopg.Connection, server_url: URL
) -> None:
    """A notifying commit takes a database-wide lock until it is flushed, so concurrent
    writers of different users would commit one at a time: task changes and fired reminders
    only insert their outbox row (migration 0009), and live hubs hear of them from the
    announcer (live/announcer.py, tested in test_live_announcer.py)."""
    # LISTEN on the server itself, as hubs do (a transaction pooler cannot carry it).
    with psycopg.connect(libpq_url(server_url), autocommit=True) as listener:
        listener.execute("LISTEN todo_task_events")
        task = (await client.post("/api/alice/tasks", json={"title": "Call Bob"})).json()
        await client.patch(f"/api/alice/tasks/{task['id']}/complete")
        clean_database.execute(
            "INSERT INTO task_reminders (task_id, user_id, reminder, fire_at)"
            " VALUES (%s, 'alice', '{\"at\": \"2026-01-01T00:00:00Z\"}', now() - interval '1 s')",
            [task["id"]],
        )
        clean_database.execute("SELECT * FROM fire_due_reminders(10, interval '1 hour')")
        assert (await client.delete(f"/api/alice/tasks/{task['id']}")).status_code == 204
        assert [n.payload for n in listener.notifies(timeout=0.5)] == []
    assert [e["type"].rpartition(".")[2] for e in outbox_events(clean_database)] == [
        "created",
        "completed",
        "due",
        "deleted",
    ]


async def test_housekeeping_prunes_delivered_events_and_undelivered_ones_only_without_a_relay(
    client: httpx.AsyncClient,
    clean_database: psycopg.Connection,
    settings: Settings,
    running_app: FastAPI,
) -> None:
    for title in ("a", "b", "c"):
        await client.post("/api/alice/tasks", json={"title": title})
    clean_database.execute(
        "UPDATE task_events SET delivered_at = now() - interval '25 hours' WHERE seq = 1;"
        "UPDATE task_events SET delivered_at = now() - interval '23 hours' WHERE seq = 2;"
        "UPDATE task_events SET occurred_at = now() - interval '8 days' WHERE seq = 3;"
    )
    housekeeping = Housekeeping(
        running_app.state.worker_database, {"task events": pruning(settings)}
    )

    clean_database.execute("INSERT INTO event_relays VALUES ('relay', now() - interval '1 day')")
    removed = await housekeeping.run_once()  # a relay ran lately: it waits for its sink
    assert removed["task events"] == 1
    assert [event["userseq"] for event in outbox_events(clean_database)] == [2, 3]

    clean_database.execute("UPDATE event_relays SET seen_at = now() - interval '8 days'")
    removed = await housekeeping.run_once()  # no relay for longer than the retention
    assert removed["task events"] == 1
    assert [event["userseq"] for event in outbox_events(clean_database)] == [2]
