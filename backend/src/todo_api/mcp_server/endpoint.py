"""`POST /mcp`: the MCP endpoint, behind the same bearer token check as `/api`.

The token is verified before the SDK reads a byte of the body: without a valid one the
answer is the same 401 problem document (with `WWW-Authenticate`) as on `/api`, and no tool
runs. The verified caller rides in the ASGI scope to the tools (`caller.py`).

The transport is stateless Streamable HTTP with plain JSON responses: every POST carries a
whole exchange, no session lives in a worker's memory, so any worker behind any balancer,
and Neon's pooler behind the database, can serve any call. There is nothing to `GET` (no
server-initiated stream) or `DELETE` (no session): both are 405.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from todo_api.api.auth import authenticated, bearer_scheme
from todo_api.config import Settings
from todo_api.mcp_server.server import build_server

MCP_PATH = "/mcp"


class McpEndpoint:
    """ASGI app of `/mcp`: authenticate, then hand the request to the SDK."""

    def __init__(self, sessions: StreamableHTTPSessionManager) -> None:
        self._sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        # TokenRejectedError (401) and KeySetUnavailableError (503) propagate to the app's
        # problem handlers, exactly as from the `/api` dependency; on success the principal
        # is in the scope (`security/principal.py`, PRINCIPAL) for the tools.
        await authenticated(request, await bearer_scheme(request))
        await self._sessions.handle_request(scope, receive, send)


def mount_mcp(app: FastAPI, settings: Settings) -> AbstractAsyncContextManager[None]:
    """Serve the tools at `/mcp` (kept out of the OpenAPI document, which describes the
    REST API); returns what the app's lifespan must run while it serves."""
    server = build_server()
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        max_request_body_size=settings.max_body_bytes,
        # DNS rebinding protection guards servers that trust whoever can reach them. This
        # one trusts only a bearer token, which a rebinding page cannot obtain; the check
        # would refuse every deployment whose Host is not localhost.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    sessions = server.session_manager
    app.router.routes.append(
        Route(MCP_PATH, McpEndpoint(sessions), methods=["POST"], include_in_schema=False)
    )
    return sessions.run()
