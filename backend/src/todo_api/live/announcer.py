"""The announcer: one LISTEN connection per database tells every live hub which users have
new events, so that no writer sends a NOTIFY.

Why not the writers: a transaction that sends a NOTIFY takes a database-wide lock from its
commit until the commit is flushed (PostgreSQL queues notifications in commit order), so
writers of different users committed one at a time while any hub listened, and recording
events cost a third of a write's throughput (performance.md, "Task events"). Writers now only
insert their outbox row; whichever hub holds the announcer's session advisory lock on its
direct LISTEN connection reads the outbox ids added since its last look, every
`LIVE_ANNOUNCE_SECONDS`, and sends one NOTIFY per look with the users who have news (a JSON
array). The lock ends with its connection (the LISTEN connection has TCP keepalives, so a
dead one is noticed within a minute), and another hub takes the turn within a second; a new
announcer looks back over the last `LOOKBACK` ids, so events of the handover are announced
too (a stream woken for nothing reads once and finds nothing new).

Outbox ids are handed out at insert but committed in any order, so a smaller id can commit
after a larger one was seen. The ids passed over are kept as gaps and looked for again for
`GAP_SECONDS` (a rolled-back write leaves a gap for ever), at most `MAX_GAPS` of them; an event
committed later than that reaches its streams through the hubs' poll (`LIVE_POLL_SECONDS`).

The turn is a session lock, so it needs a session of its own: behind a transaction-mode pooler
(`LIVE_LISTEN_URL` unset and `DATABASE_URL` pooled) the lock would stay on a server connection
other clients share. `take_turn` notices (the backend that took the lock is not the one this
connection reports), gives the lock back and declines, with a warning: hubs then poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

import orjson
import psycopg

logger = logging.getLogger(__name__)

CHANNEL = "todo_task_events"
ANNOUNCER_LOCK_KEY = 0x7A5C_E7E1  # any constant no other code of this database uses
GAP_SECONDS = 10.0
MAX_GAPS = 1_000  # each look asks for every gap again: a bound on its cost
MAX_ROWS = 5_000
MAX_READS_PER_LOOK = 10  # a backlog: read on at once, up to this many batches a look
LOOKBACK = 1_000
# A NOTIFY payload must stay under 8,000 bytes: more users than that go in several.
PAYLOAD_BYTES = 7_000

_TAKE_TURN = f"SELECT pg_try_advisory_lock({ANNOUNCER_LOCK_KEY}), pg_backend_pid()"
_GIVE_BACK = f"SELECT pg_advisory_unlock({ANNOUNCER_LOCK_KEY})"
# The outbox spans users and sits behind the wall: two functions of migration 0016 that run as
# the schema's owner and return ids and user ids only (never an event's content).
_NEWEST = "SELECT newest_event_id()"
_ADDED = "SELECT id, user_id FROM announced_events(%(last)s, %(limit)s, %(gaps)s::bigint[])"
_NOTIFY = "SELECT pg_notify(%(channel)s, payload) FROM unnest(%(payloads)s::text[]) AS payload"


class Announcer:
    """What one announcer has seen: the newest outbox id, and the ids passed over (gaps)."""

    def __init__(self, last: int) -> None:
        self.last = last
        self.gaps: dict[int, float] = {}  # id -> when it was first passed over

    def take(self, rows: Iterable[tuple[int, str]], now: float) -> set[str]:
        """The users of `rows` (new ids and gaps filled); the newest id and the gaps move on."""
        users: set[str] = set()
        newest = self.last
        for event_id, user_id in rows:
            users.add(user_id)
            if event_id > newest:
                start = max(newest + 1, event_id - MAX_GAPS)  # a huge jump: the latest only
                self.gaps.update((gap, now) for gap in range(start, event_id))
                newest = event_id
            else:
                self.gaps.pop(event_id, None)
        self.last = newest
        for gap, since in list(self.gaps.items()):
            if now - since > GAP_SECONDS:
                del self.gaps[gap]
        if len(self.gaps) > MAX_GAPS:  # many rollbacks at once: the smallest ids go first
            for gap in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[gap]
        return users

    async def look(self, connection: psycopg.AsyncConnection) -> set[str]:
        """Read what was added since the last look and announce its users to every hub."""
        users: set[str] = set()
        for _ in range(MAX_READS_PER_LOOK):
            cursor = await connection.execute(
                _ADDED, {"last": self.last, "limit": MAX_ROWS, "gaps": list(self.gaps)}
            )
            rows = await cursor.fetchall()
            users |= self.take(rows, time.monotonic())
            if len(rows) < MAX_ROWS:
                break
        if users:
            await connection.execute(
                _NOTIFY, {"channel": CHANNEL, "payloads": payloads(sorted(users))}
            )
        return users


async def take_turn(connection: psycopg.AsyncConnection) -> Announcer | None:
    """The announcer's turn on this (direct, autocommit) connection, if no other holds it."""
    row = await (await connection.execute(_TAKE_TURN)).fetchone()
    if row is None or not row[0]:
        return None
    if row[1] != connection.info.backend_pid:  # a pooler in between: the lock is not ours
        await connection.execute(_GIVE_BACK)
        logger.warning(
            "live updates: LIVE_LISTEN_URL goes through a connection pooler; give a direct URL"
            " (or `off`): streams are woken by polling only"
        )
        return None
    newest = await (await connection.execute(_NEWEST)).fetchone()
    return Announcer(max(0, (newest[0] if newest is not None else 0) - LOOKBACK))


def payloads(users: Sequence[str]) -> list[str]:
    """JSON arrays of `users`, each under PAYLOAD_BYTES."""
    chunks: list[str] = []
    chunk: list[str] = []
    size = 2
    for user in users:
        cost = len(orjson.dumps(user)) + 1
        if chunk and size + cost > PAYLOAD_BYTES:
            chunks.append(orjson.dumps(chunk).decode())
            chunk, size = [], 2
        chunk.append(user)
        size += cost
    if chunk:
        chunks.append(orjson.dumps(chunk).decode())
    return chunks


def announced_users(payload: str) -> list[str]:
    """The users of one announcement (nothing for a payload of another shape)."""
    try:
        users = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(users, list):
        return []
    return [user for user in users if isinstance(user, str)]
