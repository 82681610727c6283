"""Delivering task events to Kafka. No Kafka broker can be installed here, so the brokers are
librdkafka's own mock cluster (`test.mock.num.brokers`: three brokers in this process, real
Kafka protocol on real sockets), read back with a confluent-kafka Consumer.

The mock cluster lives as long as the client that made it; its brokers listen on ports of its
choosing. It creates a topic on first use, as a broker with auto.create.topics.enable does;
an admin CreateTopics times out against it (librdkafka 2.16: "Failed while waiting for
controller"), so these tests, like the sink, rely on auto-creation."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.events_support import all_delivered, outbox_events, undelivered
from tests.support import PathUserAuth, free_port, make_settings
from todo_api.config import Settings
from todo_api.events.cloudevents import CONTENT_TYPE, TASK_CHANNEL
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


class MockCluster:
    """Three mock brokers, alive until `close()` (the owning client is destroyed with them)."""

    def __init__(self) -> None:
        self._owner: AdminClient | None = AdminClient({"test.mock.num.brokers": 3, "log_level": 3})
        brokers = self._owner.list_topics(timeout=5).brokers
        self.addresses = [(str(b.host), int(b.port)) for _, b in sorted(brokers.items())]
        self.servers = ",".join(f"{host}:{port}" for host, port in self.addresses)

    def close(self) -> None:
        self._owner = None  # the last reference: librdkafka stops the brokers


@pytest.fixture
def kafka() -> Iterator[MockCluster]:
    cluster = MockCluster()
    try:
        yield cluster
    finally:
        cluster.close()


def _settings(migrated_database: URL, servers: str) -> Settings:
    return make_settings(
        migrated_database,
        events_url=f"kafka://{servers}",
        events_poll_seconds=0.02,
        events_delivery_timeout_seconds=1.0,
    )


@pytest.fixture
def app(migrated_database: URL, clean_database: psycopg.Connection, kafka: MockCluster) -> FastAPI:
    return create_app(_settings(migrated_database, kafka.servers))


def read_topic(servers: str, count: int, *, within: float = 10.0) -> list[Message]:
    """Every message of `task-events`, partition by partition in offset order; fails unless
    the topic holds exactly `count` (its high watermarks add up to it)."""
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": "tests",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    try:
        topic = consumer.list_topics(TASK_CHANNEL, timeout=5).topics[TASK_CHANNEL]
        partitions = [TopicPartition(TASK_CHANNEL, p) for p in sorted(topic.partitions)]
        stored = sum(consumer.get_watermark_offsets(p, timeout=5)[1] for p in partitions)
        assert stored == count, f"the topic holds {stored} messages, not {count}"
        consumer.assign(
            [TopicPartition(TASK_CHANNEL, p.partition, OFFSET_BEGINNING) for p in partitions]
        )
        messages: list[Message] = []
        deadline = time.monotonic() + within
        while len(messages) < count:
            assert time.monotonic() < deadline, f"{len(messages)} of {count} messages read"
            message = consumer.poll(0.1)
            if message is not None:
                assert message.error() is None, message.error()
                messages.append(message)
        return sorted(messages, key=lambda m: (m.partition() or 0, m.offset() or 0))
    finally:
        consumer.close()


def _event(message: Message) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(message.value() or b"")
    return parsed


def _by_user(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    users: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        users.setdefault(event["userid"], []).append(event)
    return users


async def _writes(client: httpx.AsyncClient, users: tuple[str, ...], rounds: int) -> None:
    """Per user and round: a create, an update and a completion."""
    for index in range(rounds):
        for user in users:
            task = (await client.post(f"/api/{user}/tasks", json={"title": f"{index}"})).json()
            path = f"/api/{user}/tasks/{task['id']}"
            assert (await client.put(path, json={"title": f"{index}!"})).status_code == 200
            assert (await client.patch(f"{path}/complete")).status_code == 200


async def test_every_event_reaches_task_events_once_keyed_by_user_in_order_per_user(
    client: httpx.AsyncClient, clean_database: psycopg.Connection, kafka: MockCluster
) -> None:
    await _writes(client, ("alice", "bob", "carol"), rounds=4)
    await all_delivered(clean_database)

    expected = outbox_events(clean_database)
    assert len(expected) == 36
    messages = await asyncio.to_thread(read_topic, kafka.servers, len(expected))
    assert {message.topic() for message in messages} == {TASK_CHANNEL}
    for message in messages:
        event = _event(message)
        assert message.key() == event["userid"].encode()
        assert dict(message.headers() or []) == {
            "content-type": CONTENT_TYPE.encode(),
            "ce_id": event["id"].encode(),
        }
    # The key keeps one user's events in one partition, where offsets keep their order.
    for user in ("alice", "bob", "carol"):
        assert len({m.partition() for m in messages if _event(m)["userid"] == user}) == 1
    assert _by_user([_event(m) for m in messages]) == _by_user(expected)
    assert sorted(event["id"] for event in map(_event, messages)) == sorted(
        event["id"] for event in expected
    )


class Forwarder:
    """A fixed local port that passes each connection on to `target`: the bootstrap address
    that stays the same while the cluster behind it goes away and another takes its place."""

    def __init__(self) -> None:
        self.port = free_port()
        self.target: tuple[str, int] = ("127.0.0.1", free_port())  # nothing listens yet
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Forwarder:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.target), timeout=2
            )
        except (OSError, TimeoutError):
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            self._writers.discard(writer)


@pytest.fixture
async def forwarder() -> AsyncIterator[Forwarder]:
    async with Forwarder() as forwarding:
        yield forwarding


async def test_a_cluster_outage_loses_nothing_and_the_next_cluster_gets_the_rest_in_order(
    migrated_database: URL,
    clean_database: psycopg.Connection,
    kafka: MockCluster,
    forwarder: Forwarder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The service knows Kafka by one bootstrap address. The cluster behind it goes away
    while writes go on: every write succeeds, nothing is marked delivered, a warning says
    why. A new cluster appears behind the same address: it receives every event written
    during the outage, in order per user (deduplicated by id: delivery is at least once)."""
    forwarder.target = kafka.addresses[0]
    app = create_app(_settings(migrated_database, f"127.0.0.1:{forwarder.port}"))
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.WARNING, logger="todo_api.events.relay"):
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=transport, base_url="http://test", auth=PathUserAuth()
            ) as client,
        ):
            await _writes(client, ("alice", "bob"), rounds=2)
            await all_delivered(clean_database)
            before = outbox_events(clean_database)
            first = await asyncio.to_thread(read_topic, kafka.servers, len(before))
            assert _by_user([_event(m) for m in first]) == _by_user(before)

            kafka.close()
            await _writes(client, ("alice", "bob"), rounds=2)
            deadline = time.monotonic() + 15
            while caplog.text.count("event delivery to kafka failing") < 2:
                assert time.monotonic() < deadline, "no warning about the outage"
                await asyncio.sleep(0.05)
            assert undelivered(clean_database) == 12

            replacement = MockCluster()
            try:
                forwarder.target = replacement.addresses[0]
                await all_delivered(clean_database, within=30)
                events = outbox_events(clean_database)
                assert events[: len(before)] == before
                during = events[len(before) :]
                stored = await _stored_count(replacement.servers)
                messages = await asyncio.to_thread(read_topic, replacement.servers, stored)
            finally:
                replacement.close()

    received = _first_of_each_id([_event(m) for m in messages])
    assert _by_user(received) == _by_user(during)


