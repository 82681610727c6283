"""Delivering task events to NATS JetStream (a real `nats-server -js` of the test's own):
at least once, in order per user, nothing lost across broker outages and relay crashes."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.events_support import (
    NatsServer,
    all_delivered,
    outbox_events,
    running_nats,
    seed,
    stored_count,
    stream_events,
    undelivered,
)
from tests.integration.test_mcp import call, connect
from tests.support import (
    ROOT,
    PathUserAuth,
    metric_value,
    running_server,
    serving,
    worker_login_url,
)
from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    with running_nats(tmp_path) as server:
        yield server


@pytest.fixture
def app(settings: Settings, nats_server: NatsServer) -> FastAPI:
    return create_app(
        settings.model_copy(update={"events_url": nats_server.url, "events_poll_seconds": 0.02})
    )


async def test_every_event_reaches_the_stream_once_in_order_with_its_id_as_msg_id(
    client: httpx.AsyncClient, clean_database: psycopg.Connection, nats_server: NatsServer
) -> None:
    task = (await client.post("/api/alice/tasks", json={"title": "Buy milk"})).json()
    await client.put(f"/api/alice/tasks/{task['id']}", json={"title": "Buy oat milk"})
    await client.patch(f"/api/alice/tasks/{task['id']}/complete")
    await client.post("/api/bob/tasks", json={"title": "Call mum"})
    await client.delete(f"/api/alice/tasks/{task['id']}")
    await all_delivered(clean_database)

    received = await stream_events(nats_server.url, 5)
    assert [event for _, event in received] == outbox_events(clean_database)
    assert [msg_id for msg_id, _ in received] == [event["id"] for _, event in received]
    assert await stored_count(nats_server.url) == 5


async def test_writes_go_on_while_the_broker_is_down_and_nothing_is_lost_when_it_returns(
    client: httpx.AsyncClient,
    clean_database: psycopg.Connection,
    nats_server: NatsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The broker is stopped for 30 s during writes: every write succeeds, the outbox grows,
    a warning says delivery fails, and after the broker returns every event arrives, in
    order per user, each once."""
    await client.post("/api/alice/tasks", json={"title": "before"})
    await all_delivered(clean_database)
    nats_server.stop()
    outage_ends = asyncio.get_running_loop().time() + 30
    written = 1
    with caplog.at_level(logging.WARNING, logger="todo_api.events.relay"):
        while asyncio.get_running_loop().time() < outage_ends:
            for user in ("alice", "bob"):
                response = await client.post(f"/api/{user}/tasks", json={"title": "during"})
                assert response.status_code == 201
                written += 1
            await asyncio.sleep(0.5)
        assert undelivered(clean_database) == written - 1
        assert "event delivery to nats failing" in caplog.text
        assert (await client.get("/ready")).status_code == 200  # the API is still ready
        metrics = (await client.get("/metrics")).text
        assert metric_value(metrics, "todo_api_events_backlog") > 0
        nats_server.start()
        await all_delivered(clean_database, within=30)

    received = await stream_events(nats_server.url, written)
    assert [event for _, event in received] == outbox_events(clean_database)
    assert await stored_count(nats_server.url) == written


