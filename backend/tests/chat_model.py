"""A scripted stand-in for a chat model: a real HTTP server speaking the Chat Completions
protocol (`POST /v1/chat/completions`, plain JSON or `stream: true` Server-Sent Events, with
tool calls). No model can run on the test machines; this one answers from a script.

A script is a function of the request body (the messages so far, the tools) returning a
`Step`: text to say, tool calls to make, and how long to think first. Every request is kept
(`requests`) for the tests to read what the app told the model.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from tests.support import serving


@dataclass
class Step:
    text: str | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0
    gap: float = 0.0
    """Streamed: the pause before each chunk (a model that trickles its answer)."""
    status: int = 200
    """Not 200: the API fails (an error document instead of an answer)."""


Script = Callable[[dict[str, Any]], Step]


def say(text: str) -> Step:
    return Step(text=text)


def echo(body: dict[str, Any]) -> Step:
    """A script that answers "re: <the last user message>"."""
    said = [m["content"] for m in body["messages"] if m["role"] == "user"]
    return say(f"re: {said[-1]}")


def call(name: str, **arguments: Any) -> Step:
    return Step(calls=[(name, arguments)])


def tool_results(body: dict[str, Any]) -> list[str]:
    """The tool results the app sent the model so far, oldest first."""
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def turn_results(body: dict[str, Any]) -> list[str]:
    """The tool results since the last user message (this turn's)."""
    messages = body["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return [m["content"] for m in messages[last_user:] if m["role"] == "tool"]


def plan(*steps: Step) -> Script:
    """Each turn of the conversation walks `steps`: the next step is the one after as many
    tool results as this turn has (so a turn of N calls and a text has N + 1 steps)."""

    def script(body: dict[str, Any]) -> Step:
        return steps[min(len(turn_results(body)), len(steps) - 1)]

    return script


class StandInModel:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        step = self.script(body)
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status != 200:
            error = {"message": "the stand-in failed", "type": "server_error"}
            return JSONResponse({"error": error}, status_code=step.status)
        calls = [
            {
                "id": f"call_{next(self._ids)}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for name, arguments in step.calls
        ]
        finish = "tool_calls" if calls else "stop"
        if body.get("stream"):
            return StreamingResponse(
                self._chunks(body["model"], step.text, calls, finish, step.gap),
                media_type="text/event-stream",
            )
        message: dict[str, Any] = {"role": "assistant", "content": step.text}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def _chunks(
        self,
        model: str,
        text: str | None,
        calls: list[dict[str, Any]],
        finish: str,
        gap: float,
    ) -> AsyncIterator[bytes]:
        ident = f"chatcmpl-{next(self._ids)}"

        def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
            payload = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            }
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        yield chunk({"role": "assistant", "content": ""})
        if text:
            for start in range(0, len(text), 5):  # a few characters at a time, as models do
                await asyncio.sleep(gap)
                yield chunk({"content": text[start : start + 5]})
        for index, made in enumerate(calls):
            yield chunk({"tool_calls": [{"index": index, **made}]})
        yield chunk({}, finish)
        yield b"data: [DONE]\n\n"


@asynccontextmanager
async def stand_in_model(script: Script) -> AsyncIterator[tuple[StandInModel, str]]:
    """The stand-in served on a local port: itself, and the base URL (CHAT_MODEL_URL)."""
    model = StandInModel(script)
    async with serving(model.app) as base:
        yield model, f"{base}/v1"
