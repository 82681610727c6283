"""Chat turns that race or come back: a retry of an older unanswered message answers that
message, and two requests with one Idempotency-Key run one turn (the second is its replay,
not a second counted turn, and leaves no empty conversation behind)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.chat_model import Step, echo, stand_in_model
from tests.support import owner_client, sign
from todo_api.errors import IdempotencyKeyBusyError
from todo_api.main import create_app
from todo_api.services.conversations import Conversations

pytestmark = pytest.mark.anyio


def _said(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] in ("user", "assistant")]


async def test_a_retry_of_an_older_unanswered_message_answers_that_message(
    chat_settings: Any,
) -> None:
    failing = [False]

    def script(body: dict[str, Any]) -> Step:
        return Step(status=500) if failing[0] else echo(body)

    async with (
        stand_in_model(script) as (model, base),
        owner_client(create_app(chat_settings(base))) as http,
    ):
        first = await http.post("/api/alice/chat", json={"message": "one"})
        ident = first.json()["conversation_id"]
        keyed = {"Idempotency-Key": "k-two"}
        two = {"message": "two", "conversation_id": ident}
        failing[0] = True
        failed = await http.post("/api/alice/chat", json=two, headers=keyed)
        failing[0] = False
        three = await http.post(
            "/api/alice/chat", json={"message": "three", "conversation_id": ident}
        )
        retried = await http.post("/api/alice/chat", json=two, headers=keyed)

    assert [failed.status_code, three.status_code, retried.status_code] == [502, 200, 200]
    # the model must be asked to answer "two", on the history up to "two"
    assert _said(model.requests[-1])[-1] == "two", _said(model.requests[-1])
    assert retried.json()["response"] == "re: two"


async def _race(
    chat_settings: Any, clean_database: psycopg.Connection, existing: bool
) -> tuple[Any, list[Any]]:
    async with stand_in_model(echo) as (_model, base):
        app = create_app(chat_settings(base))
        async with owner_client(app) as http:
            start = await http.post("/api/alice/chat", json={"message": "start"})
            ident = start.json()["conversation_id"] if existing else None
            sent: dict[str, Any] = {"message": "hello"}
            if existing:
                sent["conversation_id"] = ident
            keyed = {"Idempotency-Key": "k-race"}
            steps: list[Any] = []

            async def admitted(step: Any) -> Any:
                result = await step()
                steps.append(result)
                if len(steps) == 1:  # B's key lookup found nothing; A's same request runs now
                    a = await http.post("/api/alice/chat", json=sent, headers=keyed)
                    assert a.status_code == 200, a.text
                return result

            outcome: Any
            try:
                outcome = await Conversations(app.state.database, "alice").begin(
                    ident,
                    "hello",
                    "k-race",
                    lease=timedelta(seconds=60),
                    patience=2.0,
                    history=20,
                    per_minute=10,
                    admitted=admitted,
                )
            except IdempotencyKeyBusyError as error:
                outcome = error
            listed = (await http.get("/api/alice/conversations")).json()
    return outcome, listed


def _counted_turns(database: psycopg.Connection) -> int:
    row = database.execute("SELECT cardinality(chat_turns) FROM users WHERE id = 'alice'")
    (count,) = row.fetchone() or (None,)
    assert isinstance(count, int)
    return count


async def test_same_key_race_new_conversation_leaves_no_empty_conversation_nor_counted_turn(
    chat_settings: Any, clean_database: psycopg.Connection
) -> None:
    outcome, listed = await _race(chat_settings, clean_database, existing=False)
    turns = _counted_turns(clean_database)
    assert len(listed) == 2, (outcome, listed)  # "start" and A's "hello": no empty third one
    assert turns == 2, (outcome, turns)  # B ran no turn


async def test_same_key_race_in_a_conversation_is_a_replay_once_the_answer_exists(
    chat_settings: Any, clean_database: psycopg.Connection
) -> None:
    outcome, _listed = await _race(chat_settings, clean_database, existing=True)
    turns = _counted_turns(clean_database)
    assert turns == 2, (outcome, turns)  # B ran no turn: not counted
    assert not isinstance(outcome, Exception), outcome  # A's answer exists: replay, not 409


async def test_a_turn_that_outlived_its_lease_does_not_free_the_next_turns_lease(
    chat_settings: Any, clean_database: psycopg.Connection
) -> None:
    async def run(step: Any) -> Any:
        return await step()

    lease = "SELECT turn_until FROM conversations WHERE id = %s"
    async with stand_in_model(echo) as (_model, base):
        app = create_app(chat_settings(base))
        async with owner_client(app) as http:
            start = await http.post("/api/alice/chat", json={"message": "start"})
            ident = start.json()["conversation_id"]
            chats = Conversations(app.state.database, "alice")
            turn: dict[str, Any] = {
                "history": 20,
                "per_minute": 100,
                "admitted": run,
                "patience": 2.0,
            }
            slow = await chats.begin(ident, "slow", None, lease=timedelta(milliseconds=1), **turn)
            await asyncio.sleep(0.05)  # its lease runs out; the next turn takes one of its own
            fast = await chats.begin(ident, "fast", None, lease=timedelta(minutes=1), **turn)
            await chats.finish(slow, "late", [])
            still = clean_database.execute(lease, (ident,)).fetchone()
            await chats.finish(fast, "on time", [])
            after = clean_database.execute(lease, (ident,)).fetchone()

    assert still == (fast.held,)  # the late turn gave back nothing: the lease is the next one's
    assert after == (None,)


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
async def test_a_streamed_turn_whose_client_went_away_gives_its_lease_back(
    chat_settings: Any, clean_database: psycopg.Connection, spec: str
) -> None:
    def slow(body: dict[str, Any]) -> Step:
        return Step(text="late", delay=0.3)

    async with stand_in_model(slow) as (_model, base):
        app = create_app(chat_settings(base))
        async with owner_client(app) as http:
            start = await http.post("/api/alice/chat", json={"message": "start"})
            ident = start.json()["conversation_id"]
            body = json.dumps({"message": "again", "conversation_id": ident}).encode()
            headers = [
                (b"host", b"test"),
                (b"content-type", b"application/json"),
                (b"accept", b"text/event-stream"),
                (b"authorization", f"Bearer {sign('alice')}".encode()),
                (b"content-length", str(len(body)).encode()),
            ]
            scope = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": spec},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/api/alice/chat",
                "raw_path": b"/api/alice/chat",
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "client": ("127.0.0.1", 40000),
                "server": ("test", 80),
            }
            requests = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                if requests:
                    return requests.pop(0)
                return {"type": "http.disconnect"}  # the client went away at once

            async def send(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.body" and spec == "2.4":
                    raise OSError("the client went away")  # how a 2.4 server says so

            with contextlib.suppress(Exception):  # the server's own business
                await app(scope, receive, send)
            gc.collect()
            await asyncio.sleep(0.5)  # whatever the turn left running has had its chance
            lease = clean_database.execute(
                "SELECT turn_until FROM conversations WHERE id = %s", (ident,)
            ).fetchone()

    assert lease == (None,)  # free for the client's retry, not held until the lease runs out
