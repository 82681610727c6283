"""HTTP details the router does not handle the way HTTP (or a careful client) expects.

- `/api/alice/tasks/` is served as `/api/alice/tasks`. The router's own answer, a redirect
  to an absolute URL built from the `Host` header, let any client point the redirect at
  another site.
- `HEAD` is answered on every `GET` route, with the `GET` response's status and headers and
  no body (RFC 9110 section 9.3.2).
- A 405 lists in `Allow` every method of every route that matches the path, not only those
  of the first route the router happened to try (see `allowed_methods`).
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpSemanticsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            raw_path: bytes = scope.get("raw_path") or path.encode()
            scope = {**scope, "path": path.rstrip("/") or "/", "raw_path": raw_path.rstrip(b"/")}
        if scope["method"] == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        await self.app(scope, receive, send)


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return  # the body is dropped; only its end is passed on
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return send_head


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at the request's path (plus HEAD with GET), sorted.

    Asks each route whether it would fully match the path with each method: FastAPI nests
    included routers as routes of their own, so there is no flat list of methods to read.
    """
    methods = set()
    for method in _METHODS:
        probe = {"type": "http", "path": scope["path"], "root_path": "", "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
