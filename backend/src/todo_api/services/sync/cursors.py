"""Cursors of the changes feed (`GET /api/{user_id}/tasks/changes`).

A cursor holds the database snapshot the client is in sync with (`since`, with the time it
was taken) and, while a long answer is read in pages, the snapshot of the first page
(`anchor`) and the last id sent. When the last page is sent, the next cursor's `since` is the
anchor: anything written after the first page began is sent again next time (a task sent
twice is harmless, a missed one is not).

As list cursors (services/lists/cursors.py), a cursor is sealed with the server's key, its user as
associated data: only the server can make one (a `since` set in the future by hand, for
instance, is refused with a 400 rather than treated as a restored database), and it holds
nothing readable. The opened snapshot text is still checked before it reaches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from todo_api.errors import ExpiredSyncCursorError, InvalidCursorError, InvalidSyncCursorError
from todo_api.models.tombstone import CURSOR_MAX_AGE_DAYS
from todo_api.services.lists.cursors import aware_instant, seal, unseal

SYNC_CURSOR_VERSION = 2
_SNAPSHOT = re.compile(r"(\d{1,19}):(\d{1,19}):((?:\d{1,19},)*\d{1,19})?")
_XID_MAX = 2**63 - 1
CURSOR_MAX_AGE = timedelta(days=CURSOR_MAX_AGE_DAYS)


@dataclass(frozen=True, slots=True)
class SyncPosition:
    since: str | None
    """The snapshot the client is in sync with (None: it has nothing yet)."""
    since_at: datetime | None
    anchor: str | None = None
    """The snapshot of the first page of an answer still being paged."""
    anchor_at: datetime | None = None
    after_id: int | None = None


def snapshot_bounds(snapshot: str) -> tuple[int, int]:
    """(xmin, xmax) of a snapshot in `pg_current_snapshot()`'s text form."""
    xmin, xmax, _ = snapshot.split(":")
    return int(xmin), int(xmax)


def _valid_snapshot(snapshot: object) -> bool:
    if not isinstance(snapshot, str):
        return False
    match = _SNAPSHOT.fullmatch(snapshot)
    if not match:
        return False
    xmin, xmax = int(match[1]), int(match[2])
    running = [int(xid) for xid in match[3].split(",")] if match[3] else []
    return (
        1 <= xmin <= xmax <= _XID_MAX
        and all(xmin <= xid < xmax for xid in running)
        and running == sorted(set(running))
    )


def _associated(user_id: str) -> bytes:
    return orjson.dumps(["changes", user_id])


def encode_sync_cursor(key: AESGCM, user_id: str, position: SyncPosition) -> str:
    payload = orjson.dumps(
        [
            SYNC_CURSOR_VERSION,
            position.since,
            position.since_at,
            position.anchor,
            position.anchor_at,
            position.after_id,
        ],
        option=orjson.OPT_UTC_Z,
    )
    return seal(key, _associated(user_id), payload)


def decode_sync_cursor(
    key: AESGCM, user_id: str, cursor: str, now: datetime | None = None
) -> SyncPosition:
    """The position `encode_sync_cursor` wrote: InvalidSyncCursorError for anything else,
    ExpiredSyncCursorError when its `since` is older than `CURSOR_MAX_AGE`."""
    try:
        payload = unseal(key, _associated(user_id), cursor)
        version, since, since_at, anchor, anchor_at, after_id = orjson.loads(payload)
    except (InvalidCursorError, ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidSyncCursorError from None
    if version != SYNC_CURSOR_VERSION:
        raise InvalidSyncCursorError
    position = SyncPosition(since, _instant(since_at), anchor, _instant(anchor_at), after_id)
    if not (
        (since is None or _valid_snapshot(since))
        and (since is None) == (position.since_at is None)
        and (anchor is None or _valid_snapshot(anchor))
        and (anchor is None) == (position.anchor_at is None) == (after_id is None)
        and (after_id is None or (type(after_id) is int and 0 <= after_id <= _XID_MAX))
    ):
        raise InvalidSyncCursorError
    if position.since_at is not None and position.since_at < (now or datetime.now(UTC)) - (
        CURSOR_MAX_AGE
    ):
        raise ExpiredSyncCursorError(CURSOR_MAX_AGE_DAYS)
    return position


def _instant(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSyncCursorError
    try:
        return aware_instant(value)
    except InvalidCursorError:
        raise InvalidSyncCursorError from None
