"""uvicorn's httptools protocol with deadlines and a size limit on request headers.

uvicorn buffers a request's headers without limit and waits for them without a deadline
(its keep-alive timeout only runs between requests). One client could so hold a worker's
memory (a 64 MB header took 600 MB and eight seconds of the event loop) or a connection
forever (headers sent a byte at a time). This protocol:

- answers 431 and closes the connection as soon as the request line and headers exceed
  `max_header_bytes`, counting bytes as they arrive, before the parser has buffered more;
- answers 408 and closes the connection when a request's headers are not complete
  `header_timeout` seconds after its first byte (or after the connection was opened);
- ends the connection after a response that leaves part of its request's body unread (a 413,
  a GET with a body): uvicorn cancels its keep-alive timer on any byte that arrives and
  restarts it only after the next response, so late body bytes used to hold a socket open
  forever. Like nginx it stops writing at once (FIN), drains what still comes and closes
  the socket when the client does, or `linger_timeout` seconds later at most;
- keeps the keep-alive deadline of an idle connection when bytes arrive that begin no
  request (blank lines between requests), instead of cancelling it for good.

The 431 and 408 answers are written by the protocol itself: the application never sees the
request.
`python -m todo_api serve` (so `make run`, `make serve` and the benchmark) uses it.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from todo_api.api.problems import PROBLEM_MEDIA_TYPE, status_title
from todo_api.live.hub import close_all


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
        self,
        *args: Any,
        max_header_bytes: int,
        header_timeout: float,
        linger_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._max_header_bytes = max_header_bytes
        self._header_timeout = header_timeout
        self._linger_timeout = linger_timeout
        self._linger_timer: asyncio.TimerHandle | None = None  # set while draining to close
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

    def shutdown(self) -> None:
        """The server stops (SIGTERM): live streams end with a `retry:` hint first, so their
        connections close within the graceful period like any other."""
        close_all()
        super().shutdown()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger_timer is not None:
            return  # the rest of a body nobody will read: dropped unparsed
        if self._in_headers:
            self._header_bytes += len(data)
        idle_deadline = self.timeout_keep_alive_task  # uvicorn cancels it on any byte
        super().data_received(data)
        if not self._in_headers:
            if idle_deadline is not None and self.timeout_keep_alive_task is None:
                self._keep_idle_deadline(idle_deadline)
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

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle.more_body and cycle.response_complete and not self.transport.is_closing():
            # Its unread body would otherwise be parsed as (or cancel the wait for) the next
            # request: answer no more on this connection.
            self.server_state.total_requests += 1
            self._linger()
            return
        super().on_response_complete()

    def _linger(self) -> None:
        """Stop writing, drain the unread body, close when the client does or at the bound.
        Closing at once would reset the connection while the client still sends its body,
        and a reset can destroy the response before the client has read it."""
        self._linger_timer = self.loop.call_later(self._linger_timeout, self.transport.close)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()  # the parser may have paused it on a large body

    def _keep_idle_deadline(self, deadline: asyncio.TimerHandle) -> None:
        """Re-arm the keep-alive timer at its old deadline, if the bytes that cancelled it
        began no request: blank lines are skipped by the parser and must not reset it."""
        cycle = self.cycle
        if cycle is None or not cycle.response_complete or self.transport.is_closing():
            return
        self.timeout_keep_alive_task = self.loop.call_at(
            deadline.when(), self.timeout_keep_alive_handler
        )

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
