"""`LiveHub`: which streams are open in this worker, and waking them when their user's
events arrive (see the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL

from todo_api.config import Settings
from todo_api.database.errors import describe
from todo_api.database.runner import Database
from todo_api.database.url import normalize_database_url
from todo_api.errors import StreamLimitError
from todo_api.live.announcer import CHANNEL, Announcer, announced_users, take_turn

logger = logging.getLogger(__name__)

# The hubs of this process, for `close_all` (the server's shutdown, api/http_protocol.py).
_HUBS: set[LiveHub] = set()
# The last sequence numbers of many users at once: a function of migration 0016 that runs as
# the schema's owner (`event_sequences` is behind the wall) and returns only those numbers.
_SEQUENCES = text("SELECT user_id, last_seq FROM event_sequence_heads(:users)").bindparams(
    bindparam("users", type_=ARRAY(Text))
)
_RECONNECT_SECONDS = 2.0
_TURN_SECONDS = 1.0  # how often a hub without the announcer's turn tries for it
_STATEMENT_SECONDS = 5.0  # the LISTEN connection's own statements: a hang means reconnect
# A LISTEN connection that silently died (a network drop, a failover) must be noticed: its
# session would keep the announcer's turn until the server noticed (hours with the kernel's
# keepalive defaults), and every worker's streams would wait for their poll meanwhile.
_KEEPALIVES: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


@dataclass(eq=False)
class Subscriber:
    """One open stream: woken (`wake`) when its user may have new events."""

    user_id: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class LiveHub:
    """The open streams of this worker (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        listen_url: str | None,
        poll_seconds: float,
        announce_seconds: float,
        release_seconds: float,
        max_streams: int,
        max_streams_per_user: int,
    ) -> None:
        self._database = database
        self._listen_url = listen_url
        self._poll_seconds = poll_seconds
        self._announce_seconds = announce_seconds
        self._release_seconds = release_seconds
        self._max_streams = max_streams
        self._max_per_user = max_streams_per_user
        self._by_user: dict[str, set[Subscriber]] = {}
        self._count = 0
        self._idle_since = time.monotonic()  # when the last stream closed (with _count 0)
        self._seen: dict[str, int] = {}
        self.closing = False
        self.listening = False
        self.announcing = False
        # The LISTEN connection opens with the first stream: a worker that never serves one
        # (or a short-lived app) holds no extra connection and opens none. It closes again
        # `release_seconds` after the last stream (see `_hear`), and reopens with the next.
        self._first_stream = asyncio.Event()
        self._closed = asyncio.Event()

    @property
    def open_streams(self) -> int:
        return self._count

    def subscribe(self, user_id: str) -> Subscriber:
        """A new stream of `user_id`; StreamLimitError (429) beyond the limits."""
        if self.closing:
            raise StreamLimitError("The server is shutting down; reconnect shortly", 1)
        streams = self._by_user.setdefault(user_id, set())
        if len(streams) >= self._max_per_user:
            raise StreamLimitError(
                f"At most {self._max_per_user} open streams per user: close one first", 5
            )
        if self._count >= self._max_streams:
            raise StreamLimitError("This server has no room for another stream; retry", 5)
        subscriber = Subscriber(user_id)
        self._first_stream.set()
        streams.add(subscriber)
        self._count += 1
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        streams = self._by_user.get(subscriber.user_id)
        if streams is not None and subscriber in streams:
            streams.discard(subscriber)
            self._count -= 1
            if not self._count:
                self._idle_since = time.monotonic()
            if not streams:
                del self._by_user[subscriber.user_id]
                self._seen.pop(subscriber.user_id, None)

    def wake(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            for subscriber in self._by_user.get(user_id, ()):
                subscriber.wake.set()

    def close(self) -> None:
        """Shutdown: every stream ends (with a `retry:` hint) and no new one opens."""
        self.closing = True
        self._closed.set()
        self._first_stream.set()
        self.wake(list(self._by_user))

    async def run(self) -> None:
        """Listen (when a URL is given) and poll, until closed (between statements) or
        cancelled."""
        _HUBS.add(self)
        tasks = [asyncio.create_task(self._poll())]
        if self._listen_url is not None:
            tasks.append(asyncio.create_task(self._listen(self._listen_url)))
        try:
            await asyncio.gather(*tasks)
        finally:
            _HUBS.discard(self)
            for task in tasks:
                task.cancel()

    async def _listen(self, url: str) -> None:
        while not self.closing:
            await self._first_stream.wait()  # returns at close too (see close)
            if self.closing:
                return
            released = False
            try:
                async with await psycopg.AsyncConnection.connect(
                    make_conninfo(url, **_KEEPALIVES),
                    autocommit=True,
                    connect_timeout=5,
                    prepare_threshold=None,
                ) as connection:
                    async with asyncio.timeout(_STATEMENT_SECONDS):
                        await connection.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    self.wake(list(self._by_user))  # anything missed while not listening
                    released = await self._hear(connection)
            except (psycopg.Error, OSError, TimeoutError) as error:
                logger.warning("live updates: LISTEN failed, polling only: %s", describe(error))
            finally:
                self.listening = self.announcing = False
            if not self._count:  # no stream open: reconnect only for the next one
                self._first_stream.clear()
            if not released:
                await self._pause(_RECONNECT_SECONDS)

    async def _hear(self, connection: psycopg.AsyncConnection) -> bool:
        """Wake streams on announcements; take the announcer's turn when it is free (tried
        every second) and then announce every `announce_seconds` (announcer.py). Returns
        between statements once the hub closes (a statement cut short by the shutdown would
        leave the connection for the server to clean up), or, True, once the worker has had
        no open stream for `release_seconds`: an announcer nobody here listens to would look
        every `announce_seconds` for ever (the turn passes to a hub with streams within a
        second, see `_TURN_SECONDS`, and its first look covers the handover)."""
        loop = asyncio.get_running_loop()
        own_pid = connection.info.backend_pid
        announcer: Announcer | None = None
        next_try = loop.time()
        while not self.closing:
            if not self._count and time.monotonic() - self._idle_since >= self._release_seconds:
                return True
            if announcer is None and loop.time() >= next_try:
                async with asyncio.timeout(_STATEMENT_SECONDS):
                    announcer = await take_turn(connection)
                self.announcing = announcer is not None
                next_try = loop.time() + _TURN_SECONDS
            if announcer is not None:
                async with asyncio.timeout(_STATEMENT_SECONDS):
                    users = await announcer.look(connection)
                self.wake(users)
                wait = self._announce_seconds
            else:
                wait = max(0.0, next_try - loop.time())
            async for notice in connection.notifies(timeout=wait):
                if notice.pid != own_pid:  # its own announcement woke its streams already
                    self.wake(announced_users(notice.payload))
        return False

    async def _pause(self, seconds: float) -> None:
        """Sleep, or less when the hub closes."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)

    async def _poll(self) -> None:
        """Wake the streams whose user's sequence number moved (the fallback, and the safety
        net for a notification lost with a connection)."""
        while not self.closing:
            await self._pause(self._poll_seconds)
            if self.closing:
                return
            users = list(self._by_user)
            if not users:
                continue
            try:
                rows = await self._database.rows(_SEQUENCES, {"users": users})
            except Exception as error:
                logger.warning("live updates: polling failed: %s", describe(error))
                continue
            moved = []
            for row in rows:
                user_id, seq = row.user_id, row.last_seq
                if self._seen.get(user_id) != seq:  # moved, or first seen: read to be sure
                    moved.append(user_id)
                    self._seen[user_id] = seq
            self.wake(moved)


def close_all() -> None:
    """The server stops: end every stream of this process now (uvicorn would otherwise wait
    its whole graceful period for them, as for any response in flight)."""
    for hub in list(_HUBS):
        hub.close()


def live_hub(database: Database, settings: Settings, url: URL) -> LiveHub:
    """The hub of this worker: LISTEN on `LIVE_LISTEN_URL` (unset: the app's own database
    URL `url`; `off`: poll only)."""
    configured = settings.live_listen_url
    if configured is None:
        listen_url: str | None = url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
    elif configured.strip().lower() == "off":
        listen_url = None
    else:
        listen_url = (
            normalize_database_url(configured)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
    return LiveHub(
        database,
        listen_url=listen_url,
        poll_seconds=settings.live_poll_seconds,
        announce_seconds=settings.live_announce_seconds,
        release_seconds=settings.live_release_seconds,
        max_streams=settings.live_max_streams,
        max_streams_per_user=settings.live_max_streams_per_user,
    )
