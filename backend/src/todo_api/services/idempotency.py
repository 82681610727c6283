"""Idempotent creates: the whole rule of `Idempotency-Key`, for every transport.

A create sent with a key the user has used before (within `IDEMPOTENCY_KEY_HOURS`) for the
same request creates nothing: the task that key created is returned, as it is now. The
same key with another request is refused (422); a key whose task was deleted since says so
(404). The key row is written by the same statement as the task (services/statements/
creates.py), so a crash never leaves one without the other, and the key's primary key makes
a second task for one key impossible: a concurrent create with the same key waits for the
first and then replays it. The table is models/idempotency.py; expired keys are removed by
services/housekeeping.py; the header is read by api/headers.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Row

from todo_api.errors import ConflictError, IdempotencyKeyReusedError, ReplayedTaskDeletedError
from todo_api.services.scope import UserTasks
from todo_api.services.store import TaskStore

# The constraint a concurrent create with the same key runs into when the first commits.
KEY_TAKEN = "pk_idempotency_keys"


def fingerprint(values: Mapping[str, Any]) -> bytes:
    """The request as it would be stored: bodies that differ only in spelling (key order, a
    tag repeated in another case, a deadline's offset) are the same request."""
    return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).digest()


class KeyedCreate:
    """One create with an idempotency key: `insert` first, then, if it made nothing,
    `replay`."""

    def __init__(
        self, store: TaskStore, tasks: UserTasks, key: str, values: Mapping[str, Any]
    ) -> None:
        self._store = store
        self._tasks = tasks
        self._key = key
        self._values = values
        self._fingerprint = fingerprint(values)

    async def insert(self, *, counted: bool) -> Row[Any] | None:
        """The new task's row (with the quota counts after it when `counted`), or None when
        nothing was created: the user has the key already (or a concurrent create with it
        committed first), or a quota is reached."""
        once = (self._key, self._fingerprint)
        try:
            rows = await self._store.rows(self._tasks.insert(self._values, once, counted=counted))
        except ConflictError as error:
            if error.constraint != KEY_TAKEN:
                raise
            return None
        return rows[0] if rows else None

    async def replay(self) -> Row[Any] | None:
        """The task the key created, as it is now, for the same request; None when the key
        has no record (a quota refused the insert, or the key expired and was removed in
        between: the caller says which)."""
        records = await self._store.rows(self._tasks.key_record(self._key))
        if not records:
            return None
        record = records[0]
        if bytes(record.fingerprint) != self._fingerprint:
            raise IdempotencyKeyReusedError
        rows = await self._store.rows(self._tasks.get(record.task_id))
        if not rows:
            raise ReplayedTaskDeletedError(record.task_id)
        return rows[0]
