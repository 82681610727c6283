"""The agent's tools: the MCP server's six task tools, same names, arguments and texts.

Each call goes through the MCP server's own `call_tool` (argument validation, the same
`TaskService` call, the REST `detail` of a failure as the result text), for the user of the
chat request's token: the request rides in the call's context, as on `/mcp`. No tool takes a
user id, and the model never sees one. A failure reaches the model as text, never as a
failed turn; past CHAT_MAX_TOOL_CALLS a call runs nothing and says so.
"""

# No `from __future__ import annotations` here: the SDK reads the annotations of a tool's
# `on_invoke_tool` on every call (`get_type_hints`, to choose the context it passes), and
# evaluated ones are read about ten times faster than strings.

import json
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from agents import FunctionTool, RunContextWrapper
from agents.tool_context import ToolContext
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from starlette.requests import Request

from todo_api.mcp_server.server import TaskTools, build_server

logger = logging.getLogger(__name__)

RESULT_MAX_CHARS = 8000
CRASHED = "The tool failed unexpectedly; nothing more is known. Tell the user."


@dataclass
class ChatCall:
    """The caller of one turn (the request whose token the tools act for) and its tool calls."""

    request: Request
    max_tool_calls: int
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def public_calls(self) -> list[dict[str, Any]]:
        """The calls as the API shows them: name, arguments, result."""
        return [{k: call[k] for k in ("name", "arguments", "result")} for call in self.calls]


def _tool_context(server: TaskTools, request: Request, arguments: dict[str, Any]) -> Context[Any]:
    """The MCP context a tool reads: the HTTP request (app state, verified principal) and the
    arguments sent (`update_task` changes only those)."""
    request_context: ServerRequestContext[Any, Any] = ServerRequestContext(
        session=cast(Any, None),  # the tools never talk back to a client session
        lifespan_context={},
        protocol_version="",
        method="tools/call",
        params={"arguments": arguments},
        request=request,
    )
    return Context(request_context=request_context, mcp_server=server)


# What a schema says for validators and form generators, not for a model: a title repeats
# the property's name, and the patterns (a title's or tag's blank and invisible characters,
# the ISO 8601 durations) are long character classes of \u escapes. The server checks all
# of them anyway; a call that breaks one gets the REST detail back as text.
_NOT_FOR_THE_MODEL = frozenset({"title", "pattern"})


def for_the_model(schema: Any) -> Any:
    """A tool's JSON schema as the model is sent it: the same properties, types, limits,
    enums, descriptions and examples, without titles and patterns (about half the bytes, and
    the tokens, of each model call's tool list)."""
    if isinstance(schema, list):
        return [for_the_model(each) for each in schema]
    if not isinstance(schema, dict):
        return schema
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NOT_FOR_THE_MODEL and not isinstance(value, dict):
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            kept[key] = {name: for_the_model(each) for name, each in value.items()}
        elif key in ("examples", "default", "enum", "const", "required"):
            kept[key] = value  # values, not schemas
        else:
            kept[key] = for_the_model(value)
    return kept


def _text(result: Any) -> str:
    if not isinstance(result, CallToolResult):
        return CRASHED
    text = "\n".join(part.text for part in result.content if isinstance(part, TextContent))
    if len(text) > RESULT_MAX_CHARS:
        text = text[:RESULT_MAX_CHARS] + "\n(cut short)"
    return text


class ChatTools:
    """The six task tools as the Agents SDK's function tools (built once per app)."""

    def __init__(self) -> None:
        self._server = build_server()

    async def function_tools(self) -> list[FunctionTool]:
        tools = []
        for tool in await self._server.list_tools():
            tools.append(
                FunctionTool(
                    name=tool.name,
                    description=tool.description or "",
                    params_json_schema=for_the_model(dict(tool.input_schema)),
                    on_invoke_tool=self._invoker(tool.name),
                    strict_json_schema=False,
                )
            )
        return tools

    def _invoker(self, name: str) -> Any:
        async def invoke(context: ToolContext[ChatCall], raw: str) -> str:
            return await self.call(context, name, raw)

        return invoke

    async def call(self, context: RunContextWrapper[ChatCall], name: str, raw: str) -> str:
        turn = context.context
        call_id = getattr(context, "tool_call_id", "") or f"call_{len(turn.calls)}"
        try:
            arguments = json.loads(raw or "{}")
        except json.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            text = "The arguments are not a JSON object: call the tool again with one."
            arguments = {}
        elif len(turn.calls) >= turn.max_tool_calls:
            text = (
                f"Not run: this message allows {turn.max_tool_calls} tool calls and they are "
                "used up. Do not call tools again; tell the user what was done and what not."
            )
        else:
            try:
                ctx = _tool_context(self._server, turn.request, arguments)
                text = _text(await self._server.call_tool(name, arguments, ctx))
            except Exception:  # a crash (a bug): the model hears that it failed, not why
                logger.exception("chat tool %s crashed", name)
                text = CRASHED
        turn.calls.append({"id": call_id, "name": name, "arguments": arguments, "result": text})
        return text