async def test_concurrent_writers_through_rest_and_mcp_are_told_exactly_what_committed(
    app: FastAPI, clean_database: psycopg.Connection, nats_server: NatsServer
) -> None:
    """Random writes of four users at once, three through REST and one through MCP tools,
    some bound to fail (stale versions, unknown ids): the events, deduplicated by id, are
    exactly the committed changes, numbered 1, 2, 3... per user in commit order."""
    rng = random.Random(23)
    committed: list[dict[str, Any]] = []  # the task (or deletion) each successful write left
    ids: dict[str, list[int]] = {"alice": [], "bob": [], "carol": [], "dave": []}

    async def rest_writer(http: httpx.AsyncClient, user: str) -> None:
        known = ids[user]
        for _ in range(40):
            choice = rng.random()
            if choice < 0.35 or not known:
                response = await http.post(f"/api/{user}/tasks", json={"title": "t"})
            else:
                path = f"/api/{user}/tasks/{rng.choice([*known, 999_999])}"
                stale = {"If-Match": '"stale"'} if rng.random() < 0.2 else {}
                if choice < 0.6:
                    response = await http.put(path, json={"title": "u"}, headers=stale)
                elif choice < 0.85:
                    response = await http.patch(f"{path}/complete", headers=stale)
                else:
                    response = await http.delete(path, headers=stale)
            if response.status_code in (200, 201):
                committed.append(response.json())
                if response.status_code == 201:
                    known.append(response.json()["id"])
            elif response.status_code == 204:
                deleted = int(response.request.url.path.rsplit("/", 1)[1])
                known.remove(deleted)
                committed.append({"id": deleted, "user_id": user})
            else:
                assert response.status_code in (404, 412), response.text

    async def mcp_writer(base: str) -> None:
        known = ids["dave"]
        async with connect(base, "dave") as tools:
            for _ in range(30):
                choice = rng.random()
                if choice < 0.4 or not known:
                    result = await call(tools, "add_task", title="m")
                    if not result.is_error:
                        known.append(result.structured_content["id"])
                elif choice < 0.7:
                    result = await call(tools, "update_task", task_id=rng.choice(known), title="v")
                elif choice < 0.9:
                    result = await call(tools, "complete_task", task_id=rng.choice(known))
                else:
                    task_id = rng.choice(known)
                    result = await call(tools, "delete_task", task_id=task_id)
                    known.remove(task_id)
                    committed.append({"id": task_id, "user_id": "dave"})
                    continue
                assert not result.is_error, result.content
                committed.append(result.structured_content)

    async with serving(app) as base, httpx.AsyncClient(base_url=base, auth=PathUserAuth()) as http:
        await asyncio.gather(
            *(rest_writer(http, user) for user in ("alice", "bob", "carol")), mcp_writer(base)
        )
        await all_delivered(clean_database)

    received = await stream_events(nats_server.url, len(committed))
    unique = {event["id"]: event for _, event in received}
    assert len(unique) == len(received) == len(committed)

    def key(data: dict[str, Any]) -> tuple[int, str]:
        return data["id"], data.get("updated_at", "")

    assert sorted(key(event["data"]) for _, event in received) == sorted(map(key, committed))
    for user in ids:
        numbers = [event["userseq"] for _, event in received if event["userid"] == user]
        assert numbers == list(range(1, len(numbers) + 1))


SEED = """
INSERT INTO users (id) SELECT 'user-' || n FROM generate_series(1, 20) AS n;
INSERT INTO tasks (user_id, title)
SELECT 'user-' || (n % 20 + 1), 'Task ' || n FROM generate_series(1, {count}) AS n;
"""


def _worker_url(app_url: URL) -> str:
    worker = worker_login_url(app_url)
    assert worker is not None
    return worker.render_as_string(hide_password=False)


def _relay_process(
    migrated_database: URL, nats_server: NatsServer, cwd: Path
) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": migrated_database.render_as_string(hide_password=False),
        # As deployed with a login for the worker: the relay connects with it.
        "WORKER_DATABASE_URL": _worker_url(migrated_database),
        "EVENTS_URL": nats_server.url,
        "EVENTS_BATCH_SIZE": "200",
    }
    with (cwd / "relay.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "todo_api", "relay"], cwd=cwd, env=environment, stderr=log
        )


