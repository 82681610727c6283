"""The agent's model: the Agents SDK's Chat Completions model, building a plain call's request
without the SDK's walk of it.

For every model call the SDK converts the messages and the tools, then walks both into plain
JSON types (`_to_dump_compatible`, key by key through the six tools' schemas and every message
of the history) before the client encodes them: 5 % of a turn's server time in a profile
(performance.md, "Chat"). Our client encodes with orjson, which takes the converted messages
and the SDK's tool dictionaries as they are (chat/client.py `_default` handles the rest), and
the tools do not change between calls, so they are converted once.

That shorter path is taken only for a call as our agent makes it: not streamed, function
tools only, no handoffs, no output schema, no prompt or server-side conversation, no model
settings but the SDK's extras, tracing without data. It sends the request the SDK would
(tests/integration/test_chat_model_calls.py holds the two side by side); the response is
read by the SDK's own `get_response` as before. Anything else takes the SDK's path.

A streamed call gets one deadline for the whole call (`stream_response`): the client's own
timeout bounds each read, so a model that trickles its answer would hold the turn until its
own deadline (`CHAT_TURN_SECONDS`) instead of the call's (`CHAT_MODEL_TIMEOUT_SECONDS`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from agents import FunctionTool, ModelSettings, ModelTracing, Tool
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.models.chatcmpl_converter import Converter
from agents.models.chatcmpl_helpers import ChatCmplHelpers
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.tracing.span_data import GenerationSpanData
from agents.tracing.spans import Span
from openai.types.responses.response_prompt_param import ResponsePromptParam

from todo_api.chat.client import ModelClient

# The model settings a plain call may carry: the SDK's pass-through extras.
_EXTRAS = frozenset({"extra_args", "extra_headers", "extra_body", "extra_query"})
_SETTINGS = tuple(field.name for field in dataclasses.fields(ModelSettings))
# What the shorter path sets itself; an extra argument of the same name takes the SDK's path
# (which refuses it).
_SENT = frozenset(
    {"model", "messages", "tools", "store", "extra_headers", "extra_query", "extra_body"}
)


def _plain_settings(settings: ModelSettings) -> bool:
    if any(getattr(settings, name) is not None for name in _SETTINGS if name not in _EXTRAS):
        return False
    return not _SENT & set(settings.extra_args or ())


class ChatModel(OpenAIChatCompletionsModel):
    """`OpenAIChatCompletionsModel` with the shorter request path for plain calls and one
    deadline for a whole streamed call."""

    _converted: tuple[tuple[Tool, ...], list[Any]] = ((), [])

    def _converted_tools(self, tools: list[Tool]) -> list[Any]:
        """The tools as Chat Completions takes them, converted again only when the SDK hands
        over other tool objects (held here, so their identity cannot be reused)."""
        held, converted = self._converted
        if len(held) != len(tools) or any(a is not b for a, b in zip(held, tools, strict=False)):
            converted = [Converter.tool_to_openai(tool) for tool in tools]
            self._converted = (tuple(tools), converted)
        return converted

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The SDK's streamed call, ended with TimeoutError (504) once our client's deadline
        for a call has passed since it began, however steadily the model sends. Once the
        answer is complete the deadline no longer applies: the SDK then only closes the
        HTTP stream, and a finished answer must not become a 504. (The SDK's own
        `ModelSettings.timeout` would raise its `ModelTimeoutError`, run the stream in a task
        of its own, and take every call off the shorter path above.)"""
        client = self._client
        seconds = client.timeout_seconds if isinstance(client, ModelClient) else None
        events = super().stream_response(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
        )
        deadline = None if seconds is None else asyncio.get_running_loop().time() + seconds
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                if event.type == "response.completed":
                    deadline = None
                yield event
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def _fetch_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        span: Span[GenerationSpanData],
        tracing: ModelTracing,
        stream: bool = False,
        prompt: ResponsePromptParam | None = None,
    ) -> Any:
        plain = (
            not stream
            and output_schema is None
            and not handoffs
            and prompt is None
            and not tracing.include_data()
            and all(isinstance(tool, FunctionTool) for tool in tools)
            and _plain_settings(model_settings)
        )
        if not plain:
            return await super()._fetch_response(  # type: ignore[call-overload]
                system_instructions,
                input,
                model_settings,
                tools,
                output_schema,
                handoffs,
                span,
                tracing,
                stream=stream,
                prompt=prompt,
            )
        self._validate_official_openai_input_content_types(input)
        client = self._get_client()
        messages: list[Any] = Converter.items_to_messages(
            input,
            model=self.model,
            base_url=str(client.base_url),
            should_replay_reasoning_content=self.should_replay_reasoning_content,
            strict_feature_validation=self._strict_feature_validation,
        )
        if system_instructions:
            messages.insert(0, {"content": system_instructions, "role": "system"})
        params: dict[str, Any] = {"model": self.model, "messages": messages}
        if tools:
            params["tools"] = self._converted_tools(tools)
        store = ChatCmplHelpers.get_store_param(client, model_settings)
        if store is not None:
            params["store"] = store
        params["extra_headers"] = self._merge_headers(model_settings)
        params["extra_query"] = model_settings.extra_query
        params["extra_body"] = model_settings.extra_body
        params.update(model_settings.extra_args or {})
        return await client.chat.completions.create(**params)
