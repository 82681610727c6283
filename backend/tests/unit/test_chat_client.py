"""The model client's lean `create` (chat/client.py) sends what the stock one would.

The stock `create` runs its arguments through the SDK's type-driven transform; ours only drops
the omitted ones. These tests hold the two side by side on a turn's real payload (our six
tools as the Agents SDK converts them, every kind of message a turn sends), so an SDK upgrade
whose transform starts to change such a request fails here instead of on a model server.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from agents.models.chatcmpl_converter import Converter
from openai import NOT_GIVEN, omit
from openai._utils import async_maybe_transform
from openai.types.chat import completion_create_params

from todo_api.chat.client import _REQUEST_KEYS, _environment_has_settings, request_body
from todo_api.chat.tools import ChatTools

pytestmark = pytest.mark.anyio


async def _payload() -> dict[str, Any]:
    tools = [Converter.tool_to_openai(tool) for tool in await ChatTools().function_tools()]
    call = {"id": "call_1", "type": "function", "function": {"name": "add_task", "arguments": "{}"}}
    return {
        "model": "a-model",
        "messages": [
            {"role": "system", "content": "You manage the to-do list."},
            {"role": "user", "content": "Remind me to pay rent \u00e9 \U0001f600"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"id": 1}'},
            {"role": "assistant", "content": "Added."},
        ],
        "tools": tools,
        "temperature": omit,
        "top_p": omit,
        "tool_choice": omit,
        "parallel_tool_calls": omit,
        "stream": omit,
        "store": NOT_GIVEN,
        "metadata": omit,
        "extra_headers": {"User-Agent": "Agents/Python"},
        "extra_query": None,
        "extra_body": None,
    }


async def test_the_body_is_what_the_stock_transform_sends() -> None:
    params = await _payload()
    stock = await async_maybe_transform(
        {k: v for k, v in params.items() if k not in _REQUEST_KEYS},
        completion_create_params.CompletionCreateParamsNonStreaming,
    )
    ours = request_body(params)

    assert orjson.loads(orjson.dumps(ours)) == stock
    assert "temperature" not in ours
    assert "store" not in ours
    assert len(ours["tools"]) == 6


async def test_extra_body_is_merged_and_request_options_stay_out_of_the_body() -> None:
    params = {**await _payload(), "extra_body": {"seed": 7}, "timeout": 3.0}

    body = request_body(params)

    assert body["seed"] == 7
    assert not set(_REQUEST_KEYS) & set(body)


@pytest.mark.parametrize("stream", [True, omit])
async def test_streaming_is_sent_only_when_asked(stream: Any) -> None:
    body = request_body({**await _payload(), "stream": stream})

    assert body.get("stream") is (True if stream is True else None)


def test_mappings_and_iterables_the_sdk_may_hand_over_are_encoded_as_json() -> None:
    from types import MappingProxyType

    from todo_api.chat.client import _default

    assert orjson.loads(orjson.dumps({"m": MappingProxyType({"a": 1})}, default=_default)) == {
        "m": {"a": 1}
    }
    assert orjson.loads(orjson.dumps({"i": iter([1, 2])}, default=_default)) == {"i": [1, 2]}


_PROXY_VARIABLES = ("http", "https", "ws", "wss", "all", "no")


@pytest.mark.parametrize(
    ("set_", "found"),
    [
        ({}, False),
        ({"no_proxy": "localhost"}, False),  # nothing to bypass: no proxy either
        ({"https_proxy": "http://proxy:3128"}, True),
        ({"HTTP_PROXY": "http://proxy:3128"}, True),
        ({"NETRC": "/nowhere/netrc"}, True),  # aiohttp then warns of it on each call
    ],
)
def test_the_session_reads_the_environment_only_where_it_has_settings(
    set_: dict[str, str], found: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for scheme in _PROXY_VARIABLES:
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in set_.items():
        monkeypatch.setenv(name, value)
    assert _environment_has_settings() is found
    (tmp_path / ".netrc").write_text("machine model.example login a password b\n")
    assert _environment_has_settings() is True