async def test_a_relay_killed_mid_batch_loses_nothing_and_redelivers_with_the_same_ids(
    migrated_database: URL,
    clean_database: psycopg.Connection,
    nats_server: NatsServer,
    tmp_path: Path,
) -> None:
    """SIGKILL while a 20,000-event backlog drains, then a fresh relay: every event is in the
    stream exactly once (JetStream drops the redelivered ones by Nats-Msg-Id), in order per
    user."""
    total = 20_000
    seed(clean_database, SEED.replace("{count}", str(total)))
    first = _relay_process(migrated_database, nats_server, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while await stored_count(nats_server.url) < 2_000:
            assert time.monotonic() < deadline
            assert first.poll() is None
            await asyncio.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert undelivered(clean_database) > 0  # it died with work left
    finally:
        if first.poll() is None:
            first.kill()
    second = _relay_process(migrated_database, nats_server, tmp_path)
    try:
        await all_delivered(clean_database, within=60)
    finally:
        second.terminate()
        assert second.wait(timeout=15) == 0

    received = await stream_events(nats_server.url, total, within=60)
    assert await stored_count(nats_server.url) == total
    assert [event["id"] for _, event in received] == [
        e["id"] for e in outbox_events(clean_database)
    ]
    for user in {event["userid"] for _, event in received}:
        numbers = [event["userseq"] for _, event in received if event["userid"] == user]
        assert numbers == list(range(1, len(numbers) + 1))


async def test_two_servers_with_relays_deliver_each_event_once(
    migrated_database: URL,
    clean_database: psycopg.Connection,
    nats_server: NatsServer,
    tmp_path: Path,
) -> None:
    """Two `serve` processes, each running its relay, while both take writes: the relays
    take turns, so together they publish each event once (no duplicate for JetStream to
    drop), in order per user."""
    env = {"EVENTS_URL": nats_server.url, "EVENTS_POLL_SECONDS": "0.02"}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with (
        running_server(migrated_database, tmp_path / "one", serve=True, env=env) as (one, _),
        running_server(migrated_database, tmp_path / "two", serve=True, env=env) as (two, _),
    ):
        async with (
            httpx.AsyncClient(base_url=one, auth=PathUserAuth()) as first,
            httpx.AsyncClient(base_url=two, auth=PathUserAuth()) as second,
        ):

            async def write(http: httpx.AsyncClient, user: str) -> None:
                for index in range(60):
                    response = await http.post(f"/api/{user}/tasks", json={"title": f"{index}"})
                    assert response.status_code == 201
                    await asyncio.sleep(0.005)

            await asyncio.gather(
                write(first, "alice"), write(second, "alice"), write(second, "bob")
            )
            await all_delivered(clean_database)
            published = [
                metric_value(
                    (await http.get("/metrics")).text,
                    "todo_api_events_delivered_total",
                    channel="task-events",
                )
                for http in (first, second)
            ]

    assert sum(published) == 180
    assert await stored_count(nats_server.url) == 180
    received = await stream_events(nats_server.url, 180)
    for user in ("alice", "bob"):
        numbers = [event["userseq"] for _, event in received if event["userid"] == user]
        assert numbers == list(range(1, len(numbers) + 1))


async def test_the_readme_consumer_prints_each_event_once(
    client: httpx.AsyncClient, clean_database: psycopg.Connection, nats_server: NatsServer
) -> None:
    """The README's consumer, run as written (only the server's address changed)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    source = re.search(r"```python\n(import asyncio, json, nats\n.*?)```", readme, re.DOTALL)
    assert source is not None
    program = source.group(1).replace("nats://127.0.0.1:4222", nats_server.url)
    task = (await client.post("/api/alice/tasks", json={"title": "Buy milk"})).json()
    await client.patch(f"/api/alice/tasks/{task['id']}/complete")
    await all_delivered(clean_database)

    consumer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", program, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert consumer.stdout is not None
        lines = [
            (await asyncio.wait_for(consumer.stdout.readline(), 15)).decode() for _ in range(2)
        ]
    finally:
        consumer.kill()
        await consumer.wait()
    assert lines[0].startswith("com.todoapi.task.created alice 1 {")
    assert lines[1].startswith("com.todoapi.task.completed alice 2 {")