async def _stored_count(servers: str) -> int:
    def count() -> int:
        consumer = Consumer({"bootstrap.servers": servers, "group.id": "tests", "log_level": 3})
        try:
            topic = consumer.list_topics(TASK_CHANNEL, timeout=5).topics[TASK_CHANNEL]
            return sum(
                consumer.get_watermark_offsets(TopicPartition(TASK_CHANNEL, p), timeout=5)[1]
                for p in topic.partitions
            )
        finally:
            consumer.close()

    return await asyncio.to_thread(count)


def _first_of_each_id(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    first: list[dict[str, Any]] = []
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            first.append(event)
    return first


async def test_no_broker_at_the_address_means_retries_and_nothing_marked_delivered(
    migrated_database: URL,
    clean_database: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listens at EVENTS_URL: the sink cannot start, writes still succeed, the relay
    keeps trying (one warning per attempt) and every event stays waiting."""
    app = create_app(_settings(migrated_database, f"127.0.0.1:{free_port()}"))
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.WARNING, logger="todo_api.events.relay"):
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=transport, base_url="http://test", auth=PathUserAuth()
            ) as client,
        ):
            for user in ("alice", "bob"):
                response = await client.post(f"/api/{user}/tasks", json={"title": "t"})
                assert response.status_code == 201
            deadline = time.monotonic() + 10
            while caplog.text.count("event delivery to kafka failing") < 2:
                assert time.monotonic() < deadline, "no warning about the missing broker"
                await asyncio.sleep(0.05)
            assert undelivered(clean_database) == 2
    assert "KafkaException" in caplog.text
