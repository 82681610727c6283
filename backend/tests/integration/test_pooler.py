"""Through PgBouncer in transaction mode, the default configuration loses nothing.

With server-side prepared statements (psycopg's default after 5 executions), PgBouncer 1.18
ran one client's parameters against another client's statement: GETs answered 500, and
tasks that had been created (201) and never deleted vanished, deleted by someone else's
prepared DELETE. The default now prepares nothing; this test drives every operation from
several clients at once through a real PgBouncer and checks each acknowledged write.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.pgbouncer import running_pgbouncer
from tests.support import libpq_url, make_settings, owner_client
from todo_api.database.app_login import APP_LOGIN
from todo_api.live.announcer import ANNOUNCER_LOCK_KEY, take_turn
from todo_api.main import create_app

pytestmark = pytest.mark.anyio

CLIENTS = 8
ROUNDS = 25  # each client: 25 rounds of all six operations (well past psycopg's 5)


@pytest.fixture
def pooler_url(server_url: URL, migrated_database: URL) -> Iterator[URL]:
    with running_pgbouncer(server_url) as url:
        yield url.set(username=APP_LOGIN)  # as the app connects: behind row-level security


@pytest.fixture
async def pooled_client(
    pooler_url: URL, clean_database: psycopg.Connection
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(make_settings(pooler_url))  # default settings otherwise
    async with owner_client(app) as http:
        yield http


async def test_no_acknowledged_write_is_lost_behind_a_transaction_pooler(
    pooled_client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    kept: dict[int, str] = {}  # task id -> user, for every 201 never deleted
    failures: list[str] = []

    async def client(user: str) -> None:
        tasks = f"/api/{user}/tasks"
        mine: list[int] = []
        for round_ in range(ROUNDS):
            for title in (f"{user} {round_} a", f"{user} {round_} b"):
                created = await pooled_client.post(tasks, json={"title": title})
                if created.status_code != 201:
                    failures.append(f"create {created.status_code} {created.text}")
                    continue
                mine.append(created.json()["id"])
                kept[created.json()["id"]] = user
            if not mine:
                continue
            task_id = random.choice(mine)
            for response in (
                await pooled_client.get(f"{tasks}/{task_id}"),
                await pooled_client.get(tasks),
                await pooled_client.patch(f"{tasks}/{task_id}/complete"),
                await pooled_client.put(f"{tasks}/{task_id}", json={"title": "renamed"}),
            ):
                if response.status_code != 200:
                    failures.append(f"{response.request.method} {response.status_code}")
                elif "id" in response.text and f'"user_id":"{user}"' not in response.text:
                    failures.append(f"{user} was answered with another user's data")
            victim = mine.pop(0)
            deleted = await pooled_client.delete(f"{tasks}/{victim}")
            if deleted.status_code != 204:
                failures.append(f"delete {deleted.status_code}")
            else:
                del kept[victim]

    await asyncio.gather(*(client(f"user{n}") for n in range(CLIENTS)))

    rows: dict[int, str] = dict(clean_database.execute("SELECT id, user_id FROM tasks").fetchall())
    lost = {task_id for task_id in kept if task_id not in rows}
    assert failures == []
    assert lost == set(), f"{len(lost)} of {len(kept)} acknowledged tasks vanished"
    assert {task_id: rows[task_id] for task_id in kept} == kept
    assert len(kept) == CLIENTS * ROUNDS


async def test_the_announcers_turn_is_declined_through_a_pooler(
    pooler_url: URL, admin_connection: psycopg.Connection
) -> None:
    """A session lock taken through a transaction pooler stays on a server connection other
    clients share: the hub declines the turn (and polls) and gives the lock back."""
    async with await psycopg.AsyncConnection.connect(
        libpq_url(pooler_url), autocommit=True, prepare_threshold=None
    ) as pooled:
        assert await take_turn(pooled) is None
    held = admin_connection.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s::bigint",
        [ANNOUNCER_LOCK_KEY],
    ).fetchone()
    assert held == (0,)
