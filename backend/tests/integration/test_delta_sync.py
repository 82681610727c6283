"""The changes feed: following cursors keeps a local copy equal to the server's list."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from fastapi import FastAPI

from tests.integration.test_list_query import cursor_key, edited
from todo_api.config import Settings
from todo_api.main import create_app
from todo_api.services.lists.cursors import b64encode
from todo_api.services.sync.cursors import SyncPosition, encode_sync_cursor

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"
CHANGES = "/api/alice/tasks/changes"


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"db_pool_size": 20}))


class Replica:
    """What a client keeps: tasks by id, and the cursor to continue from."""

    def __init__(self) -> None:
        self.tasks: dict[int, dict[str, Any]] = {}
        self.cursor: str | None = None

    async def sync(self, client: httpx.AsyncClient, limit: int = 1000) -> int:
        """Follow the feed to its end; the number of calls it took."""
        calls = 0
        while True:
            params: dict[str, Any] = {"limit": limit}
            if self.cursor is not None:
                params["since"] = self.cursor
            response = await client.get(CHANGES, params=params)
            assert response.status_code == 200, response.text
            answer = response.json()
            calls += 1
            for task in answer["changed"]:
                self.tasks[task["id"]] = task
            for task_id in answer["deleted"]:
                self.tasks.pop(task_id, None)
            self.cursor = answer["cursor"]
            if not answer["has_more"]:
                return calls


async def _server_list(client: httpx.AsyncClient) -> dict[int, dict[str, Any]]:
    return {task["id"]: task for task in (await client.get(TASKS)).json()}


async def test_a_first_sync_has_everything_and_the_next_only_what_changed(
    client: httpx.AsyncClient,
) -> None:
    ids = [(await client.post(TASKS, json={"title": f"t{n}"})).json()["id"] for n in range(3)]
    replica = Replica()
    await replica.sync(client)
    assert replica.tasks == await _server_list(client)

    empty = (await client.get(CHANGES, params={"since": replica.cursor})).json()
    assert empty["changed"] == []
    assert empty["deleted"] == []
    assert empty["has_more"] is False

    await client.put(f"{TASKS}/{ids[0]}", json={"title": "renamed"})
    await client.patch(f"{TASKS}/{ids[1]}/complete")
    await client.delete(f"{TASKS}/{ids[2]}")
    new = (await client.post(TASKS, json={"title": "new"})).json()
    answer = (await client.get(CHANGES, params={"since": replica.cursor})).json()

    assert [task["id"] for task in answer["changed"]] == [ids[0], ids[1], new["id"]]
    assert answer["changed"][0]["title"] == "renamed"
    assert answer["changed"][1]["completed"] is True
    assert answer["deleted"] == [ids[2]]


async def test_a_write_committed_after_the_cursor_was_taken_is_not_missed(
    client: httpx.AsyncClient, clean_database: psycopg.Connection, settings: Settings
) -> None:
    """The case a timestamp cursor gets wrong: a transaction that wrote before the cursor
    was taken but committed after it."""
    task = (await client.post(TASKS, json={"title": "before"})).json()
    replica = Replica()
    await replica.sync(client)

    with psycopg.connect(clean_database.info.dsn, prepare_threshold=None) as writer:
        writer.execute(
            "UPDATE tasks SET title = 'slow commit', updated_at = clock_timestamp(), "
            "change_xid = pg_current_xact_id() WHERE id = %s",
            [task["id"]],
        )
        await replica.sync(client)  # taken while the write is still uncommitted
        assert replica.tasks[task["id"]]["title"] == "before"
        writer.commit()

    await replica.sync(client)
    assert replica.tasks[task["id"]]["title"] == "slow commit"


async def test_long_answers_come_in_pages_and_changes_between_pages_are_kept(
    client: httpx.AsyncClient,
) -> None:
    ids = [(await client.post(TASKS, json={"title": f"t{n}"})).json()["id"] for n in range(5)]
    first = (await client.get(CHANGES, params={"limit": 2})).json()
    assert [task["id"] for task in first["changed"]] == ids[:2]
    assert first["has_more"] is True

    # Changed after the first page was read: one already sent, one not yet.
    await client.put(f"{TASKS}/{ids[0]}", json={"title": "changed after page 1"})
    await client.delete(f"{TASKS}/{ids[3]}")
    rest = (await client.get(CHANGES, params={"since": first["cursor"], "limit": 2})).json()
    assert [task["id"] for task in rest["changed"]] == [ids[2], ids[4]]
    assert rest["has_more"] is False

    # The next sync starts where the first page was read: both changes come.
    later = (await client.get(CHANGES, params={"since": rest["cursor"]})).json()
    assert [task["id"] for task in later["changed"]] == [ids[0]]
    assert later["changed"][0]["title"] == "changed after page 1"
    assert later["deleted"] == [ids[3]]


async def test_another_users_changes_never_appear(client: httpx.AsyncClient) -> None:
    replica = Replica()
    await replica.sync(client)
    bob_task = (await client.post("/api/bob/tasks", json={"title": "bob"})).json()
    await client.delete(f"/api/bob/tasks/{bob_task['id']}")
    answer = (await client.get(CHANGES, params={"since": replica.cursor})).json()
    assert answer["changed"] == []
    assert answer["deleted"] == []


async def test_cursors_of_another_user_or_edited_are_400(
    client: httpx.AsyncClient, admin_connection: psycopg.Connection
) -> None:
    replica = Replica()
    await replica.sync(client)
    assert replica.cursor is not None
    for cursor in (
        "nonsense",
        edited(replica.cursor, 0),
        edited(replica.cursor, 20),
        edited(replica.cursor, -1),
        replica.cursor[:-3],
        replica.cursor + "AAAA",
    ):
        response = await client.get(CHANGES, params={"since": cursor})
        assert response.status_code == 400, cursor
    bob = await client.get("/api/bob/tasks/changes", params={"since": replica.cursor})
    assert bob.status_code == 400
    # Even sealed with the server's key, a snapshot that is not one never reaches the database.
    at, key = datetime.now(UTC), cursor_key(admin_connection)
    for snapshot in ("5:3:", "3:9:10", "3:9:7,5", "0:0:", "1:2:x", "-1:2:", f"1:{2**63}:"):
        cursor = encode_sync_cursor(key, "alice", SyncPosition(snapshot, at))
        response = await client.get(CHANGES, params={"since": cursor})
        assert response.status_code == 400, snapshot


def unkeyed_v1(user_id: str, payload: Sequence[object]) -> str:
    """A changes cursor in the old, unkeyed format: anyone could compute its check."""
    raw = orjson.dumps(payload)
    check = hashlib.sha256(orjson.dumps(["changes", user_id]) + raw).digest()[:16]
    return f"{b64encode(raw)}.{b64encode(check)}"


async def test_a_cursor_the_server_did_not_issue_is_400_not_410_or_500(
    client: httpx.AsyncClient,
) -> None:
    now = datetime.now(UTC).isoformat()
    for payload in (
        [1, f"{2**40}:{2**40}:", now, None, None, None],  # a `since` in the future
        [1, "5:5:", "2000-01-01T00:00:00+00:00", None, None, None],  # an ancient one
        [1, "5:5:", now, "5:5:", now, 2**63],  # an id beyond bigint
        [1, None, None, None, None, None],
    ):
        response = await client.get(CHANGES, params={"since": unkeyed_v1("alice", payload)})
        assert response.status_code == 400, (payload, response.text)
        assert "cursor is not valid" in response.json()["detail"]


async def test_a_cursor_older_than_the_tombstones_or_from_elsewhere_is_410(
    client: httpx.AsyncClient, admin_connection: psycopg.Connection
) -> None:
    key = cursor_key(admin_connection)
    long_ago = datetime.now(UTC) - timedelta(days=31)
    old = encode_sync_cursor(key, "alice", SyncPosition("5:5:", long_ago))
    response = await client.get(CHANGES, params={"since": old})
    assert response.status_code == 410
    assert "without `since`" in response.json()["detail"]

    # One the server did issue, against a database restored from an older backup.
    future = encode_sync_cursor(key, "alice", SyncPosition(f"{2**40}:{2**40}:", datetime.now(UTC)))
    assert (await client.get(CHANGES, params={"since": future})).status_code == 410


async def test_a_replica_following_cursors_under_concurrent_random_writes_ends_equal(
    client: httpx.AsyncClient,
) -> None:
    """Several writers create, edit, toggle and delete at random while a client syncs
    through cursors (in small pages); once the writers stop, one more sync makes the
    client's copy exactly the server's list."""
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    ids: list[int] = []

    async def writer(number: int) -> None:
        for step in range(40):
            action = rng.choice(["create", "create", "update", "toggle", "delete"])
            if action == "create" or not ids:
                body = {"title": f"w{number} s{step}", "tags": [f"w{number}"]}
                ids.append((await client.post(TASKS, json=body)).json()["id"])
                continue
            task_id = rng.choice(ids)
            if action == "update":
                await client.put(f"{TASKS}/{task_id}", json={"title": f"w{number} edit {step}"})
            elif action == "toggle":
                await client.patch(f"{TASKS}/{task_id}/complete")
            else:
                await client.delete(f"{TASKS}/{task_id}")
            await asyncio.sleep(rng.random() / 200)

    replica = Replica()

    async def syncer(stop: asyncio.Event) -> int:
        rounds = 0
        while not stop.is_set():
            await replica.sync(client, limit=rng.choice([3, 10, 1000]))
            rounds += 1
            await asyncio.sleep(rng.random() / 100)
        return rounds

    stop = asyncio.Event()
    sync_task = asyncio.create_task(syncer(stop))
    await asyncio.gather(*(writer(number) for number in range(4)))
    stop.set()
    rounds = await sync_task
    await replica.sync(client, limit=7)

    server = await _server_list(client)
    assert rounds > 3
    assert len(server) > 10
    assert replica.tasks == server, f"seed {seed}"


async def test_the_feed_is_not_a_task_id(client: httpx.AsyncClient) -> None:
    response = await client.put(CHANGES, json={"title": "x"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    # Any other segment is still a task id, validated as one.
    assert (await client.put(f"{TASKS}/changesx", json={"title": "x"})).status_code == 422
