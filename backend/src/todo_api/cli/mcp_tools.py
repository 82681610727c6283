"""Export the MCP tool contract exactly as `/mcp` lists it (`tools/list`)."""

from __future__ import annotations

import asyncio
import json


def mcp_tools_json() -> str:
    """The tools of `/mcp` as their `tools/list` entries, stably formatted."""
    from todo_api.mcp_server.server import build_server

    tools = asyncio.run(build_server().list_tools())
    document = {
        "tools": [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
