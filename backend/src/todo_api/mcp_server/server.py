"""The MCP server: the six task tools, and what a failed call tells the model.

A tool call that fails because of what was asked (bad arguments, an unknown or foreign task
id, a cursor for another list, a quota reached) or because the service is busy is a *tool
error*: a result with `isError: true` whose text is the `detail` the REST API gives for the
same mistake, so the model can read it and correct itself. Only a crash (a bug) is reported
as the SDK's generic "Error executing tool" without the exception's text, and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from todo_api import __version__
from todo_api.errors import ApiError, report
from todo_api.mcp_server import tools
from todo_api.mcp_server.results import error_result
from todo_api.validation_errors import field_errors, validation_summary

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
Manage the to-do list of the signed-in user (the owner of the bearer token): add, list,
get, update, complete and delete their tasks. Tasks are identified by numeric ids, which
list_tasks and add_task return. Nobody else's tasks can be seen or changed.
"""


def _argument(loc: Sequence[Any]) -> str:
    # ("tags", 2) -> "tags.2"; () (a rule across arguments) -> ""
    return ".".join(str(part) for part in loc)


def tool_error_detail(error: BaseException | None) -> str | None:
    """What the REST API would say about `error` (the catalogue's text, `todo_api/errors/`),
    or None when it is a crash."""
    if isinstance(error, ValidationError):
        return validation_summary(field_errors(error.errors()), _argument)
    if isinstance(error, ApiError):
        report(error)
        return error.tool_text
    return None


class TaskTools(MCPServer):
    """`MCPServer` whose failed tool calls carry the REST API's `detail` (see above)."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            # The SDK wraps what a tool raised; its cause is the exception itself (or, for
            # arguments that do not fit the input schema, pydantic's ValidationError).
            detail = tool_error_detail(error.__cause__)
            if detail is None:
                raise
            return error_result(detail)


def build_server() -> TaskTools:
    server = TaskTools(
        name="todo-api",
        title="Todo list",
        version=__version__,
        instructions=INSTRUCTIONS,
        # The SDK configures the root logger when built; WARNING keeps that from turning on
        # every library's INFO lines in the server's log.
        log_level="WARNING",
    )
    tools.register(server)
    return server
