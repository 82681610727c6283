"""NATS JetStream: subjects `task-events` and `reminders`, kept by the stream `TODO`.

The stream is created when missing. Each message carries `Nats-Msg-Id` = the event id, so
JetStream drops a redelivery that arrives within the stream's duplicate window. Messages are
published in order on one connection without waiting for each acknowledgement
(`publish_async`), then the acknowledgements are awaited together: the count delivered is
the run of acknowledged messages from the front of the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from todo_api.events.cloudevents import REMINDER_CHANNEL, TASK_CHANNEL, OutboundEvent
from todo_api.events.sinks import DeliveryError

STREAM = "TODO"
SUBJECTS = [TASK_CHANNEL, REMINDER_CHANNEL]


class NatsSink:
    name = "nats"

    def __init__(self, url: str, *, timeout: float) -> None:
        self._url = url
        self._timeout = timeout
        self._client: Client | None = None
        self._jetstream: JetStreamContext | None = None

    async def start(self) -> None:
        client = await nats.connect(
            self._url,
            connect_timeout=self._timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        jetstream = client.jetstream(timeout=self._timeout)
        try:
            await jetstream.stream_info(STREAM)
        except NotFoundError:
            await jetstream.add_stream(name=STREAM, subjects=SUBJECTS)
        self._client, self._jetstream = client, jetstream

    async def deliver(self, events: Sequence[OutboundEvent]) -> int:
        jetstream = self._jetstream
        assert jetstream is not None, "start() first"
        acks: list[asyncio.Future[Any]] = []
        try:
            # One deadline for the whole batch, not `wait_stall` per message: on Python 3.11
            # that wraps each publish in a task, and the flusher then sends every message in
            # a write of its own (performance.md, "Task events").
            async with asyncio.timeout(self._timeout):
                for event in events:
                    acks.append(
                        await jetstream.publish_async(
                            event.channel, event.body, headers={"Nats-Msg-Id": event.event_id}
                        )
                    )
        except (NatsError, OSError, TimeoutError) as error:
            await _settle(acks, self._timeout)
            raise DeliveryError(_acknowledged(acks), f"publish failed: {error!r}") from None
        await _settle(acks, self._timeout)
        delivered = _acknowledged(acks)
        if delivered < len(events):
            raise DeliveryError(delivered, "JetStream did not acknowledge every message in time")
        return delivered

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        self._client = self._jetstream = None


async def _settle(acks: list[asyncio.Future[Any]], seconds: float) -> None:
    """Wait for the acknowledgements (at most `seconds`); cancel those still missing."""
    if acks:
        _, pending = await asyncio.wait(acks, timeout=seconds)
        for ack in pending:
            ack.cancel()


def _acknowledged(acks: list[asyncio.Future[Any]]) -> int:
    """How many acknowledgements, from the first, arrived without error."""
    count = 0
    for ack in acks:
        if not ack.done() or ack.cancelled() or ack.exception() is not None:
            break
        count += 1
    return count
