"""Concurrent writes: none lost, none failed."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    # Enough connections that the requests really run side by side in PostgreSQL.
    return create_app(settings.model_copy(update={"db_pool_size": 20}))


async def test_100_concurrent_toggles_flip_exactly_100_times(client: httpx.AsyncClient) -> None:
    task = (await client.post("/api/alice/tasks", json={"title": "flip"})).json()
    url = f"/api/alice/tasks/{task['id']}/complete"

    responses = await asyncio.gather(*(client.patch(url) for _ in range(100)))

    assert [response.status_code for response in responses] == [200] * 100
    # 100 flips of False end at False; every intermediate state was seen exactly 50 times.
    assert (await client.get(f"/api/alice/tasks/{task['id']}")).json()["completed"] is False
    states = [response.json()["completed"] for response in responses]
    assert states.count(True) == states.count(False) == 50
    stamps = sorted(response.json()["updated_at"] for response in responses)
    assert len(set(stamps)) == 100


async def test_101_concurrent_toggles_end_completed(client: httpx.AsyncClient) -> None:
    task = (await client.post("/api/alice/tasks", json={"title": "flip"})).json()
    url = f"/api/alice/tasks/{task['id']}/complete"
    await asyncio.gather(*(client.patch(url) for _ in range(101)))
    assert (await client.get(f"/api/alice/tasks/{task['id']}")).json()["completed"] is True


async def test_concurrent_first_writes_of_a_new_user_all_succeed(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/newcomer/tasks", json={"title": f"t{n}"}) for n in range(50))
    )

    assert [response.status_code for response in responses] == [201] * 50
    users = clean_database.execute("SELECT id FROM users").fetchall()
    assert users == [("newcomer",)]
    assert len((await client.get("/api/newcomer/tasks")).json()) == 50
