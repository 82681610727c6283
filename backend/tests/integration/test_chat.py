"""The chat endpoint against a scripted stand-in model (tests/chat_model.py): tasks managed
in plain language through the same tools as MCP, for the token's user only; conversations
kept in PostgreSQL across turns and app instances; the bounds of a turn."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
import pytest

from tests.chat_model import Step, call, plan, say, stand_in_model, turn_results
from tests.live_support import open_stream
from tests.support import bearer, owner_client, serving, sign
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


async def test_without_a_model_the_endpoint_is_a_503_that_says_how_to_configure_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/alice/chat", json={"message": "hello"})

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "CHAT_MODEL_URL" in response.json()["detail"]
    assert (await client.get("/api/alice/conversations")).json() == []
    assert (await client.post("/api/alice/tasks", json={"title": "still works"})).status_code == 201


async def test_create_list_complete_and_delete_through_chat(
    chat_settings: Any, clean_database: psycopg.Connection
) -> None:
    turns = {
        "remind me to pay rent": plan(
            call("add_task", title="Pay rent", priority="high"), say("Added it.")
        ),
        "what's left?": plan(call("list_tasks", status="pending"), say("One task: pay rent.")),
        "I paid it": plan(call("complete_task", task_id=1, completed=True), say("Done.")),
        "remove it": plan(call("delete_task", task_id=1), say("Deleted.")),
    }

    def script(body: dict[str, Any]) -> Step:
        said = [m["content"] for m in body["messages"] if m["role"] == "user"]
        return turns[said[-1]](body)

    async with (
        stand_in_model(script) as (model, base),
        owner_client(create_app(chat_settings(base))) as http,
    ):
        first = await http.post("/api/alice/chat", json={"message": "remind me to pay rent"})
        assert first.status_code == 200, first.text
        reply = first.json()
        assert reply["response"] == "Added it."
        assert reply["tool_calls"][0]["name"] == "add_task"
        assert reply["tool_calls"][0]["arguments"] == {"title": "Pay rent", "priority": "high"}
        assert "#1 Pay rent" in reply["tool_calls"][0]["result"]
        task = (await http.get("/api/alice/tasks/1")).json()
        assert task["title"] == "Pay rent"
        assert task["priority"] == "high"
        conversation = reply["conversation_id"]

        answers = []
        for message in ("what's left?", "I paid it", "remove it"):
            sent = {"message": message, "conversation_id": conversation}
            response = await http.post("/api/alice/chat", json=sent)
            assert response.status_code == 200, response.text
            answers.append(response.json())
        assert [a["response"] for a in answers] == ["One task: pay rent.", "Done.", "Deleted."]
        assert "[ ] #1 Pay rent" in answers[0]["tool_calls"][0]["result"]
        assert "[x] #1 Pay rent" in answers[1]["tool_calls"][0]["result"]
        assert (await http.get("/api/alice/tasks/1")).status_code == 404

    # The tools are the MCP server's six, and none of them takes a user id.
    tools = {tool["function"]["name"]: tool["function"] for tool in model.requests[0]["tools"]}
    assert set(tools) == {
        "add_task",
        "list_tasks",
        "get_task",
        "update_task",
        "complete_task",
        "delete_task",
    }
    for tool in tools.values():
        assert "user_id" not in json.dumps(tool["parameters"])
    assert "alice" not in json.dumps(model.requests)
    # History: the last turn's model saw the earlier turns, answers and tool results included.
    last = model.requests[-2]["messages"]
    said = [m["content"] for m in last if m["role"] == "user"]
    assert said == ["remind me to pay rent", "what's left?", "I paid it", "remove it"]
    assert any(m["role"] == "assistant" and m.get("content") == "Done." for m in last)


async def test_changes_through_chat_carry_the_same_etags_events_and_live_updates_as_rest(
    chat_settings: Any, clean_database: psycopg.Connection
) -> None:
    """The tools write through the same services as REST: each change made in chat moves
    the task's ETag (a stale If-Match is a 412), is recorded in the outbox, and reaches an
    open live stream as the task REST renders."""
    turns = {
        "add": plan(call("add_task", title="Call mum"), say("Added.")),
        "done": plan(call("complete_task", task_id=1, completed=True), say("Done.")),
    }

    def script(body: dict[str, Any]) -> Step:
        said = [m["content"] for m in body["messages"] if m["role"] == "user"]
        return turns[said[-1]](body)

    async with (
        stand_in_model(script) as (_model, base),
        serving(create_app(chat_settings(base))) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(sign("alice"))) as http,
        open_stream(http, "/api/alice/events") as stream,
    ):
        added = await http.post("/api/alice/chat", json={"message": "add"})
        assert added.status_code == 200, added.text
        created = await stream.next(within=5)
        task = await http.get("/api/alice/tasks/1")
        assert (created.event, created.data) == ("task.created", task.json())
        etag = task.headers["etag"]
        unchanged = await http.get("/api/alice/tasks/1", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304

        sent = {"message": "done", "conversation_id": added.json()["conversation_id"]}
        done = await http.post("/api/alice/chat", json=sent)
        assert done.status_code == 200, done.text
        completed = await stream.next(within=5)
        task = await http.get("/api/alice/tasks/1")
        assert (completed.event, completed.data) == ("task.completed", task.json())
        assert task.json()["completed"] is True
        assert task.headers["etag"] != etag
        assert (
            await http.get("/api/alice/tasks/1", headers={"If-None-Match": etag})
        ).status_code == 200
        stale = await http.put(
            "/api/alice/tasks/1", json={"title": "x"}, headers={"If-Match": etag}
        )
        assert stale.status_code == 412

    recorded = clean_database.execute(
        "SELECT type, task_id FROM task_events WHERE user_id = 'alice' ORDER BY seq"
    ).fetchall()
    assert recorded == [("created", 1), ("completed", 1)]


async def test_another_users_task_id_is_not_found_for_the_model(
    chat_settings: Any, client: httpx.AsyncClient
) -> None:
    bobs = (await client.post("/api/bob/tasks", json={"title": "Bob's secret"})).json()
    script = plan(
        call("get_task", task_id=bobs["id"]),
        call("delete_task", task_id=bobs["id"]),
        say("I could not find it."),
    )
    async with (
        stand_in_model(script) as (model, base),
        owner_client(create_app(chat_settings(base))) as http,
    ):
        response = await http.post("/api/alice/chat", json={"message": "delete task 1"})

    assert response.status_code == 200
    results = [c["result"] for c in response.json()["tool_calls"]]
    assert results == [f"Task {bobs['id']} not found"] * 2
    assert turn_results(model.requests[-1]) == results  # the model read it as text
    assert "Bob's secret" not in json.dumps(model.requests)
    assert (await client.get(f"/api/bob/tasks/{bobs['id']}")).json()["title"] == "Bob's secret"


async def test_a_model_that_keeps_calling_tools_is_stopped_with_a_clear_answer(
    chat_settings: Any, client: httpx.AsyncClient
) -> None:
    async with stand_in_model(lambda _body: call("add_task", title="again")) as (model, base):
        settings = chat_settings(base, chat_max_tool_calls=3)
        async with owner_client(create_app(settings)) as http:
            response = await http.post("/api/alice/chat", json={"message": "loop"})

    assert response.status_code == 200
    reply = response.json()
    assert "I stopped" in reply["response"]
    assert "CHAT_MAX_TOOL_CALLS" in reply["response"]
    assert len(model.requests) == 5  # three calls, one refused, then the turn is cut
    assert len((await client.get("/api/alice/tasks")).json()) == 3  # never more than the limit
    assert "Not run" in reply["tool_calls"][-1]["result"]


async def test_a_model_that_times_out_is_a_504_and_the_message_is_kept(
    chat_settings: Any,
) -> None:
    slow = [True]

    def script(_body: dict[str, Any]) -> Step:
        return Step(text="late", delay=2.0) if slow[0] else say("on time")

    async with stand_in_model(script) as (_model, base):
        settings = chat_settings(base, chat_model_timeout_seconds=0.3)
        async with owner_client(create_app(settings)) as http:
            response = await http.post("/api/alice/chat", json={"message": "are you there?"})
            assert response.status_code == 504
            assert response.headers["content-type"] == "application/problem+json"
            assert "kept" in response.json()["detail"]
            (conversation,) = (await http.get("/api/alice/conversations")).json()
            kept = await http.get(f"/api/alice/conversations/{conversation['id']}/messages")
            assert [(m["role"], m["content"]) for m in kept.json()] == [("user", "are you there?")]
            slow[0] = False  # the conversation is free again: the next turn runs at once
            sent = {"message": "hello?", "conversation_id": conversation["id"]}
            again = await http.post("/api/alice/chat", json=sent)
            assert again.status_code == 200
            assert again.json()["response"] == "on time"


async def test_history_is_kept_across_a_restart(chat_settings: Any) -> None:
    async with stand_in_model(lambda body: say(f"turn {len(body['messages'])}")) as (model, base):
        async with owner_client(create_app(chat_settings(base))) as http:
            first = (await http.post("/api/alice/chat", json={"message": "my cat is Tom"})).json()
        # A new app instance (another worker, or after a restart): nothing in memory.
        async with owner_client(create_app(chat_settings(base))) as http:
            ident = first["conversation_id"]
            sent = {"message": "what is my cat called?", "conversation_id": ident}
            second = await http.post("/api/alice/chat", json=sent)

    assert second.status_code == 200
    messages = model.requests[-1]["messages"]
    contents = [m["content"] for m in messages if m["role"] in ("user", "assistant")]
    assert contents == ["my cat is Tom", first["response"], "what is my cat called?"]


async def test_conversations_of_one_user_are_invisible_to_another(chat_settings: Any) -> None:
    async with (
        stand_in_model(lambda _body: say("hi")) as (_model, base),
        owner_client(create_app(chat_settings(base))) as http,
    ):
        alices = (await http.post("/api/alice/chat", json={"message": "hello"})).json()
        ident = alices["conversation_id"]
        assert (await http.get("/api/bob/conversations")).json() == []
        peek = await http.get(f"/api/bob/conversations/{ident}/messages")
        assert peek.status_code == 404
        sent = {"message": "hi", "conversation_id": ident}
        assert (await http.post("/api/bob/chat", json=sent)).status_code == 404
        assert (await http.delete(f"/api/bob/conversations/{ident}")).status_code == 404
        mine = (await http.get(f"/api/alice/conversations/{ident}/messages")).json()
        assert [m["content"] for m in mine] == ["hello", "hi"]
        listed = (await http.get("/api/alice/conversations")).json()
        assert [c["id"] for c in listed] == [ident]
        assert listed[0]["title"] == "hello"
        assert (await http.delete(f"/api/alice/conversations/{ident}")).status_code == 204
        assert (await http.get(f"/api/alice/conversations/{ident}/messages")).status_code == 404


async def test_a_turn_retried_with_the_same_idempotency_key_runs_once(
    chat_settings: Any, client: httpx.AsyncClient
) -> None:
    script = plan(call("add_task", title="Call mum"), say("Added."))
    async with (
        stand_in_model(script) as (model, base),
        owner_client(create_app(chat_settings(base))) as http,
    ):
        headers = {"Idempotency-Key": "turn-1"}
        sent = {"message": "remind me to call mum"}
        first = await http.post("/api/alice/chat", json=sent, headers=headers)
        again = await http.post("/api/alice/chat", json=sent, headers=headers)
        other = await http.post("/api/alice/chat", json={"message": "x"}, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(model.requests) == 2  # one turn: a tool call and the answer
    assert len((await client.get("/api/alice/tasks")).json()) == 1
    assert other.status_code == 422


async def test_two_turns_sent_at_once_to_one_conversation_are_serialized(
    chat_settings: Any,
) -> None:
    def script(body: dict[str, Any]) -> Step:
        return Step(text=f"answer to {body['messages'][-1]['content']}", delay=0.3)

    async with (
        stand_in_model(script) as (model, base),
        owner_client(create_app(chat_settings(base))) as http,
    ):
        ident = (await http.post("/api/alice/chat", json={"message": "start"})).json()[
            "conversation_id"
        ]
        both = await asyncio.gather(
            *(
                http.post("/api/alice/chat", json={"message": m, "conversation_id": ident})
                for m in ("one", "two")
            )
        )
        stored = (await http.get(f"/api/alice/conversations/{ident}/messages")).json()

    assert [r.status_code for r in both] == [200, 200]
    # Neither lost, and one after the other: each answer follows its own message.
    roles = [m["role"] for m in stored]
    assert roles == ["user", "assistant"] * 3
    for question, answer in zip(stored[2::2], stored[3::2], strict=True):
        assert answer["content"] == f"answer to {question['content']}"
    # The second turn's model saw the first turn's answer.
    seen = [m["content"] for m in model.requests[-1]["messages"] if m["role"] != "system"]
    assert seen[-3:] in (
        ["one", "answer to one", "two"],
        ["two", "answer to two", "one"],
    )


async def test_a_streamed_turn_sends_text_tool_calls_and_the_ids(chat_settings: Any) -> None:
    script = plan(call("add_task", title="Water plants"), say("Added your task."))
    async with (
        stand_in_model(script) as (_model, base),
        owner_client(create_app(chat_settings(base))) as http,
    ):
        headers = {"Accept": "text/event-stream"}
        sent = {"message": "water the plants"}
        response = await http.post("/api/alice/chat", json=sent, headers=headers)
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            (block.split("\n")[0][len("event: ") :], json.loads(block.split("\n")[1][6:]))
            for block in response.text.strip().split("\n\n")
        ]
        done = events[-1][1]
        stored = await http.get(f"/api/alice/conversations/{done['conversation_id']}/messages")

    kinds = [kind for kind, _ in events]
    assert kinds[0] == "tool_call"
    assert events[0][1]["name"] == "add_task"
    assert kinds[-1] == "done"
    text = "".join(data["delta"] for kind, data in events if kind == "text")
    assert text == "Added your task." == done["response"]
    assert kinds.count("text") > 1  # streamed as it was produced
    assert [m["content"] for m in stored.json()] == ["water the plants", "Added your task."]


async def test_a_streamed_model_call_has_one_deadline_however_steadily_it_trickles(
    chat_settings: Any,
) -> None:
    """Each chunk comes 0.2 s after the last, under the client's read timeout (1 s), but the
    whole answer would take 4 s: the call's deadline ends it (504 as an error event), as it
    would a plain call, long before the turn's own deadline."""
    script = plan(Step(text="x" * 100, gap=0.2))
    async with (
        stand_in_model(script) as (_model, base),
        owner_client(create_app(chat_settings(base, chat_model_timeout_seconds=1.0))) as http,
    ):
        started = asyncio.get_running_loop().time()
        streamed = await http.post(
            "/api/alice/chat", json={"message": "hi"}, headers={"Accept": "text/event-stream"}
        )
        took = asyncio.get_running_loop().time() - started

    blocks = streamed.text.strip().split("\n\n")
    assert blocks[0].startswith("event: text\n")  # it was streaming
    assert blocks[-1].startswith("event: error\n")
    assert json.loads(blocks[-1].split("\n")[1][len("data: ") :])["status"] == 504
    assert took < 3.0


