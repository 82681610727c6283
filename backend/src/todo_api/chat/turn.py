"""One turn of the agent: the stored history in, the answer and its tool calls out.

A turn is bounded: CHAT_MAX_TOOL_CALLS tool calls (then the tools refuse, and a model that
still loops is stopped with a clear answer), a deadline per model call
(CHAT_MODEL_TIMEOUT_SECONDS) and one for the whole turn (CHAT_TURN_SECONDS). A model that
does not answer in time is a `ModelTimeoutError` (504), one that fails a `ModelFailedError`
(502); the caller keeps the user's message either way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import openai
from agents import (
    AgentsException,
    MaxTurnsExceeded,
    RawResponsesStreamEvent,
    RunConfig,
    RunItemStreamEvent,
    Runner,
    TResponseInputItem,
)
from agents import ModelTimeoutError as SdkModelTimeoutError  # the SDK's, if ever configured
from sqlalchemy import Row

from todo_api.chat.model import chat_agent
from todo_api.chat.tools import ChatCall, ChatTools
from todo_api.config import Settings
from todo_api.errors import ApiError, ModelFailedError, ModelTimeoutError

_RUN_CONFIG = RunConfig(tracing_disabled=True, trace_include_sensitive_data=False)


def stopped(call: ChatCall) -> str:
    """The answer of a turn whose model kept calling tools."""
    done = ", ".join(f"{c['name']}" for c in call.calls[: call.max_tool_calls]) or "nothing"
    return (
        f"I stopped: answering this needed more than {call.max_tool_calls} tool calls "
        f"(CHAT_MAX_TOOL_CALLS). Calls made: {done}. Please ask again in smaller steps."
    )


def history_items(rows: Sequence[Row[Any]]) -> list[TResponseInputItem]:
    """Stored messages (oldest first) as the model's input: each answer with its tool calls
    and their results before its text, so the model knows the ids it worked with."""
    items: list[TResponseInputItem] = []
    for row in rows:
        if row.role == "user":
            items.append({"role": "user", "content": row.content})
            continue
        for call in row.tool_calls:
            arguments = json.dumps(call["arguments"])
            items.append(
                {
                    "type": "function_call",
                    "call_id": call["id"],
                    "name": call["name"],
                    "arguments": arguments,
                }
            )
            items.append(
                {"type": "function_call_output", "call_id": call["id"], "output": call["result"]}
            )
        items.append({"role": "assistant", "content": row.content})
    return items


def model_error(error: BaseException) -> ApiError | None:
    """The catalogue's failure for what the model (or its client) raised, if it is one."""
    if isinstance(error, TimeoutError | openai.APITimeoutError | SdkModelTimeoutError):
        return ModelTimeoutError()
    if isinstance(error, openai.APIError | AgentsException):
        return ModelFailedError()
    return None


class ChatAgent:
    """Runs turns of the configured model (one per app; the user is in each turn's call)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._tools = ChatTools()
        self._agent, self.client = chat_agent(settings, self._tools)

    async def _ready(self) -> None:
        if not self._agent.tools:
            self._agent.tools = list(await self._tools.function_tools())

    @property
    def _max_turns(self) -> int:
        # a model call per tool call, one after the refusal, one for the answer
        return self._settings.chat_max_tool_calls + 2

    async def run(self, call: ChatCall, history: Sequence[Row[Any]]) -> str:
        """The answer to the last message of `history` (the calls are in `call`)."""
        await self._ready()
        try:
            async with asyncio.timeout(self._settings.chat_turn_seconds):
                result = await Runner.run(
                    self._agent,
                    history_items(history),
                    context=call,
                    max_turns=self._max_turns,
                    run_config=_RUN_CONFIG,
                )
        except MaxTurnsExceeded:
            return stopped(call)
        except Exception as error:
            failure = model_error(error)
            if failure is None:
                raise
            raise failure from error
        return str(result.final_output or "")

    async def stream(
        self, call: ChatCall, history: Sequence[Row[Any]]
    ) -> AsyncGenerator[tuple[str, dict[str, Any]]]:
        """The turn as it happens: ("text", {"delta"}) and ("tool_call", {"name",
        "arguments", "result"}) events; the last is ("answer", {"response"})."""
        await self._ready()
        text: list[str] = []
        sent = 0
        try:
            async with asyncio.timeout(self._settings.chat_turn_seconds):
                result = Runner.run_streamed(
                    self._agent,
                    history_items(history),
                    context=call,
                    max_turns=self._max_turns,
                    run_config=_RUN_CONFIG,
                )
                try:
                    async for event in result.stream_events():
                        if isinstance(event, RawResponsesStreamEvent):
                            if event.data.type == "response.output_text.delta":
                                text.append(event.data.delta)
                                yield "text", {"delta": event.data.delta}
                        elif isinstance(event, RunItemStreamEvent) and event.name == "tool_output":
                            for shown in call.public_calls[sent:]:
                                yield "tool_call", shown
                            sent = len(call.calls)
                finally:
                    if not result.is_complete:  # nobody reads on: no more model or tool calls
                        result.cancel()
                answer = str(result.final_output or "")
        except MaxTurnsExceeded:
            answer = stopped(call)
        except Exception as error:
            failure = model_error(error)
            if failure is None:
                raise
            raise failure from error
        for shown in call.public_calls[sent:]:
            yield "tool_call", shown
        if answer and not text:  # an answer not streamed as text (a stopped turn)
            yield "text", {"delta": answer}
        yield "answer", {"response": answer}

    async def close(self) -> None:
        await self.client.close()
