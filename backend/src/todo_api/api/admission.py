"""Admission control: at most N requests in progress per worker, the rest wait in order.

Under overload an asyncio server interleaves every request it has accepted: a hundred
half-done requests compete for one core and for the database pool, each finishes late, and
the unlucky ones (woken last, again and again) see many times the median latency. Letting a
bounded number proceed while the others wait, strictly first come first served, keeps each
admitted request's work together and the tail close to the median.

Only requests that can do useful work compete for a turn: it is taken in the task service
dependency (`api/deps.py`), after the body has arrived and the token has been verified. A
client that trickles its body, sends none, or has no valid token holds no turn, so it cannot
stall anybody else. A request that waits longer than the admission timeout is shed with 503
and `Retry-After` instead of being served many seconds late. Taking the turn also starts the
request's deadline (`database/timeouts.py`): its time in the queue counts against the
database waits that follow, so the whole wait before a 503 has one bound.

The turn ends when the response starts (`TurnEndMiddleware`), or when the app returns
without one: a long list streaming its later pages does not keep small requests waiting.
Those pages go through the bulk lane instead (`app.state.bulk_lane`, at most two pages at a
time per worker (`FifoSlots(2)`)), so ten long lists at once cannot crowd out the small
requests running beside them.
(A plain dependency and this middleware cost less than a `yield` dependency, whose exit
machinery FastAPI runs on every request: see performance.md.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.database.timeouts import end_request_deadline, start_request_deadline
from todo_api.errors import ServerBusyError


class FifoSlots:
    """A semaphore that hands a released slot to the longest waiter.

    `asyncio.Semaphore` lets a newly arriving task take a slot released while earlier
    waiters have not yet woken up; under sustained load that starves some of them.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, patience: float | None = None) -> None:
        """Take a slot, waiting at most `patience` seconds (then `TimeoutError`)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(patience):
                await waiter
        except (asyncio.CancelledError, TimeoutError):
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we gave up
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it
                    self._waiters.remove(waiter)
            raise

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_: object) -> None:
        self.release()

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes directly to the waiter
                return
        self._free += 1


class Admission:
    """`async with admission:` is one turn; `ServerBusyError` after `timeout` seconds. The
    request's waits, this one included, end within `deadline` seconds (`timeout` <= it)."""

    def __init__(self, max_concurrent: int, timeout: float, deadline: float) -> None:
        self._slots = FifoSlots(max_concurrent)
        self._timeout = timeout
        self._deadline = deadline

    @property
    def waiting(self) -> int:
        """Requests waiting for a turn now."""
        return self._slots.waiting

    async def __aenter__(self) -> None:
        start_request_deadline(self._deadline)
        try:
            await self._slots.acquire(self._timeout)
        except TimeoutError:
            end_request_deadline()
            raise ServerBusyError(f"no turn within {self._timeout:g} s") from None

    async def __aexit__(self, *_: object) -> None:
        self.leave()

    async def enter(self, scope: Scope) -> None:
        """Take the turn of the request of `scope`; `TurnEndMiddleware` gives it back."""
        await self.__aenter__()
        scope[_TURN] = self

    def leave(self) -> None:
        """Give a turn back; the request waits for nothing more after it."""
        end_request_deadline()
        self._slots.release()


_TURN = "todo_api.admission_turn"


def end_turn(scope: Scope) -> None:
    """Give back the turn the request of `scope` holds, if it holds one (once)."""
    admission: Admission | None = scope.pop(_TURN, None)
    if admission is not None:
        admission.leave()


class TurnEndMiddleware:
    """Ends each request's admission turn when its response starts, or when the app returns
    (an error, a client gone) if no response started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_ending_turn(message: Message) -> None:
            if message["type"] == "http.response.start":
                end_turn(scope)
            await send(message)

        try:
            await self.app(scope, receive, send_ending_turn)
        finally:
            end_turn(scope)
            # A streamed response ends its turn in a task of its own: clear the deadline here
            # too, or a later request run in this same context would inherit it.
            end_request_deadline()