async def test_bounds_message_length_and_turns_per_minute(chat_settings: Any) -> None:
    async with stand_in_model(lambda _body: say("ok")) as (_model, base):
        settings = chat_settings(base, chat_max_message_chars=10, chat_turns_per_minute=2)
        async with owner_client(create_app(settings)) as http:
            long = await http.post("/api/alice/chat", json={"message": "x" * 11})
            blank = await http.post("/api/alice/chat", json={"message": "   "})
            statuses = [
                (await http.post("/api/alice/chat", json={"message": "hi"})).status_code
                for _ in range(3)
            ]
            limited = await http.post("/api/alice/chat", json={"message": "hi"})

    assert long.status_code == blank.status_code == 422
    assert statuses == [200, 200, 429]
    assert "CHAT_TURNS_PER_MINUTE" in limited.json()["detail"]
    assert limited.headers["Retry-After"] == "60"


async def test_a_failing_model_is_a_502_and_a_slow_stream_ends_with_an_error_event(
    chat_settings: Any,
) -> None:
    failing = [True]

    def script(_body: dict[str, Any]) -> Step:
        return Step(status=500) if failing[0] else Step(text="late", delay=2.0)

    async with (
        stand_in_model(script) as (_model, base),
        owner_client(create_app(chat_settings(base, chat_model_timeout_seconds=0.3))) as http,
    ):
        failed = await http.post("/api/alice/chat", json={"message": "first"})
        failing[0] = False
        headers = {"Accept": "text/event-stream"}
        (conversation,) = (await http.get("/api/alice/conversations")).json()
        sent = {"message": "second", "conversation_id": conversation["id"]}
        streamed = await http.post("/api/alice/chat", json=sent, headers=headers)
        kept = await http.get(f"/api/alice/conversations/{conversation['id']}/messages")

    assert failed.status_code == 502
    assert "kept" in failed.json()["detail"]
    blocks = streamed.text.strip().split("\n\n")
    assert blocks[-1].startswith("event: error\n")
    problem = json.loads(blocks[-1].split("\n")[1][len("data: ") :])
    assert problem["status"] == 504
    assert [m["content"] for m in kept.json()] == ["first", "second"]
