"""Delivering task events to a webhook: a real HTTP receiver in the test checks every
request's Standard Webhooks signature with the standardwebhooks library, and records what
arrived. One POST per event, in order, retried (same `webhook-id`) until the receiver takes it."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy.engine import URL
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.events_support import all_delivered, outbox_events
from tests.support import make_settings, serving
from todo_api.events.cloudevents import CONTENT_TYPE
from todo_api.main import create_app

pytestmark = pytest.mark.anyio

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
DELIVERY_TIMEOUT = 0.3  # the sink's deadline per POST; a stalled receiver outlasts it


@dataclass
class Received:
    """One POST as the receiver saw it, and what it answered."""

    webhook_id: str
    content_type: str
    body: bytes
    headers: dict[str, str]
    status: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """The webhook endpoint: verifies each signature (401 when it does not match), fails the
    next `fail` requests with a 500 and stalls the next `stall` ones past the sink's timeout."""

    url: str = ""
    fail: int = 0
    stall: int = 0
    requests: list[Received] = field(default_factory=list)
    verifier: Webhook = field(default_factory=lambda: Webhook(SECRET))

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            self.verifier.verify(body, headers)
            status = 204
        except WebhookVerificationError:
            status = 401
        stalling = False
        if status == 204 and self.fail:
            self.fail -= 1
            status = 500
        elif status == 204 and self.stall:
            self.stall -= 1
            status, stalling = 504, True  # the sink gives up before this answer
        received = Received(
            headers.get("webhook-id", ""), headers.get("content-type", ""), body, headers, status
        )
        self.requests.append(received)
        if stalling:
            await asyncio.sleep(DELIVERY_TIMEOUT * 3)
        return Response(status_code=status)

    @property
    def accepted(self) -> list[Received]:
        return [request for request in self.requests if request.status == 204]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    receiving = FastAPI()
    receiving.add_api_route("/hook", endpoint.hook, methods=["POST"])
    async with serving(receiving) as base:
        endpoint.url = f"{base}/hook"
        yield endpoint


@pytest.fixture
def app(migrated_database: URL, clean_database: psycopg.Connection, receiver: Receiver) -> FastAPI:
    return create_app(
        make_settings(
            migrated_database,
            events_url=receiver.url,
            events_webhook_secret=SECRET,
            events_poll_seconds=0.02,
            events_delivery_timeout_seconds=DELIVERY_TIMEOUT,
        )
    )


async def _changes(client: httpx.AsyncClient) -> None:
    """Six changes of two users: create, update, complete, reopen, delete, and another user's."""
    task = (await client.post("/api/alice/tasks", json={"title": "Buy milk"})).json()
    path = f"/api/alice/tasks/{task['id']}"
    assert (await client.put(path, json={"title": "Buy oat milk"})).status_code == 200
    assert (await client.post("/api/bob/tasks", json={"title": "Call mum"})).status_code == 201
    assert (await client.patch(f"{path}/complete")).status_code == 200
    assert (await client.patch(f"{path}/complete", json={"completed": False})).status_code == 200
    assert (await client.delete(path)).status_code == 204


def _collapsed(ids: list[str]) -> list[str]:
    """The ids with each run of repeats (a retried event) taken once."""
    return [value for index, value in enumerate(ids) if index == 0 or ids[index - 1] != value]


async def test_every_change_arrives_once_in_order_signed_with_its_id_as_webhook_id(
    client: httpx.AsyncClient, clean_database: psycopg.Connection, receiver: Receiver
) -> None:
    await _changes(client)
    await all_delivered(clean_database)

    expected = outbox_events(clean_database)
    assert [event["type"].rsplit(".", 1)[1] for event in expected] == [
        "created",
        "updated",
        "created",
        "completed",
        "reopened",
        "deleted",
    ]
    assert [request.status for request in receiver.requests] == [204] * len(expected)
    assert [request.event for request in receiver.requests] == expected
    for request in receiver.requests:
        assert request.webhook_id == request.event["id"]
        assert request.content_type == CONTENT_TYPE


async def test_the_receivers_check_rejects_a_wrong_secret_and_a_changed_body(
    client: httpx.AsyncClient, clean_database: psycopg.Connection, receiver: Receiver
) -> None:
    """What the receiver checks is the signature: the same request fails with another
    secret, or with one byte of its body changed."""
    await client.post("/api/alice/tasks", json={"title": "Buy milk"})
    await all_delivered(clean_database)
    (request,) = receiver.requests
    assert Webhook(SECRET).verify(request.body, request.headers) == request.event

    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(other).verify(request.body, request.headers)
    changed = request.body.replace(b"Buy milk", b"Buy malt")
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(SECRET).verify(changed, request.headers)


async def test_a_failing_receiver_gets_the_same_events_again_in_order_nothing_skipped(
    client: httpx.AsyncClient,
    clean_database: psycopg.Connection,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The receiver answers 500 three times, then times out twice: the first event is
    offered again and again (the same webhook-id), no later one overtakes it, and in the end
    each event has been accepted exactly once, in order."""
    receiver.fail, receiver.stall = 3, 2
    with caplog.at_level(logging.WARNING, logger="todo_api.events.relay"):
        await _changes(client)
        await all_delivered(clean_database)

    expected = outbox_events(clean_database)
    first = expected[0]["id"]
    answered = [(request.webhook_id, request.status) for request in receiver.requests]
    assert answered[:6] == [(first, 500)] * 3 + [(first, 504)] * 2 + [(first, 204)]
    assert [request.event for request in receiver.accepted] == expected
    assert _collapsed([request.webhook_id for request in receiver.requests]) == [
        event["id"] for event in expected
    ]
    assert all(request.webhook_id == request.event["id"] for request in receiver.requests)
    assert "event delivery to webhook failing (webhook answered 500)" in caplog.text
    assert "event delivery to webhook failing (webhook unreachable: ReadTimeout" in caplog.text
