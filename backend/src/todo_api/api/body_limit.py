"""Request bodies: bounded in size and in time, before they are read into memory.

- Larger than `max_bytes` (declared by Content-Length or streamed): 413.
- Not all there `timeout` seconds after the request started: 408, and the connection is
  closed (`Connection: close`), since the rest of that body would be read as a new request.

Either way the client held nothing shared meanwhile: no admission turn and no database
connection are taken before the body has arrived (see `api/admission.py`).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.api.problems import as_http_exception, error_response
from todo_api.errors import BodyTimeoutError, BodyTooLargeError


class BodyLimitMiddleware:
    """413 for a body over `max_bytes`; 408 for one that takes longer than `timeout`."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = error_response(BodyTooLargeError(self.max_bytes))
            await response(scope, receive, send)
            return
        await self.app(scope, self._bounded(receive), send)

    def _bounded(self, receive: Receive) -> Receive:
        deadline = asyncio.get_running_loop().time() + self.timeout
        received = 0
        complete = False

        async def bounded() -> Message:
            nonlocal received, complete
            if complete:  # later calls wait for a disconnect: not a body read
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                # FastAPI re-raises HTTPExceptions from body reading unchanged.
                raise as_http_exception(BodyTimeoutError(self.timeout)) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise as_http_exception(BodyTooLargeError(self.max_bytes))
                complete = not message.get("more_body", False)
            return message

        return bounded


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
