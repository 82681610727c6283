"""The model's HTTP client: `AsyncOpenAI` with a leaner `chat.completions.create`.

The stock `create` walks every request through the SDK's type-driven transform (each
message and each tool's JSON schema, key by key, against its TypedDict annotations) and then
encodes it with the standard `json` module: on a turn of three model calls that was the
largest single cost of the endpoint (performance.md, "Chat"). For what the Agents SDK sends
(text messages, tool calls and results, function tools) the transform changes nothing but
dropping omitted arguments, so this `create` drops them itself, encodes the body with orjson
and posts it through the same client (`AsyncAPIClient.post` with `content`, the client's
documented way to send a body it does not build): the same URL, headers, key, timeout,
errors and response parsing. tests/unit/test_chat_client.py checks that the body is what the
transform would have produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

import orjson
from openai import AsyncOpenAI, AsyncStream, NotGiven, Omit
from openai._base_client import make_request_options
from openai.resources.chat import AsyncChat
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import ChatCompletion, ChatCompletionChunk

_PATH = "/chat/completions"
_JSON = {"Content-Type": "application/json"}
_REQUEST_KEYS = ("extra_headers", "extra_query", "extra_body", "timeout")


def request_body(params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body `create(**params)` sends: given arguments only, `extra_body` merged."""
    body = {
        key: value
        for key, value in params.items()
        if key not in _REQUEST_KEYS and not isinstance(value, Omit | NotGiven)
    }
    body.update(params.get("extra_body") or {})
    return body


def _default(value: Any) -> Any:
    """What orjson cannot encode itself: pydantic models (a tool call's parsed form) and
    other iterables the SDK may hand over."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_unset=True)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class _Completions(AsyncCompletions):
    async def create(self, **params: Any) -> Any:
        body = request_body(params)
        timeout = params.get("timeout")
        options = make_request_options(
            extra_headers={**_JSON, **(params.get("extra_headers") or {})},
            extra_query=params.get("extra_query"),
            timeout=timeout if timeout is not None else NotGiven(),
            security={"bearer_auth": True},
        )
        return await self._post(
            _PATH,
            content=orjson.dumps(body, default=_default),
            options=options,
            cast_to=ChatCompletion,
            stream=bool(body.get("stream")),
            stream_cls=AsyncStream[ChatCompletionChunk],
        )


class _Chat(AsyncChat):
    @cached_property
    def completions(self) -> AsyncCompletions:
        return _Completions(self._client)


class ModelClient(AsyncOpenAI):
    """`AsyncOpenAI` whose `chat.completions.create` skips the request transform."""

    @cached_property
    def chat(self) -> AsyncChat:
        return _Chat(self)
