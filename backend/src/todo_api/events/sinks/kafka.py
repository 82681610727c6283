"""Kafka: topics `task-events` and `reminders`, key = user id, through confluent-kafka.

The producer is idempotent with `acks=all`, so a retry inside the client never duplicates or
reorders a message, and one user's events (one key, one partition) keep their order. A batch
is produced in order, then flushed; the delivery reports say which messages the brokers
acknowledged, and the count delivered is the run of acknowledged ones from the front.
librdkafka's calls block, so they run in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from todo_api.events.cloudevents import CONTENT_TYPE, OutboundEvent
from todo_api.events.sinks import DeliveryError


def producer_config(url: str, timeout: float) -> dict[str, Any]:
    """librdkafka settings for `kafka://host:port[,host:port]`."""
    servers = urlsplit(url).netloc
    if not servers:
        raise ValueError("a kafka EVENTS_URL names its brokers: kafka://host:port[,host:port]")
    return {
        "bootstrap.servers": servers,
        "enable.idempotence": True,
        "acks": "all",
        "delivery.timeout.ms": max(1000, int(timeout * 1000)),
        "socket.timeout.ms": max(1000, int(timeout * 1000)),
        "linger.ms": 5,
    }


class KafkaSink:
    name = "kafka"

    def __init__(self, url: str, *, timeout: float, extra: dict[str, Any] | None = None) -> None:
        self._config = producer_config(url, timeout) | (extra or {})
        self._timeout = timeout
        self._producer: Producer | None = None

    async def start(self) -> None:
        producer = Producer(self._config)
        # Fails (KafkaException) when no broker answers in time.
        await asyncio.to_thread(producer.list_topics, timeout=self._timeout)
        self._producer = producer

    async def deliver(self, events: Sequence[OutboundEvent]) -> int:
        producer = self._producer
        assert producer is not None, "start() first"
        return await asyncio.to_thread(self._deliver, producer, events)

    def _deliver(self, producer: Producer, events: Sequence[OutboundEvent]) -> int:
        outcomes: list[KafkaError | None] = [None] * len(events)
        reported = [False] * len(events)

        def report(index: int) -> Any:
            def on_delivery(error: KafkaError | None, _message: Message) -> None:
                outcomes[index] = error
                reported[index] = True

            return on_delivery

        try:
            for index, event in enumerate(events):
                producer.produce(
                    event.channel,
                    value=event.body,
                    key=event.user_id.encode(),
                    headers={"content-type": CONTENT_TYPE, "ce_id": event.event_id},
                    on_delivery=report(index),
                )
        except (KafkaException, BufferError) as error:
            producer.flush(self._timeout)
            raise DeliveryError(_acknowledged(outcomes, reported), repr(error)) from None
        producer.flush(self._timeout)
        delivered = _acknowledged(outcomes, reported)
        if delivered < len(events):
            raise DeliveryError(delivered, "Kafka did not acknowledge every message in time")
        return delivered

    async def close(self) -> None:
        if self._producer is not None:
            await asyncio.to_thread(self._producer.flush, self._timeout)
        self._producer = None


def _acknowledged(outcomes: list[KafkaError | None], reported: list[bool]) -> int:
    count = 0
    for error, done in zip(outcomes, reported, strict=True):
        if not done or error is not None:
            break
        count += 1
    return count
