"""The model client's plain calls (chat/client.py): posted with aiohttp instead of the client's
HTTP stack, they must send what the client sends and read what it reads, and fail with its
errors (turn.py maps those to 502 and 504); and the agent's model (chat/completions.py) must
send what the SDK's sends. Against a real HTTP server on a local port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import openai
import orjson
import pytest
from agents import ModelSettings, ModelTracing, OpenAIChatCompletionsModel
from fastapi import FastAPI, Request, Response
from openai import AsyncOpenAI

from tests.support import free_port, serving
from todo_api.chat.client import ModelClient, PlainCalls, request_body
from todo_api.chat.completions import ChatModel
from todo_api.chat.tools import ChatTools

pytestmark = pytest.mark.anyio

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "a-model",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "add_task", "arguments": '{"title": "Pay rent"}'},
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
}
# What a lax OpenAI-compatible server may answer: fields missing, others of its own.
LAX_ANSWER = {
    "id": "x",
    "model": "a-model",
    "choices": [{"message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}],
    "system_fingerprint": None,
    "x_server_timing": {"total_ms": 12},
}
PARAMS: dict[str, Any] = {
    "model": "a-model",
    "messages": [{"role": "user", "content": "Remind me to pay rent \u00e9"}],
    "tools": [{"type": "function", "function": {"name": "add_task", "parameters": {}}}],
    "extra_headers": {"User-Agent": "Agents/Python"},
}


class Server:
    """Answers each POST with `answer` (bytes as they are, else JSON) and `status`, after
    `delay` seconds; keeps each request's headers and body."""

    def __init__(self) -> None:
        self.answer: Any = ANSWER
        self.status = 200
        self.delay = 0.0
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._answer)

    async def _answer(self, request: Request) -> Response:
        self.seen.append((dict(request.headers), await request.body()))
        await asyncio.sleep(self.delay)
        answer = self.answer
        content = answer if isinstance(answer, bytes) else orjson.dumps(answer)
        return Response(content, status_code=self.status, media_type="application/json")


@asynccontextmanager
async def model_server() -> AsyncIterator[tuple[Server, str]]:
    server = Server()
    async with serving(server.app) as base:
        yield server, f"{base}/v1"


def _both(url: str, **options: Any) -> tuple[ModelClient, AsyncOpenAI]:
    ours = ModelClient(base_url=url, api_key="the-key", max_retries=0, **options)
    stock = AsyncOpenAI(base_url=url, api_key="the-key", max_retries=0, **options)
    return ours, stock


async def test_a_plain_call_sends_and_reads_what_the_client_does() -> None:
    async with model_server() as (server, url):
        ours, stock = _both(url)
        try:
            for answer in (ANSWER, LAX_ANSWER):
                server.answer = answer
                server.seen.clear()
                mine = await ours.chat.completions.create(**PARAMS)
                theirs = await stock.chat.completions.create(**PARAMS)

                assert mine.model_dump() == theirs.model_dump()
                (my_headers, my_body), (their_headers, their_body) = server.seen
                assert orjson.loads(my_body) == orjson.loads(their_body) == request_body(PARAMS)
                for name in ("authorization", "content-type", "accept", "user-agent"):
                    assert my_headers[name] == their_headers[name], name
                assert my_headers["authorization"] == "Bearer the-key"
            taken = ours.plain_calls._session  # the aiohttp path was taken
        finally:
            await ours.close()
            await stock.close()

    assert taken is not None

    assert mine.choices[0].message.content == "Done."  # the lax answer, read
    assert theirs.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (400, {"error": {"message": "bad tools", "type": "invalid_request_error", "code": "x"}}),
        (429, {"error": {"message": "slow down", "type": "rate_limit"}}),
        (500, b"<html>oops</html>"),
        (503, {"detail": "loading the model"}),
    ],
)
async def test_an_error_status_is_the_clients_own_error(status: int, answer: Any) -> None:
    async with model_server() as (server, url):
        server.status = status
        server.answer = answer
        ours, stock = _both(url)
        try:
            with pytest.raises(openai.APIStatusError) as mine:
                await ours.chat.completions.create(**PARAMS)
            with pytest.raises(openai.APIStatusError) as theirs:
                await stock.chat.completions.create(**PARAMS)
        finally:
            await ours.close()
            await stock.close()

    assert type(mine.value) is type(theirs.value)
    assert mine.value.status_code == theirs.value.status_code == status
    assert (mine.value.body, mine.value.code, mine.value.type, mine.value.message) == (
        theirs.value.body,
        theirs.value.code,
        theirs.value.type,
        theirs.value.message,
    )


async def test_headers_merge_as_the_clients_and_a_default_query_takes_its_path() -> None:
    async with model_server() as (server, url):
        options = {"default_headers": {"authorization": "Basic gateway", "X-Team": "a"}}
        ours, stock = _both(url, **options)
        queried = ModelClient(
            base_url=url, api_key="k", max_retries=0, default_query={"api-version": "1"}
        )
        try:
            await ours.chat.completions.create(**PARAMS)
            await stock.chat.completions.create(**PARAMS)
            await queried.chat.completions.create(**PARAMS)
        finally:
            await ours.close()
            await stock.close()
            await queried.close()

    (mine, _), (theirs, _), _ = server.seen
    assert mine["authorization"] == theirs["authorization"] == "Basic gateway"
    assert mine["x-team"] == theirs["x-team"] == "a"
    assert ours.plain_path
    assert not queried.plain_path  # the client's own path adds the query
    assert queried.plain_calls._session is None


