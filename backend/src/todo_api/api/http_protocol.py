"""uvicorn's httptools protocol with deadlines and a size limit on request headers.

uvicorn buffers a request's headers without limit and waits for them without a deadline
(its keep-alive timeout only runs between requests). One client could so hold a worker's
memory (a 64 MB header took 600 MB and eight seconds of the event loop) or a connection
forever (headers sent a byte at a time). This protocol:

- answers 431 and closes the connection as soon as the request line and headers exceed
  `max_header_bytes`, counting bytes as they arrive, before the parser has buffered more;
- answers 408 and closes the connection when a request's headers are not complete
  `header_timeout` seconds after its first byte (or after the connection was opened).

Both answers are written by the protocol itself: the application never sees the request.
`python -m todo_api serve` (so `make run`, `make serve` and the benchmark) uses it.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from todo_api.api.problems import PROBLEM_MEDIA_TYPE, status_title


@lru_cache(maxsize=8)
def _raw_problem(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 problem response that closes the connection (built once per
    configuration, not once per connection)."""
    title = status_title(status)
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that bounds the size of request headers and the time they take."""

    def __init__(
        self, *args: Any, max_header_bytes: int, header_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._max_header_bytes = max_header_bytes
        self._header_timeout = header_timeout
        self._in_headers = True  # between a request's first byte and its headers' end
        self._header_bytes = 0
        self._oversized = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._too_large = _raw_problem(
            431, f"Request headers are larger than {max_header_bytes} bytes"
        )
        self._too_slow = _raw_problem(
            408, f"Request headers did not arrive within {header_timeout:g} seconds"
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if not self._in_headers:
            return
        # Still no end of headers, and already over the limit: refuse before buffering more.
        if self._header_bytes > self._max_header_bytes:
            self._refuse(self._too_large)
        elif self._header_timer is None:
            # Headers that did not all come in this chunk: their deadline starts now. Those
            # that did (nearly every request) never arm a timer at all.
            self._start_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:  # the next request on this connection
            self._in_headers = True
            self._header_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._stop_header_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self._max_header_bytes:
            # Raising stops the parser; uvicorn then calls send_400_response.
            self._oversized = True
            raise _HeadersTooLargeError
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._oversized:
            self._refuse(self._too_large)
        else:
            super().send_400_response(msg)

    def _start_header_timer(self) -> None:
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._in_headers and self._idle():
            self._refuse(self._too_slow)

    def _idle(self) -> bool:
        """No response of this connection is still being worked on."""
        return self.cycle is None or self.cycle.response_complete

    def _refuse(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()
        self._in_headers = False
        self._stop_header_timer()


class _HeadersTooLargeError(Exception):
    """Raised from a parser callback to stop parsing an oversized header block."""
