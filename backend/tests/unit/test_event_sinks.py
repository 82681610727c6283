"""Choosing and configuring a sink from `EVENTS_URL`, without a broker: what each sink is
built with is what the delivery guarantees rest on (signing, idempotence, acks=all)."""

from __future__ import annotations

import pytest

from todo_api.events.relay import sink_for
from todo_api.events.sinks.kafka import KafkaSink, producer_config
from todo_api.events.sinks.nats import NatsSink
from todo_api.events.sinks.webhook import WebhookSink


def test_the_kafka_producer_is_idempotent_waits_for_all_replicas_and_knows_every_broker() -> None:
    config = producer_config("kafka://a:1,b:2", timeout=2.5)

    assert config["bootstrap.servers"] == "a:1,b:2"
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    # The client gives up on a message within the delivery timeout the relay waits for.
    assert config["delivery.timeout.ms"] == 2500


def test_kafka_timeouts_have_a_floor_librdkafka_accepts() -> None:
    assert producer_config("kafka://a:1", timeout=0.2)["delivery.timeout.ms"] == 1000


def test_a_kafka_url_without_brokers_is_refused() -> None:
    with pytest.raises(ValueError, match="names its brokers"):
        producer_config("kafka://", timeout=1)


def test_the_scheme_chooses_the_sink() -> None:
    assert isinstance(sink_for("nats://h:4222", webhook_secret=None, timeout=1), NatsSink)
    assert isinstance(sink_for("kafka://h:9092", webhook_secret=None, timeout=1), KafkaSink)
    webhook = sink_for("https://h/hook", webhook_secret="whsec_c2VjcmV0", timeout=1)
    assert isinstance(webhook, WebhookSink)


def test_a_webhook_sink_is_never_built_unsigned_nor_an_unknown_scheme() -> None:
    """The settings refuse these already; `sink_for` refuses again for settings built
    without validation (`model_copy`)."""
    with pytest.raises(ValueError, match="needs EVENTS_WEBHOOK_SECRET"):
        sink_for("http://h/hook", webhook_secret=None, timeout=1)
    with pytest.raises(ValueError, match="needs EVENTS_WEBHOOK_SECRET"):
        sink_for("http://h/hook", webhook_secret="", timeout=1)
    with pytest.raises(ValueError, match="must start with one of nats, kafka, http, https"):
        sink_for("amqp://h", webhook_secret=None, timeout=1)
