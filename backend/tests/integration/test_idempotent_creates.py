"""Idempotent creates: `Idempotency-Key` makes a retried POST create one task, never two."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import URL

from tests.support import bearer, running_server, sign
from todo_api.config import Settings
from todo_api.main import create_app
from todo_api.services.housekeeping import Housekeeping

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    # Enough connections that the concurrent creates really meet in PostgreSQL.
    return create_app(settings.model_copy(update={"db_pool_size": 20}))


def _count(connection: psycopg.Connection, user_id: str = "alice") -> int:
    row = connection.execute("SELECT count(*) FROM tasks WHERE user_id = %s", [user_id]).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_repeat_with_the_same_key_and_body_replays_the_first_answer(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    headers = {"Idempotency-Key": "3f1c-retry-me"}
    body = {"title": "Pay rent", "tags": ["home"], "due_date": "2026-12-01"}
    first = await client.post(TASKS, json=body, headers=headers)
    second = await client.post(TASKS, json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["etag"] == first.headers["etag"]
    assert _count(clean_database) == 1
    # The same request once normalized (key order, a tag spelled twice) is the same body.
    reordered = {"tags": ["home", "HOME"], "due_date": "2026-12-01", "title": "Pay rent"}
    assert (await client.post(TASKS, json=reordered, headers=headers)).status_code == 201
    assert _count(clean_database) == 1


async def test_a_replay_shows_the_task_as_it_is_now_or_says_it_was_deleted(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "k1"}
    created = await client.post(TASKS, json={"title": "a"}, headers=headers)
    url = created.headers["location"]
    await client.patch(f"{url}/complete")
    replay = await client.post(TASKS, json={"title": "a"}, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["completed"] is True

    await client.delete(url)
    gone = await client.post(TASKS, json={"title": "a"}, headers=headers)
    assert gone.status_code == 404
    assert "deleted" in gone.json()["detail"]


async def test_the_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    headers = {"Idempotency-Key": "k1"}
    await client.post(TASKS, json={"title": "a"}, headers=headers)
    response = await client.post(TASKS, json={"title": "b"}, headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert _count(clean_database) == 1


async def test_keys_are_per_user(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    headers = {"Idempotency-Key": "shared"}
    alice = await client.post(TASKS, json={"title": "a"}, headers=headers)
    bob = await client.post("/api/bob/tasks", json={"title": "b"}, headers=headers)
    assert alice.status_code == bob.status_code == 201
    assert "idempotent-replayed" not in bob.headers
    assert bob.json()["user_id"] == "bob"
    assert bob.json()["title"] == "b"
    assert _count(clean_database, "bob") == 1


@pytest.mark.parametrize("key", ["", "with space", "é", "x" * 256, "tab\there"])
async def test_a_key_outside_1_to_255_visible_ascii_is_422(
    client: httpx.AsyncClient, clean_database: psycopg.Connection, key: str
) -> None:
    response = await client.post(
        TASKS, json={"title": "a"}, headers={b"Idempotency-Key": key.encode("utf-8")}
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert _count(clean_database) == 0


async def test_100_concurrent_creates_with_one_key_make_one_task(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    headers = {"Idempotency-Key": "one-key"}
    responses = await asyncio.gather(
        *(client.post(TASKS, json={"title": "once"}, headers=headers) for _ in range(100))
    )

    assert [response.status_code for response in responses] == [201] * 100
    assert len({response.json()["id"] for response in responses}) == 1
    replayed = [response.headers.get("idempotent-replayed") for response in responses]
    assert replayed.count(None) == 1
    assert replayed.count("true") == 99
    assert _count(clean_database) == 1
    keys = clean_database.execute("SELECT count(*) FROM idempotency_keys").fetchone()
    assert keys == (1,)


async def test_the_key_and_the_task_are_written_together(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    # One statement writes both: when the key's insert fails, the task is not created either
    # (a constraint added for the test makes it fail).
    clean_database.execute(
        "ALTER TABLE idempotency_keys ADD CONSTRAINT no_k CHECK (key <> 'forbidden')"
    )
    try:
        response = await client.post(
            TASKS, json={"title": "a"}, headers={"Idempotency-Key": "forbidden"}
        )
    finally:
        clean_database.execute("ALTER TABLE idempotency_keys DROP CONSTRAINT no_k")
    assert response.status_code == 409
    assert _count(clean_database) == 0


def test_a_repeat_after_a_server_restart_replays(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> None:
    headers = {**bearer(sign("alice")), "Idempotency-Key": "across-restarts"}
    answers = []
    for _ in range(2):
        with running_server(migrated_database, tmp_path) as (base, _process):
            answers.append(httpx.post(f"{base}{TASKS}", json={"title": "t"}, headers=headers))
    first, second = answers
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert _count(clean_database) == 1


async def test_housekeeping_removes_expired_keys_and_tombstones_only(
    running_app: FastAPI, client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    for n in range(3):
        await client.post(TASKS, json={"title": "t"}, headers={"Idempotency-Key": f"k{n}"})
    for task_id in (1, 2):
        await client.delete(f"{TASKS}/{task_id}")
    clean_database.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 second' "
        "WHERE key <> 'k2'"
    )
    clean_database.execute(
        "UPDATE task_tombstones SET deleted_at = now() - interval '31 days 1 second' "
        "WHERE task_id = 1"
    )

    removed = await Housekeeping(running_app.state.worker_database).run_once()

    assert removed == {"idempotency keys": 2, "tombstones": 1}
    assert clean_database.execute("SELECT key FROM idempotency_keys").fetchall() == [("k2",)]
    assert clean_database.execute("SELECT task_id FROM task_tombstones").fetchall() == [(2,)]
    # An expired key is free again: the same key makes a new task.
    again = await client.post(TASKS, json={"title": "t"}, headers={"Idempotency-Key": "k0"})
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
