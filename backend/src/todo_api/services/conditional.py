"""Conditional requests (RFC 9110 section 13): ETags of tasks and lists, If-Match, If-None-Match.

The whole rule, for every transport (REST answers 304 with `api/etags.py`; a 412 is the
catalogue's `TaskChangedError`).

- A task's ETag is strong and is its version: `updated_at`, which every write moves strictly
  forward (services/statements/columns.py `_TOUCH`), as microseconds since 2000-01-01 UTC in
  hex. `If-Match` is turned back into versions, which the write statement itself compares
  (`_AT_VERSION` there): no window between the check and the write. When a write so
  conditioned changes nothing, `not_written` says why: 412 with the task's current ETag, or
  404.
- A list's ETag is weak and is a digest of the exact answer: the user, the query (filters,
  sort, page size, cursor) and each listed task's id and version, in order. The database
  computes the same digest without sending the rows (services/statements/lists.py
  `_DIGEST`; services/lists/pages.py `answer_digest`), so a `304 Not Modified` costs one
  small statement and no serialization.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from todo_api.errors import ApiError, TaskChangedError, TaskNotFoundError
from todo_api.services.lists.query import TaskListQuery
from todo_api.services.scope import UserTasks
from todo_api.services.statements.columns import TASK_FIELDS, TaskRow
from todo_api.services.store import TaskStore

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TASK_ETAG = re.compile(r'"(-?[0-9a-f]{1,16})"')
_ID_AND_VERSION = struct.Struct(">qq")  # int8send(id) || timestamptz_send(updated_at)
# Where a task row holds them: `rows_digest` reads every row of a list, and an index is
# several times cheaper than a Row's attribute (see performance.md).
_ID, _UPDATED_AT = TASK_FIELDS.index("id"), TASK_FIELDS.index("updated_at")


def task_etag(updated_at: datetime) -> str:
    """The strong ETag of a task at version `updated_at`."""
    return f'"{(updated_at - PG_EPOCH) // _MICROSECOND:x}"'


def task_etag_of(row: TaskRow) -> str:
    return task_etag(row.updated_at)


def versions_of(if_match: str | None) -> list[datetime] | None:
    """The versions an `If-Match` names: None for no condition (absent or `*`). A weak or
    malformed entity tag names no version (strong comparison), so it can never match."""
    if if_match is None or if_match.strip() == "*":
        return None
    versions = []
    for tag in if_match.split(","):
        match = _TASK_ETAG.fullmatch(tag.strip())
        if match:
            with suppress(OverflowError):  # beyond any date: names no version
                versions.append(PG_EPOCH + int(match[1], 16) * _MICROSECOND)
    return versions


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` or is `*` (weak comparison, as RFC 9110 says)."""
    if if_none_match is None:
        return False
    opaque = etag.removeprefix("W/")
    return any(
        tag == "*" or tag.removeprefix("W/") == opaque
        for tag in (part.strip() for part in if_none_match.split(","))
    )


def rows_digest(rows: Iterable[Sequence[Any]]) -> str:
    """The digest services/statements/lists.py `_DIGEST` computes in SQL, from rows already
    read."""
    pack = _ID_AND_VERSION.pack
    packed = b"".join(
        [pack(row[_ID], (row[_UPDATED_AT] - PG_EPOCH) // _MICROSECOND) for row in rows]
    )
    return hashlib.md5(packed, usedforsecurity=False).hexdigest()


def list_etag(user_id: str, query: TaskListQuery, digest: str) -> str:
    """The weak ETag of a list answer: the user, the whole query and the rows' digest."""
    identity = orjson.dumps([user_id, query.identity(), query.limit, query.cursor, digest])
    return f'W/"{hashlib.blake2b(identity, digest_size=16).hexdigest()}"'


async def not_written(store: TaskStore, tasks: UserTasks, task_id: int) -> ApiError:
    """Why a write conditioned on versions changed nothing: the task is at another version
    (TaskChangedError, carrying it and its ETag) or does not exist."""
    rows = await store.rows(tasks.get(task_id))
    if not rows:
        return TaskNotFoundError(task_id)
    return TaskChangedError(task_id, rows[0], task_etag_of(rows[0]))
