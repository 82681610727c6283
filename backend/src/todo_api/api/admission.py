"""Admission control: at most N requests in progress per worker, the rest wait in order.

Under overload an asyncio server interleaves every request it has accepted: a hundred
half-done requests compete for one core and for the database pool, each finishes late, and
the unlucky ones (woken last, again and again) see many times the median latency. Letting a
bounded number proceed while the others wait, strictly first come first served, before any
work is done for them keeps each admitted request's work together and the tail close to the
median.

A slot is held until the response starts, not until it ends: a long list streaming its later
pages does not keep small requests waiting. Those pages go through the bulk lane instead
(`app.state.bulk_lane`, one page at a time per worker), so ten long lists at once cannot
crowd out the small requests running beside them: each of those waits for one page at most.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Probes answer at once even when the API is saturated, so a busy worker is not restarted.
UNLIMITED_PATHS = frozenset({"/health"})


class FifoSlots:
    """A semaphore that hands a released slot to the longest waiter.

    `asyncio.Semaphore` lets a newly arriving task take a slot released while earlier
    waiters have not yet woken up; under sustained load that starves some of them.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
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


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, max_concurrent: int) -> None:
        self.app = app
        self._slots = FifoSlots(max_concurrent)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        await self._slots.acquire()
        holding = True

        async def send_and_release(message: Message) -> None:
            nonlocal holding
            if holding and message["type"] == "http.response.start":
                holding = False
                self._slots.release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            if holding:
                self._slots.release()
