"""The cursor key: kept in the database, read once per process, only when a cursor needs it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.support import free_port, make_settings, owner_client
from todo_api.database.engine import create_engine
from todo_api.database.runner import Database
from todo_api.database.server_keys import ServerKeys
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


def database_at(url: URL, deadline: float = 5.0) -> Database:
    settings = make_settings(url)
    return Database(create_engine(settings, url), deadline)


async def test_concurrent_first_requests_share_one_read_of_the_key(
    migrated_database: URL,
) -> None:
    database, keys = database_at(migrated_database), ServerKeys()
    try:
        first = await asyncio.gather(*(keys.cursor_key(database) for _ in range(20)))
        assert all(key is first[0] for key in first)  # one read, one AEAD object
        assert await keys.cursor_key(database) is first[0]
    finally:
        await database.engine.dispose()


async def test_a_failed_read_is_tried_again_by_the_next_request(migrated_database: URL) -> None:
    down = migrated_database.set(host="127.0.0.1", port=free_port())
    unreachable, keys = database_at(down, deadline=1.0), ServerKeys()
    database = database_at(migrated_database)
    try:
        with pytest.raises(Exception):  # noqa: B017,PT011  (503 in the app: timeout or refused)
            await keys.cursor_key(unreachable)
        assert keys.cursor_aead is None
        assert await keys.cursor_key(database) is keys.cursor_aead is not None
    finally:
        await unreachable.engine.dispose()
        await database.engine.dispose()


async def test_every_process_reads_the_same_key_so_any_worker_opens_any_cursor(
    migrated_database: URL, clean_database: object
) -> None:
    """Two apps (two workers, or a restart): a cursor one issued, the other follows."""
    settings = make_settings(migrated_database)
    one, two = create_app(settings), create_app(settings)
    async with owner_client(one) as first, owner_client(two) as second:
        for title in ("a", "b"):
            assert (await first.post("/api/alice/tasks", json={"title": title})).status_code == 201
        page = await first.get("/api/alice/tasks", params={"limit": 1})
        target = page.headers["link"].removeprefix("<").split(">", 1)[0]
        following = await second.get(target)
        assert following.status_code == 200, following.text
        assert [task["title"] for task in following.json()] == ["a"]
        changes = (await first.get("/api/alice/tasks/changes")).json()["cursor"]
        again = await second.get("/api/alice/tasks/changes", params={"since": changes})
        assert again.status_code == 200, again.text


async def test_requests_without_cursors_never_read_the_key(
    client: httpx.AsyncClient, running_app: FastAPI
) -> None:
    assert (await client.post("/api/alice/tasks", json={"title": "a"})).status_code == 201
    assert (await client.get("/api/alice/tasks")).status_code == 200
    assert (await client.get("/api/alice/tasks", params={"limit": 5})).status_code == 200
    assert running_app.state.server_keys.cursor_aead is None
    assert (
        await client.get("/api/alice/tasks", params={"limit": 5, "cursor": "x"})
    ).status_code == 400
    assert running_app.state.server_keys.cursor_aead is not None
