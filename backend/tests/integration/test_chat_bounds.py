"""The chat endpoint's bounds and pages that test_chat.py leaves out: a turn sent to a busy
conversation, the whole-turn deadline on its own, keyset pages of conversations and messages,
the history window, and the turns-per-minute limit under concurrent turns."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psycopg
import pytest

from tests.chat_model import Step, call, echo, say, stand_in_model, turn_results
from tests.support import owner_client
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


def _said(body: dict[str, Any]) -> list[str]:
    """The user and assistant texts the app sent the model, in order."""
    return [
        m["content"]
        for m in body["messages"]
        if m["role"] in ("user", "assistant") and m.get("content")
    ]


async def _stored(http: httpx.AsyncClient, ident: int) -> list[str]:
    response = await http.get(f"/api/alice/conversations/{ident}/messages", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [m["content"] for m in response.json()]


# --- 1. A busy conversation ---------------------------------------------------------------


async def test_a_turn_to_a_busy_conversation_waits_for_it_then_is_a_409(
    chat_settings: Any, clean_database: psycopg.Connection
) -> None:
    """README and data-model.md: a second turn waits for the turn running on the same
    conversation, up to CHAT_TURN_SECONDS, then 409 (retry); it stores nothing meanwhile."""
    hold = "UPDATE conversations SET turn_until = now() + %s::interval WHERE id = %s"
    async with (
        stand_in_model(echo) as (model, base),
        owner_client(create_app(chat_settings(base, chat_turn_seconds=0.6))) as http,
    ):
        ident = (await http.post("/api/alice/chat", json={"message": "start"})).json()[
            "conversation_id"
        ]
        # Another worker is answering it (its lease runs for another hour).
        clean_database.execute(hold, ("1 hour", ident))
        asked = len(model.requests)
        started = time.monotonic()
        sent = {"message": "are you free?", "conversation_id": ident}
        busy = await http.post("/api/alice/chat", json=sent)
        waited = time.monotonic() - started

        assert busy.status_code == 409, busy.text
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.headers["Retry-After"] == "1"
        assert "retry" in busy.json()["detail"]
        assert waited >= 0.6  # it waited CHAT_TURN_SECONDS for the running turn
        assert len(model.requests) == asked  # the model was never asked
        assert await _stored(http, ident) == ["start", "re: start"]

        # The running turn ends while the next one waits: the waiting one runs then.
        async def running_turn_ends() -> None:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(
                clean_database.execute,
                "UPDATE conversations SET turn_until = NULL WHERE id = %s",
                (ident,),
            )

        clean_database.execute(hold, ("1 hour", ident))
        _, served = await asyncio.gather(
            running_turn_ends(), http.post("/api/alice/chat", json=sent)
        )
        assert served.status_code == 200, served.text
        assert served.json()["response"] == "re: are you free?"

        # A lease that ran out (its worker died mid-turn) frees the conversation at once.
        clean_database.execute(hold, ("-1 second", ident))
        started = time.monotonic()
        freed = await http.post("/api/alice/chat", json={**sent, "message": "still there?"})
        assert freed.status_code == 200, freed.text
        assert time.monotonic() - started < 0.5
        assert await _stored(http, ident) == [
            "start",
            "re: start",
            "are you free?",
            "re: are you free?",
            "still there?",
            "re: still there?",
        ]


# --- 2. The whole-turn deadline -----------------------------------------------------------


async def test_a_turn_past_its_deadline_is_a_504_though_each_model_call_was_on_time(
    chat_settings: Any, client: httpx.AsyncClient
) -> None:
    """Each model call takes 0.15 s (its own deadline: 2 s), but the model keeps calling
    tools, and the turn as a whole passes CHAT_TURN_SECONDS (0.8 s): 504, message kept."""
    slow_loop = [True]

    def script(body: dict[str, Any]) -> Step:
        if slow_loop[0]:
            return Step(calls=[("list_tasks", {})], delay=0.15)
        return echo(body)

    async with stand_in_model(script) as (model, base):
        settings = chat_settings(
            base,
            chat_model_timeout_seconds=2.0,
            chat_turn_seconds=0.8,
            chat_max_tool_calls=100,
        )
        async with owner_client(create_app(settings)) as http:
            started = time.monotonic()
            late = await http.post("/api/alice/chat", json={"message": "list slowly"})
            took = time.monotonic() - started
            calls = len(model.requests)
            headers = {"Accept": "text/event-stream"}
            (conversation,) = (await http.get("/api/alice/conversations")).json()
            sent = {"message": "list slowly, streamed", "conversation_id": conversation["id"]}
            streamed = await http.post("/api/alice/chat", json=sent, headers=headers)
            slow_loop[0] = False  # the conversation is free again: the next turn runs at once
            again = await http.post(
                "/api/alice/chat", json={"message": "hello?", "conversation_id": conversation["id"]}
            )
            stored = await _stored(http, conversation["id"])

    assert late.status_code == 504, late.text
    assert late.headers["content-type"] == "application/problem+json"
    assert "kept" in late.json()["detail"]
    assert calls >= 3  # several model calls answered in time: the turn's deadline cut it
    assert 0.8 <= took < 0.8 + 1.5
    blocks = streamed.text.strip().split("\n\n")
    assert blocks[-1].startswith("event: error\n")
    assert '"status":504' in blocks[-1]
    assert again.status_code == 200
    assert stored == ["list slowly", "list slowly, streamed", "hello?", "re: hello?"]


# --- 3. Keyset pages ----------------------------------------------------------------------


async def _walk(http: httpx.AsyncClient, url: str, between: Any = None) -> list[list[int]]:
    """The ids of each page, following rel="next" until there is none."""
    pages: list[list[int]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await http.get(next_url)
        assert response.status_code == 200, response.text
        pages.append([item["id"] for item in response.json()])
        next_url = response.links.get("next", {}).get("url")
        if between is not None and len(pages) == 1:
            await between()
        assert len(pages) < 50, "the pages never end"
    return pages


async def test_conversations_and_messages_page_by_link_headers_without_gaps_or_repeats(
    chat_settings: Any,
) -> None:
    async with (
        stand_in_model(echo) as (_model, base),
        owner_client(create_app(chat_settings(base, chat_turns_per_minute=100))) as http,
    ):
        made = []
        for n in range(7):
            reply = await http.post("/api/alice/chat", json={"message": f"conversation {n}"})
            made.append(reply.json()["conversation_id"])
        for n in range(4):  # the last conversation: 5 turns, 10 messages
            sent = {"message": f"more {n}", "conversation_id": made[-1]}
            assert (await http.post("/api/alice/chat", json=sent)).status_code == 200
        bobs = (await http.post("/api/bob/chat", json={"message": "bob's"})).json()

        async def another_conversation_starts() -> None:
            started = await http.post("/api/alice/chat", json={"message": "a newer one"})
            made.append(started.json()["conversation_id"])

        # Newest first, 3 a page; a conversation started mid-walk shifts nothing (keyset).
        pages = await _walk(http, "/api/alice/conversations?limit=3", another_conversation_starts)
        assert [len(page) for page in pages] == [3, 3, 1]
        walked = [ident for page in pages for ident in page]
        assert walked == sorted(made[:7], reverse=True)
        assert bobs["conversation_id"] not in walked
        # A last page that is full has no link to an empty one: rel="next" only while more follow.
        pages = await _walk(http, "/api/alice/conversations?limit=4")
        assert [len(page) for page in pages] == [4, 4]
        assert [i for page in pages for i in page] == sorted(made, reverse=True)

        # Messages oldest first, 4 a page; one stored mid-walk comes at the end, once.
        async def another_turn() -> None:
            sent = {"message": "mid-walk", "conversation_id": made[6]}
            assert (await http.post("/api/alice/chat", json=sent)).status_code == 200

        url = f"/api/alice/conversations/{made[6]}/messages?limit=4"
        pages = await _walk(http, url, another_turn)
        assert [len(page) for page in pages] == [4, 4, 4]
        walked = [ident for page in pages for ident in page]
        assert walked == sorted(walked)
        assert len(set(walked)) == len(walked) == 12
        everything = (await http.get(url.replace("limit=4", "limit=200"))).json()
        assert [m["id"] for m in everything] == walked
        assert [m["content"] for m in everything][-2:] == ["mid-walk", "re: mid-walk"]
        assert "Link" not in (await http.get(url.replace("limit=4", "limit=200"))).headers


@pytest.mark.parametrize(
    "query",
    [
        "before=0",
        "before=-1",
        "before=abc",
        "before=9223372036854775808",
        "before=",
        "limit=0",
        "limit=201",
        "limit=x",
    ],
)
async def test_a_bad_conversations_cursor_is_a_422(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/alice/conversations?{query}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/conversations/1/messages?after=0", 422),
        ("/conversations/1/messages?after=-5", 422),
        ("/conversations/1/messages?after=x", 422),
        ("/conversations/1/messages?after=9223372036854775808", 422),
        ("/conversations/1/messages?limit=0", 422),
        ("/conversations/1/messages?limit=201", 422),
        ("/conversations/0/messages", 422),
        ("/conversations/x/messages", 422),
        ("/conversations/9223372036854775808/messages", 422),
        ("/conversations/2/messages?after=1", 404),  # no such conversation
        ("/conversations/1/messages?after=999", 200),  # past the end: an empty page
    ],
)
async def test_a_bad_messages_cursor_is_a_4xx(chat_settings: Any, path: str, status: int) -> None:
    async with (
        stand_in_model(echo) as (_model, base),
        owner_client(create_app(chat_settings(base))) as http,
    ):
        assert (await http.post("/api/alice/chat", json={"message": "hi"})).status_code == 200
        response = await http.get(f"/api/alice{path}")

    assert response.status_code == status, response.text
    if status == 200:
        assert response.json() == []
        assert "Link" not in response.headers
    else:
        assert response.headers["content-type"] == "application/problem+json"


# --- 4. The history window ----------------------------------------------------------------


async def test_only_the_last_chat_history_messages_reach_the_model(chat_settings: Any) -> None:
    turns = {"two": [call("add_task", title="Two"), say("re: two")]}

    def script(body: dict[str, Any]) -> Step:
        said = [m["content"] for m in body["messages"] if m["role"] == "user"]
        steps = turns.get(said[-1])
        if steps is None:
            return echo(body)
        return steps[min(len(turn_results(body)), len(steps) - 1)]

    async with (
        stand_in_model(script) as (model, base),
        owner_client(create_app(chat_settings(base, chat_history_messages=3))) as http,
    ):
        ident = (await http.post("/api/alice/chat", json={"message": "one"})).json()[
            "conversation_id"
        ]
        for message in ("two", "three", "four"):
            sent = {"message": message, "conversation_id": ident}
            assert (await http.post("/api/alice/chat", json=sent)).status_code == 200

    firsts = [body for body in model.requests if body["messages"][-1]["role"] == "user"]
    assert [_said(body) for body in firsts] == [
        ["one"],
        ["one", "re: one", "two"],  # three stored messages: all of them
        ["two", "re: two", "three"],  # "one" and its answer fell out of the window
        ["three", "re: three", "four"],
    ]
    # A stored answer in the window comes with its tool calls and their results.
    third = firsts[2]["messages"]
    tools = [m for m in third if m["role"] == "tool"]
    assert len(tools) == 1
    assert "Two" in tools[0]["content"]
    assert not any(m["role"] == "tool" for m in firsts[3]["messages"])


# --- 5. Turns per minute, under concurrency -----------------------------------------------


async def test_concurrent_turns_admit_exactly_the_turns_per_minute(
    chat_settings: Any, clean_database: psycopg.Connection
) -> None:
    limit, sent = 3, 10

    def script(body: dict[str, Any]) -> Step:
        return Step(text="ok", delay=0.05)

    async with (
        stand_in_model(script) as (_model, base),
        owner_client(create_app(chat_settings(base, chat_turns_per_minute=limit))) as http,
    ):
        replies = await asyncio.gather(
            *(http.post("/api/alice/chat", json={"message": f"turn {n}"}) for n in range(sent))
        )
        other = await http.post("/api/bob/chat", json={"message": "bob's own limit"})

    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] * limit + [429] * (sent - limit), [r.text for r in replies]
    for refused in (r for r in replies if r.status_code == 429):
        assert refused.headers["Retry-After"] == "60"
        assert refused.headers["content-type"] == "application/problem+json"
        assert "CHAT_TURNS_PER_MINUTE" in refused.json()["detail"]
    assert other.status_code == 200
    stored = clean_database.execute(
        "SELECT count(*) FROM chat_messages WHERE user_id = 'alice' AND role = 'user'"
    ).fetchone()
    conversations = clean_database.execute(
        "SELECT count(*) FROM conversations WHERE user_id = 'alice'"
    ).fetchone()
    # A refused turn leaves nothing behind: no message, no empty conversation.
    assert stored == (limit,)
    assert conversations == (limit,)


async def test_a_refused_turn_in_a_conversation_stores_nothing_and_frees_it(
    chat_settings: Any, clean_database: psycopg.Connection
) -> None:
    keyed = {"Idempotency-Key": "k-two"}
    async with (
        stand_in_model(echo) as (_model, base),
        owner_client(create_app(chat_settings(base, chat_turns_per_minute=2))) as http,
    ):
        first = await http.post("/api/alice/chat", json={"message": "one"})
        ident = first.json()["conversation_id"]
        two = {"message": "two", "conversation_id": ident}
        second = await http.post("/api/alice/chat", json=two, headers=keyed)
        third = await http.post("/api/alice/chat", json={**two, "message": "three"})
        replayed = await http.post("/api/alice/chat", json=two, headers=keyed)
        stored = await _stored(http, ident)

    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert stored == ["one", "re: one", "two", "re: two"]
    # the refused turn gave the conversation's lease back at once
    lease = clean_database.execute(
        "SELECT turn_until FROM conversations WHERE id = %s", (ident,)
    ).fetchone()
    assert lease == (None,)
    # a retry of a turn already run is its answer again, not a new turn: not refused
    assert replayed.status_code == 200
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["response"] == "re: two"
