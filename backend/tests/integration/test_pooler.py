"""Through PgBouncer in transaction mode, the default configuration loses nothing.

With server-side prepared statements (psycopg's default after 5 executions), PgBouncer 1.18
ran one client's parameters against another client's statement: GETs answered 500, and
tasks that had been created (201) and never deleted vanished, deleted by someone else's
prepared DELETE. The default now prepares nothing; this test drives every operation from
several clients at once through a real PgBouncer and checks each acknowledged write and that
no answer holds another user's task. Another takes the app's user filter away and checks that
row-level security alone keeps concurrent users apart through the same pooler.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.engine import URL
from sqlmodel import col

from tests.pgbouncer import running_pgbouncer
from tests.support import libpq_url, make_settings, owner_client
from todo_api.database.app_login import APP_LOGIN
from todo_api.database.engine import create_engine
from todo_api.database.runner import Database
from todo_api.database.wall import ACTING
from todo_api.live.announcer import ANNOUNCER_LOCK_KEY, take_turn
from todo_api.main import create_app
from todo_api.models import Task

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
                    continue
                body = response.json()
                owners = {task["user_id"] for task in (body if isinstance(body, list) else [body])}
                if owners - {user}:
                    failures.append(f"{user} was answered with the tasks of {owners - {user}}")
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


async def test_without_the_user_filter_concurrent_users_through_the_pooler_reach_only_their_rows(
    pooler_url: URL, clean_database: psycopg.Connection
) -> None:
    """The second wall alone, behind PgBouncer in transaction mode, many users at once:
    statements that leave out the app's user filter (only the gate names a user), from the
    app's own Database over the pooler, their transactions interleaved on shared server
    connections. Each read holds only its user's rows, each update changes only them, and a
    statement with no user sees nothing: an acting user carried from one transaction (or
    client) to the next would show here."""
    users = [f"user{n}" for n in range(CLIENTS)]
    clean_database.execute("INSERT INTO users (id) SELECT unnest(%s::text[])", [users])
    clean_database.execute(
        "INSERT INTO tasks (user_id, title) SELECT u, u || ' ' || g"
        " FROM unnest(%s::text[]) AS u, generate_series(1, 3) AS g",
        [users],
    )
    engine = create_engine(make_settings(pooler_url), pooler_url)
    database = Database(engine, 10.0)
    failures: list[str] = []

    async def client(user: str) -> None:
        for round_ in range(ROUNDS):
            read = await database.rows(select(col(Task.user_id)).where(ACTING), {"owner": user})
            if sorted(row[0] for row in read) != [user] * 3:
                failures.append(f"{user} read {sorted(row[0] for row in read)}")
            renamed = update(Task).where(ACTING).values(title=f"{user} {round_}")
            changed = await database.rows(renamed.returning(col(Task.user_id)), {"owner": user})
            if sorted(row[0] for row in changed) != [user] * 3:
                failures.append(f"{user} changed {sorted(row[0] for row in changed)}")
            nobody = await database.rows(select(func.count()).select_from(Task))
            if nobody[0][0] != 0:
                failures.append(f"a statement without a user saw {nobody[0][0]} tasks")

    try:
        await asyncio.gather(*(client(user) for user in users))
    finally:
        await engine.dispose()
    assert failures == []
    titles = clean_database.execute(
        "SELECT user_id, array_agg(DISTINCT title) FROM tasks GROUP BY user_id"
    ).fetchall()
    assert dict(titles) == {user: [f"{user} {ROUNDS - 1}"] for user in users}


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
