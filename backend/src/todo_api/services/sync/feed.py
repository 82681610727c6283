"""Delta sync: what changed since a client's cursor, and the cursor it continues from.

The rule, whole, for any transport: a cursor holds the snapshot the client is in sync with
(`since`) and, while a long answer is read in pages, the snapshot of its first page (`anchor`)
and the last id sent (`cursors`). Each page is read in one statement (`pages`). When the last
page is sent, the next cursor's `since` is the anchor, so anything written after the first
page began comes again next time (a task sent twice is harmless, a missed one is not). A
cursor whose snapshot this database never had (a restored backup, another database) has
expired: the client syncs again from the start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from todo_api.errors import ExpiredSyncCursorError
from todo_api.models.tombstone import CURSOR_MAX_AGE_DAYS
from todo_api.services.sync.cursors import (
    SyncPosition,
    decode_sync_cursor,
    encode_sync_cursor,
    snapshot_bounds,
)
from todo_api.services.sync.pages import UnknownSnapshotError, read_changes
from todo_api.services.tasks import TaskService


class SyncAnswer(NamedTuple):
    changed: Sequence[Sequence[Any]]
    """Tasks created or written since the cursor, as they are now, by id (their columns in
    TASK_FIELDS order, to render)."""
    deleted: Sequence[int]
    cursor: str
    """Where the next call continues."""
    has_more: bool


async def changes_since(
    tasks: TaskService, key: AESGCM, since: str | None, limit: int
) -> SyncAnswer:
    """Up to `limit` changes of the user's tasks since the cursor `since` (every task
    without one); ExpiredSyncCursorError when they cannot be computed from here."""
    user_id = tasks.user_id
    position = (
        decode_sync_cursor(key, user_id, since)
        if since
        else SyncPosition(since=None, since_at=None)
    )
    try:
        page = await read_changes(tasks, position.since, position.after_id, limit)
    except UnknownSnapshotError:
        raise ExpiredSyncCursorError(CURSOR_MAX_AGE_DAYS) from None
    if position.since is not None:
        # A snapshot from beyond this database's transactions was taken elsewhere.
        since_xmin, _ = snapshot_bounds(position.since)
        if since_xmin > snapshot_bounds(page.snapshot)[1]:
            raise ExpiredSyncCursorError(CURSOR_MAX_AGE_DAYS)
    anchor = position.anchor or page.snapshot
    anchor_at = position.anchor_at or page.at
    if page.last_id is None:
        following = SyncPosition(since=anchor, since_at=anchor_at)
    else:
        following = SyncPosition(position.since, position.since_at, anchor, anchor_at, page.last_id)
    return SyncAnswer(
        page.changed,
        page.deleted,
        encode_sync_cursor(key, user_id, following),
        page.last_id is not None,
    )
