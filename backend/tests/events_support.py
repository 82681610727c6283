"""Helpers for the event tests: the outbox as rendered events, and a NATS server of their own."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg.rows import namedtuple_row

from tests.support import free_port
from todo_api.events.cloudevents import render

OUTBOX = (
    "SELECT id, event_id, user_id, seq, type, task_id, task, detail, occurred_at"
    " FROM task_events ORDER BY id"
)


def outbox_events(
    connection: psycopg.Connection, source: str = "/todo-api"
) -> list[dict[str, Any]]:
    """Every recorded event, as the relay would send it (parsed back from JSON)."""
    with connection.cursor(row_factory=namedtuple_row) as cursor:
        rows = cursor.execute(OUTBOX).fetchall()
    return [orjson.loads(render(row, source).body) for row in rows]


def nats_server_binary() -> str:
    """Debian's nats-server; without it the broker tests skip, except in CI (they fail)."""
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nats-server is not installed (.ci/run installs Debian's package)")
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    return found


class NatsServer:
    """`nats-server -js` on a port of its own, with its store in `store`: stop and start it
    again (same port, same stored stream) to play a broker outage."""

    def __init__(self, store: Path) -> None:
        self.binary = nats_server_binary()
        self.port = free_port()
        self.store = store
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            self.binary,
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store),
        ]
        with (self.store.parent / "nats.log").open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not _accepts(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nats-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_nats(directory: Path) -> Iterator[NatsServer]:
    server = NatsServer(directory / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def stream_events(
    url: str, count: int, *, within: float = 30.0
) -> list[tuple[str, dict[str, Any]]]:
    """The first `count` messages of the `task-events` subject, in stream order, as
    (Nats-Msg-Id header, parsed CloudEvent); fails when fewer arrive `within` seconds."""
    import asyncio

    import nats

    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        subscription = await jetstream.subscribe("task-events", ordered_consumer=True)
        received: list[tuple[str, dict[str, Any]]] = []
        deadline = asyncio.get_running_loop().time() + within
        while len(received) < count:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"{len(received)} of {count} events arrived"
            message = await subscription.next_msg(timeout=left)
            headers = message.headers or {}
            received.append((headers.get("Nats-Msg-Id", ""), orjson.loads(message.data)))
        return received
    finally:
        await client.close()


async def stored_count(url: str) -> int:
    """How many messages the stream `TODO` holds (0 when it does not exist yet)."""
    import nats
    from nats.js.errors import NotFoundError

    client = await nats.connect(url)
    try:
        try:
            info = await client.jetstream().stream_info("TODO")
        except NotFoundError:
            return 0
        return int(info.state.messages)
    finally:
        await client.close()


def undelivered(connection: psycopg.Connection) -> int:
    row = connection.execute(
        "SELECT count(*) FROM task_events WHERE delivered_at IS NULL"
    ).fetchone()
    assert row is not None
    return int(row[0])


async def all_delivered(connection: psycopg.Connection, *, within: float = 30.0) -> None:
    import asyncio

    deadline = time.monotonic() + within
    while undelivered(connection):
        assert time.monotonic() < deadline, f"{undelivered(connection)} events still undelivered"
        await asyncio.sleep(0.05)


def seed(connection: psycopg.Connection, sql: str) -> None:
    """Run a bulk seeding statement without the role's statement timeout (thousands of
    rows, each through the event trigger), in a transaction of its own (SET LOCAL: no
    setting leaks into a pooled session)."""
    with connection.transaction():
        connection.execute("SET LOCAL statement_timeout = 0")
        connection.execute(sql)
