"""The relay: delivers the outbox to the sink, at least once, in order per user.

Each step is one transaction: take the relay's turn (a transaction-scoped advisory lock, so
one relay delivers at a time across workers and replicas, and the turn ends with the
transaction, also behind a transaction-mode pooler), read the oldest undelivered events,
hand them to the sink, mark what it acknowledged, commit. A crash before the commit leaves
the events undelivered, and the next turn sends them again with the same ids (consumers and
JetStream deduplicate by id). A sink that fails stops the batch at the first event it could
not deliver; the relay retries with growing pauses and logs a warning on each failure,
while writes go on and the outbox grows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from todo_api import metrics
from todo_api.config import EventSettings
from todo_api.database.errors import describe
from todo_api.database.runner import Database
from todo_api.database.wall import become_worker, worker_rows
from todo_api.events import outbox
from todo_api.events.cloudevents import OutboundEvent, render
from todo_api.events.sinks import DeliveryError, Sink

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
SAMPLE_SECONDS = 5.0
BUSY_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Step:
    """What one step did: events read, events delivered, and why it stopped early."""

    read: int
    delivered: int
    failure: str | None = None
    had_turn: bool = True


class Relay:
    """Delivers the outbox of `database` to `sink` (see the module docstring)."""

    def __init__(self, database: Database, sink: Sink, settings: EventSettings) -> None:
        self._database = database
        self._sink = sink
        self._batch = settings.events_batch_size
        self._poll = settings.events_poll_seconds
        self._source = settings.events_source
        # A step may wait for the sink, then for the database to mark what it took.
        self._step_deadline = 2 * settings.events_delivery_timeout_seconds + database.deadline
        self._connected = False
        self._next_sample = 0.0
        self._next_heartbeat = 0.0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the current step, then return from `run` (no batch cut midway)."""
        self._stopping.set()

    async def _pause(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(0.0, seconds))

    async def run(self) -> None:
        """Deliver until cancelled; the sink is (re)connected as needed."""
        failures = 0
        try:
            while not self._stopping.is_set():
                started = time.monotonic()
                try:
                    await self._sample()
                    step = await self._step_connected()
                except Exception as error:  # the database or the sink is unreachable
                    step = Step(0, 0, failure=describe(error))
                if step.failure is not None:
                    failures += 1
                    await self._pause_after_failure(step, failures)
                    continue
                failures = 0
                if not step.had_turn or step.read < self._batch:
                    # A look every `poll` seconds, counted from the last look's start: a new
                    # event waits at most `poll` before a step starts, however long steps take.
                    # While events keep coming (this step found some), look again soon.
                    poll = self._poll if step.read == 0 else min(self._poll, BUSY_POLL_SECONDS)
                    await self._pause(started + poll - time.monotonic())
        finally:
            await self._disconnect()

    async def step(self) -> Step:
        """One transaction: deliver the next batch, if it is this relay's turn."""

        async def deliver(connection: AsyncConnection) -> Step:
            await become_worker(connection)  # everybody's events
            if not await outbox.take_turn(connection):
                return Step(0, 0, had_turn=False)
            rows = await outbox.next_batch(connection, self._batch)
            if not rows:
                return Step(0, 0)
            events = [render(row, self._source) for row in rows]
            delivered, failure = await self._deliver(events)
            if delivered:
                await outbox.mark_delivered(connection, [e.outbox_id for e in events[:delivered]])
            _count(events[:delivered])
            return Step(len(events), delivered, failure)

        return await self._database.transaction(deliver, deadline=self._step_deadline)

    async def _step_connected(self) -> Step:
        if not self._connected:
            await self._sink.start()
            self._connected = True
        return await self.step()

    async def _deliver(self, events: list[OutboundEvent]) -> tuple[int, str | None]:
        try:
            return await self._sink.deliver(events), None
        except DeliveryError as error:
            return error.delivered, error.reason

    async def _pause_after_failure(self, step: Step, failures: int) -> None:
        metrics.EVENTS_FAILED.inc()
        pause = min(MAX_BACKOFF_SECONDS, self._poll * 2**failures)
        logger.warning(
            "event delivery to %s failing (%s); %d of %d delivered; retrying in %.1f s",
            self._sink.name,
            step.failure,
            step.delivered,
            step.read,
            pause,
        )
        if failures >= 3:  # a broken connection may need a fresh start
            await self._disconnect()
        await self._pause(pause)

    async def _disconnect(self) -> None:
        if self._connected:
            self._connected = False
            try:
                await self._sink.close()
            except Exception as error:
                logger.info("closing the %s sink failed: %s", self._sink.name, describe(error))

    async def _sample(self) -> None:
        """Keep the backlog gauges current (every few seconds, not every step), and say
        that a relay runs (every `outbox.HEARTBEAT_SECONDS`: its events are kept)."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + outbox.HEARTBEAT_SECONDS
            await self._database.rows(outbox.HEARTBEAT)
        if now < self._next_sample:
            return
        self._next_sample = now + SAMPLE_SECONDS
        await sample_backlog(self._database)


async def sample_backlog(database: Database) -> None:
    """Set the outbox gauges: events recorded, waiting, and the age of the oldest waiting."""
    backlog: Any = (await worker_rows(database, outbox.BACKLOG))[0]
    waiting, oldest = backlog[0], backlog[1]
    recorded = (await database.rows(outbox.RECORDED))[0][0]
    metrics.EVENTS_RECORDED.set(recorded)
    metrics.EVENTS_BACKLOG.set(waiting)
    age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
    metrics.EVENTS_OLDEST_AGE.set(max(0.0, age))


def _count(delivered: list[OutboundEvent]) -> None:
    if not delivered:
        return
    now = datetime.now(UTC)
    for event in delivered:
        metrics.EVENTS_DELIVERED.labels(event.channel).inc()
        metrics.EVENT_LAG.observe(max(0.0, (now - event.occurred_at).total_seconds()))


def relay_for(database: Database, settings: EventSettings) -> Relay | None:
    """The relay `EVENTS_URL` asks for, or None when it is unset."""
    if settings.events_url is None:
        return None
    secret = settings.events_webhook_secret
    sink = sink_for(
        settings.events_url,
        webhook_secret=None if secret is None else secret.get_secret_value(),
        timeout=settings.events_delivery_timeout_seconds,
    )
    return Relay(database, sink, settings)


SCHEMES = ("nats", "kafka", "http", "https")


def sink_for(url: str, *, webhook_secret: str | None, timeout: float) -> Sink:
    """The sink `url` names (`EVENTS_URL`); each client library is imported only when used."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "nats":
        from todo_api.events.sinks.nats import NatsSink

        return NatsSink(url, timeout=timeout)
    if scheme == "kafka":
        from todo_api.events.sinks.kafka import KafkaSink

        return KafkaSink(url, timeout=timeout)
    if scheme in {"http", "https"}:
        from todo_api.events.sinks.webhook import WebhookSink

        if not webhook_secret:
            raise ValueError("a webhook EVENTS_URL needs EVENTS_WEBHOOK_SECRET")
        return WebhookSink(url, secret=webhook_secret, timeout=timeout)
    raise ValueError(f"EVENTS_URL must start with one of {', '.join(SCHEMES)}://")
