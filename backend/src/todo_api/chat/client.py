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

A plain (not streamed) call also skips the client's HTTP stack: HTTPX2, under the client,
spent about 1.1 ms of CPU on each local POST and the client's wrapping 0.4 ms more, where
aiohttp (the transport of the client's own `aiohttp` extra) spends 0.3 (performance.md,
"Chat"), and a turn makes three calls. So `create` posts a plain call's body with one aiohttp
session of its own, with the client's headers and deadline, and reads the `ChatCompletion`
from it (validated, or where that fails as leniently as the client reads every answer, so an
OpenAI-compatible server's extra or missing fields pass as before); what fails is raised as
the client's errors (`APITimeoutError`, `APIConnectionError`, `APIStatusError`), which turn.py
maps to 504 and 502 as before. Streamed calls still go through the client (their Server-Sent
Events are the client's to parse). tests/integration/test_chat_model_calls.py holds the two
paths side by side against a real server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any, Self

import aiohttp
import httpx2
import orjson
from openai import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncOpenAI,
    AsyncStream,
    NotGiven,
    Omit,
)
from openai._base_client import make_request_options
from openai.resources.chat import AsyncChat
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import ValidationError

_PATH = "/chat/completions"
_JSON = {"Content-Type": "application/json"}
_REQUEST_KEYS = ("extra_headers", "extra_query", "extra_body", "timeout")
_DEFAULT_SECONDS = 600.0  # the client's own default


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


class PlainCalls:
    """The aiohttp session of an app's plain model calls: made in the event loop of the first
    call, closed with the client (a later lifespan of the same app makes a new one)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _failed(url: str, status: int, content: bytes) -> APIStatusError:
    """The client's error for an answer that is not a 2xx (as `APIStatusError`, whose
    subclasses only name the status)."""
    request = httpx2.Request("POST", url)
    response = httpx2.Response(status, request=request, content=content)
    try:
        body: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = content.decode(errors="replace")[:1000]
    return APIStatusError(f"Error code: {status} - {body}", response=response, body=body)


class _Completions(AsyncCompletions):
    _client: ModelClient

    async def create(self, **params: Any) -> Any:
        body = request_body(params)
        timeout = params.get("timeout")
        headers = {**_JSON, **(params.get("extra_headers") or {})}
        content = orjson.dumps(body, default=_default)
        if not body.get("stream") and not params.get("extra_query"):
            given = timeout if isinstance(timeout, int | float) else None
            return await self._plain(content, headers, given or self._client.timeout_seconds)
        options = make_request_options(
            extra_headers=headers,
            extra_query=params.get("extra_query"),
            timeout=timeout if timeout is not None else NotGiven(),
            security={"bearer_auth": True},
        )
        return await self._post(
            _PATH,
            content=content,
            options=options,
            cast_to=ChatCompletion,
            stream=bool(body.get("stream")),
            stream_cls=AsyncStream[ChatCompletionChunk],
        )

    async def _plain(
        self, content: bytes, headers: dict[str, str], seconds: float
    ) -> ChatCompletion:
        client = self._client
        url = client.completions_url
        try:
            async with client.plain_calls.session().post(
                url,
                data=content,
                headers={**client.plain_headers, **headers},
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as response:
                answer = await response.read()
                status = response.status
        except TimeoutError as error:
            raise APITimeoutError(request=httpx2.Request("POST", url)) from error
        except aiohttp.ClientError as error:
            raise APIConnectionError(request=httpx2.Request("POST", url)) from error
        if not 200 <= status < 300:
            raise _failed(url, status, answer)
        return _completion(url, answer)


def _completion(url: str, answer: bytes) -> ChatCompletion:
    """The answer as the client reads it: validated (10 us), or else built leniently as the
    client builds every answer (`construct`: 120 us, and an OpenAI-compatible server's
    missing or extra fields pass)."""
    try:
        return ChatCompletion.model_validate_json(answer)
    except ValidationError:
        pass
    try:
        data = orjson.loads(answer)
    except orjson.JSONDecodeError as error:
        raise _failed(url, 502, answer) from error
    if not isinstance(data, dict):
        raise _failed(url, 502, answer)
    return ChatCompletion.construct(**data)


class _Chat(AsyncChat):
    @cached_property
    def completions(self) -> AsyncCompletions:
        return _Completions(self._client)


class ModelClient(AsyncOpenAI):
    """`AsyncOpenAI` whose `chat.completions.create` skips the request transform, and the
    client's HTTP stack for plain calls."""

    plain_calls: PlainCalls

    def __init__(self, *args: Any, plain_calls: PlainCalls | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plain_calls = plain_calls if plain_calls is not None else PlainCalls()

    @cached_property
    def chat(self) -> AsyncChat:
        return _Chat(self)

    @cached_property
    def completions_url(self) -> str:
        return str(self.base_url).rstrip("/") + _PATH

    @cached_property
    def plain_headers(self) -> dict[str, str]:
        """The client's own headers (its key, user agent, organization, project) as it
        would send them."""
        headers = {**self.default_headers, **self.auth_headers}
        return {key: value for key, value in headers.items() if isinstance(value, str)}

    @property
    def timeout_seconds(self) -> float:
        """The client's deadline for a call (its read deadline, when given as a `Timeout`)."""
        timeout = self.timeout
        if isinstance(timeout, int | float):
            return float(timeout)
        if isinstance(timeout, httpx2.Timeout) and timeout.read is not None:
            return timeout.read
        return _DEFAULT_SECONDS

    def copy(self, *args: Any, **kwargs: Any) -> Self:
        """A copy (`with_options`) shares the session rather than opening one of its own."""
        copied = super().copy(*args, **kwargs)
        copied.plain_calls = self.plain_calls
        return copied

    with_options = copy

    async def close(self) -> None:
        await super().close()
        await self.plain_calls.close()