def test_a_session_belongs_to_its_event_loop() -> None:
    calls = PlainCalls()

    async def first() -> Any:
        return calls.session()  # left open, as by an app whose shutdown did not close it

    async def second(earlier: Any) -> tuple[Any, Any]:
        made = calls.session()
        again = calls.session()
        await earlier.close()  # nothing is connected yet: it closes from any loop
        await calls.close()
        return made, again

    earlier = asyncio.run(first())
    made, again = asyncio.run(second(earlier))

    assert made is not earlier
    assert again is made
    assert made.closed


@pytest.mark.parametrize("answer", [b"<html>busy</html>", b"[1, 2]", b""])
async def test_an_answer_that_is_not_a_completion_is_an_api_error(answer: bytes) -> None:
    async with model_server() as (server, url):
        server.answer = answer
        ours, _ = _both(url)
        try:
            with pytest.raises(openai.APIError):
                await ours.chat.completions.create(**PARAMS)
        finally:
            await ours.close()


async def test_a_slow_answer_is_the_clients_timeout_and_a_closed_port_a_connection_error() -> None:
    async with model_server() as (server, url):
        server.delay = 1.0
        ours, _ = _both(url, timeout=0.2)
        try:
            with pytest.raises(openai.APITimeoutError):
                await ours.chat.completions.create(**PARAMS)
        finally:
            await ours.close()

    nobody = ModelClient(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", max_retries=0)
    try:
        with pytest.raises(openai.APIConnectionError) as raised:
            await nobody.chat.completions.create(**PARAMS)
    finally:
        await nobody.close()
    assert not isinstance(raised.value, openai.APITimeoutError)


async def test_copies_share_the_session_and_close_ends_it() -> None:
    async with model_server() as (_, url):
        ours, _ = _both(url)
        copy = ours.with_options(timeout=5.0)
        await ours.chat.completions.create(**PARAMS)
        session = ours.plain_calls._session
        await copy.chat.completions.create(**PARAMS)

        assert session is not None
        assert copy.plain_calls is ours.plain_calls
        assert copy.plain_calls._session is session
        await ours.close()

    assert session.closed


def test_the_deadline_is_the_clients() -> None:
    given = ModelClient(base_url="http://127.0.0.1:9/v1", api_key="k", timeout=7.5)
    split = ModelClient(
        base_url="http://127.0.0.1:9/v1", api_key="k", timeout=httpx2.Timeout(3.0, connect=1.0)
    )

    assert given.timeout_seconds == 7.5
    assert split.timeout_seconds == 3.0


HISTORY: list[Any] = [
    {"role": "user", "content": "Remind me to pay rent \u00e9 \U0001f600"},
    {"type": "function_call", "call_id": "c1", "name": "add_task", "arguments": '{"title": "x"}'},
    {"type": "function_call_output", "call_id": "c1", "output": '{"id": 1}'},
    {"role": "assistant", "content": "Added."},
    {"role": "user", "content": "And list them"},
]


async def _call(model: OpenAIChatCompletionsModel, tools: list[Any], settings: Any) -> Any:
    return await model.get_response(
        "You manage the to-do list.",
        HISTORY,
        settings,
        tools,
        None,
        [],
        ModelTracing.DISABLED,
    )


@pytest.mark.parametrize(
    ("settings", "plain"),
    [
        (ModelSettings(), True),
        (ModelSettings(extra_args={"prompt_cache_key": "k"}, extra_body={"seed": 7}), True),
        (ModelSettings(temperature=0.2), False),  # not a plain call: the SDK's path
        (ModelSettings(extra_args={"store": False}), False),
    ],
)
async def test_the_agents_model_sends_and_reads_what_the_sdks_does(
    settings: Any, plain: bool
) -> None:
    tools = await ChatTools().function_tools()
    async with model_server() as (server, url):
        client = ModelClient(base_url=url, api_key="k", max_retries=0)
        ours = ChatModel(model="a-model", openai_client=client)
        stock = OpenAIChatCompletionsModel(model="a-model", openai_client=client)
        try:
            mine = await _call(ours, tools, settings)
            theirs = await _call(stock, tools, settings)
        finally:
            await client.close()

    (_, my_body), (_, their_body) = server.seen
    assert orjson.loads(my_body) == orjson.loads(their_body)
    sent = orjson.loads(my_body)
    assert [m["role"] for m in sent["messages"]] == [
        "system", "user", "assistant", "tool", "assistant", "user"
    ]  # fmt: skip
    assert len(sent["tools"]) == 6
    assert bool(ours._converted[1]) is plain  # the path taken
    assert mine.output == theirs.output
    assert mine.usage == theirs.usage


async def test_the_tools_are_converted_again_only_for_other_tool_objects() -> None:
    first = await ChatTools().function_tools()
    other = await ChatTools().function_tools()
    async with model_server() as (_, url):
        client = ModelClient(base_url=url, api_key="k", max_retries=0)
        model = ChatModel(model="a-model", openai_client=client)
        try:
            await _call(model, first, ModelSettings())
            converted = model._converted[1]
            await _call(model, list(first), ModelSettings())
            kept = model._converted[1]
            await _call(model, other, ModelSettings())
        finally:
            await client.close()

    assert kept is converted
    assert model._converted[1] is not converted
    assert model._converted[0] == tuple(other)
