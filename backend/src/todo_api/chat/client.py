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
session of its own, with the client's headers (merged as it merges them), proxy settings and
deadline, and reads the `ChatCompletion` from it (validated, or where that fails as leniently
as the client reads every answer, so an OpenAI-compatible server's extra or missing fields
pass as before); what fails is raised as the client's own errors (`APITimeoutError`,
`APIConnectionError`, its status errors, built by it), which turn.py maps to 504 and 502 as
before. A client that adds a query to every request or gets its key from a provider keeps its
own path, and so do streamed calls (their Server-Sent Events are the client's to parse).
tests/integration/test_chat_model_calls.py holds the two paths side by side against a real
server.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Self, cast
from urllib.request import getproxies

import aiohttp
import httpx2
import orjson
from openai import (
    DEFAULT_TIMEOUT,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncOpenAI,
    AsyncStream,
    NotGiven,
    Omit,
)
from openai._base_client import _merge_headers, make_request_options
from openai.resources.chat import AsyncChat
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import ValidationError

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


def _environment_has_settings() -> bool:
    """Whether aiohttp's `trust_env` can find anything in this environment: an HTTP(S) or
    WebSocket proxy variable, or a netrc file (NETRC, else ~/.netrc). It looks on every call,
    twice, each time in a worker thread (10 % of a turn's server CPU in a profile); where
    there is nothing to find, a session without it sends the very same requests."""
    proxies = getproxies()
    if any(proxies.get(scheme) for scheme in ("http", "https", "ws", "wss")):
        return True
    if "NETRC" in os.environ:
        return True
    try:
        return (Path.home() / ".netrc").exists()
    except RuntimeError:  # no home directory: aiohttp finds no netrc either
        return False


class PlainCalls:
    """The aiohttp session of an app's plain model calls: made in the event loop of a call,
    closed with the client. A session belongs to its event loop: a call in another loop (the
    same app started again) gets a new one, and reads the environment's proxy and netrc
    settings again."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # trust_env: the proxy settings of the environment, as the client honours them
            self._session = aiohttp.ClientSession(trust_env=_environment_has_settings())
            self._loop = loop
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()


class _Completions(AsyncCompletions):
    _client: ModelClient

    async def create(self, **params: Any) -> Any:
        body = request_body(params)
        timeout = params.get("timeout")
        headers = {**_JSON, **(params.get("extra_headers") or {})}
        content = orjson.dumps(body, default=_default)
        if not body.get("stream") and not params.get("extra_query") and self._client.plain_path:
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

    async def _plain(self, content: bytes, headers: Any, seconds: float) -> ChatCompletion:
        client = self._client
        url = client.completions_url
        try:
            async with client.plain_calls.session().post(
                url,
                data=content,
                headers=_merge_headers(client.plain_headers, headers),
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as response:
                answer = await response.read()
                status = response.status
                request_id = response.headers.get("x-request-id")
        except TimeoutError as error:
            raise APITimeoutError(request=httpx2.Request("POST", url)) from error
        except aiohttp.ClientError as error:
            raise APIConnectionError(request=httpx2.Request("POST", url)) from error
        if not 200 <= status < 300:
            raise client.status_error(url, status, answer, request_id)
        completion = _completion(answer)
        if completion is None:  # not a completion at all: the server failed
            raise client.status_error(url, 502, answer, request_id)
        completion._request_id = request_id
        return completion


def _completion(answer: bytes) -> ChatCompletion | None:
    """The answer as the client reads it: validated (10 us), or else built leniently as the
    client builds every answer (`construct`: 120 us, and an OpenAI-compatible server's
    missing or extra fields pass); None when it is not a JSON object."""
    try:
        return ChatCompletion.model_validate_json(answer)
    except ValidationError:
        pass
    try:
        data = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return None
    return ChatCompletion.construct(**data) if isinstance(data, dict) else None


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
    def plain_path(self) -> bool:
        """Whether a plain call can skip the client's HTTP stack: not when the client adds a
        query to every request or gets its key from a provider, a workload identity or a
        cloud runtime (it fetches and refreshes those on its own path)."""
        return (
            not self.default_query
            and self._api_key_provider is None
            and self._provider_runtime is None
            and bool(self.auth_headers)
        )

    @cached_property
    def plain_headers(self) -> dict[str, str]:
        """The client's own headers (its key, user agent, organization, project, custom
        headers), merged as it merges them: case-insensitively, a later one winning."""
        return _merge_headers(self.auth_headers, self.default_headers)

    def status_error(
        self, url: str, status: int, content: bytes, request_id: str | None
    ) -> APIStatusError:
        """The client's own error for an answer that is not a completion (`RateLimitError`
        for a 429 and so on, with its body, code and request id)."""
        headers = {"x-request-id": request_id} if request_id else {}
        response = httpx2.Response(
            status, headers=headers, content=content, request=httpx2.Request("POST", url)
        )
        return self._make_status_error_from_response(response)

    @property
    def timeout_seconds(self) -> float:
        """The client's deadline for a call (its read deadline, when given as a `Timeout`)."""
        timeout = self.timeout
        if isinstance(timeout, int | float):
            return float(timeout)
        read = timeout.read if isinstance(timeout, httpx2.Timeout) else None
        # none given: the client's default deadline, never none at all
        return read if read is not None else cast(float, DEFAULT_TIMEOUT.read)

    def copy(self, *args: Any, **kwargs: Any) -> Self:
        """A copy (`with_options`) shares the session rather than opening one of its own."""
        copied = super().copy(*args, **kwargs)
        copied.plain_calls = self.plain_calls
        return copied

    with_options = copy

    async def close(self) -> None:
        await super().close()
        await self.plain_calls.close()
