"""One log line and one metrics observation per request, and the request's id.

`X-Request-ID` is taken from the request when it is a sane value (1-128 characters of
letters, digits and `-_.:`; a proxy's or a frontend's id), made up otherwise, and sent back
in the response, in every problem document (`problems.py`) and on every log line written
while the request runs (`logs.py`). An exception nothing else handled is logged here once,
with that id, and answered with a 500 problem.

The route is the template (`/api/{user_id}/tasks/{task_id}`), never the raw path: user ids
stay out of metric labels, and their number stays bounded. A path no route matched is
`unmatched`. The user appears only as a keyed hash (`user_ref`).

Labels stay bounded whatever clients send: a method the API does not serve counts as
`other`, and a request whose client went away before any answer as status 499.

It sits inside CORS (so its 500s carry CORS headers; preflights answered by CORS itself are
not logged) and outside the body limit, so its 413s and 408s are counted.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api import metrics
from todo_api.api.problems import problem_response
from todo_api.logs import REQUEST_ID, REQUESTS_LOGGER, request_line, user_reference
from todo_api.security.principal import PRINCIPAL

_SANE_ID = re.compile(rb"[A-Za-z0-9\-_.:]{1,128}")
_CONVERTOR = re.compile(r":[^}]+}")
_HEADER = b"x-request-id"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_GONE = 499  # no response was sent: the client disconnected (nginx's convention)


# Made-up ids: a random prefix per process and a counter (unique, and no system call).
_PREFIX = os.urandom(8).hex()
_counter = itertools.count()


def request_id(scope: Scope) -> str:
    """The client's `X-Request-ID` when it is sane, else a new one."""
    for name, value in scope["headers"]:
        if name == _HEADER:
            if _SANE_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return f"{_PREFIX}{next(_counter):08x}"


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, *, log: bool, count: bool) -> None:
        self.app = app
        self.log = log
        self.count = count
        self._templates: dict[int, str] = {}  # by id(route): routes live as long as the app
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        token = REQUEST_ID.set(rid)
        status = 0  # nothing sent yet
        header = (_HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            REQUESTS_LOGGER.exception(
                "unhandled error in %s %s", scope["method"], self._route(scope)
            )
            if status:  # the response had begun: the server can only close the connection
                status = 500
                raise
            await problem_response(500, "Internal server error")(scope, receive, send_with_id)
        finally:
            self._record(scope, status or CLIENT_GONE, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        template = self._templates.get(id(route))
        if template is None:
            template = _CONVERTOR.sub("}", getattr(route, "path", "unmatched"))
            self._templates[id(route)] = template
        return template

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method: str = scope["method"]
        if method not in _METHODS:
            method = "other"
        route = self._route(scope)
        if self.count:
            series = self._series.get((method, route, status))
            if series is None:
                series = (
                    metrics.REQUESTS.labels(method, route, str(status)),
                    metrics.LATENCY.labels(method, route, str(status)),
                )
                self._series[(method, route, status)] = series
            series[0].inc()
            series[1].observe(seconds)
        if self.log:
            principal = scope.get(PRINCIPAL)
            user_ref = None if principal is None else user_reference(principal.user_id)
            request_line(method, route, status, round(seconds * 1000, 2), user_ref)
