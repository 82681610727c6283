"""Opaque keyset cursors for paged lists, sealed by the server, bound to one user and query.

A cursor is the position (version, sort key value and id of the last task of the page
before) sealed with AES-GCM under the server's key (`database/server_keys.py`): a random
nonce, the ciphertext and its tag, as one base64url string. The user and the query (filters
and sort, not the page size) are its associated data. So only the server can make one, a
cursor altered by hand, made for another user or another query, or of an older format is
refused with a 400 before any statement runs, and it shows nothing of the task it points
after (a title sort key would otherwise travel in clear through URLs and logs). The opened
position is still checked (types, ranges) before it is bound, as defence in depth.
"""

from __future__ import annotations

import base64
import binascii
import os
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.datastructures import State

from todo_api.database.server_keys import ServerKeys
from todo_api.errors import InvalidCursorError
from todo_api.models.fields import BIGINT_MAX, PRIORITIES, TITLE_MAX
from todo_api.services.lists.query import TaskListQuery

CURSOR_VERSION = 2
_NONCE_BYTES = 12
_TAG_BYTES = 16
# Payloads are padded to a multiple of this (JSON ignores trailing blanks), so a cursor's
# length says little about the length of the title it holds.
_PAD_TO = 32


async def cursor_key(state: State) -> AESGCM:
    """The server's cursor key (read from the database on first use in this process)."""
    keys: ServerKeys = state.server_keys
    return keys.cursor_aead or await keys.cursor_key(state.database)


def b64encode(data: bytes) -> str:
    """base64url without padding (cursors travel in URLs)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: AESGCM, associated: bytes, payload: bytes) -> str:
    """`payload` encrypted and authenticated together with `associated` (not included)."""
    padded = payload + b" " * (-len(payload) % _PAD_TO)
    nonce = os.urandom(_NONCE_BYTES)
    return b64encode(nonce + key.encrypt(nonce, padded, associated))


def unseal(key: AESGCM, associated: bytes, cursor: str) -> bytes:
    """The payload `seal` sealed with this key and `associated`; InvalidCursorError for
    anything else (edited, truncated, another user or query, not ours at all)."""
    try:
        sealed = b64decode(cursor)
    except (ValueError, binascii.Error):
        raise InvalidCursorError from None
    if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
        raise InvalidCursorError
    try:
        return key.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated)
    except InvalidTag:
        raise InvalidCursorError from None


def _associated(user_id: str, query: TaskListQuery) -> bytes:
    return orjson.dumps(["list", user_id, query.identity()])


def encode_cursor(key: AESGCM, user_id: str, query: TaskListQuery, after: tuple[Any, int]) -> str:
    sort_key, task_id = after
    if isinstance(sort_key, datetime):
        sort_key = sort_key.isoformat()
    payload = orjson.dumps([CURSOR_VERSION, sort_key, task_id])
    return seal(key, _associated(user_id, query), payload)


def decode_cursor(key: AESGCM, user_id: str, query: TaskListQuery, cursor: str) -> tuple[Any, int]:
    """The position `encode_cursor` wrote; InvalidCursorError for anything else."""
    payload = unseal(key, _associated(user_id, query), cursor)
    try:
        version, sort_key, task_id = orjson.loads(payload)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        raise InvalidCursorError from None
    if version != CURSOR_VERSION or type(task_id) is not int or not 1 <= task_id <= BIGINT_MAX:
        raise InvalidCursorError
    return _key_value(query.sort, sort_key), task_id


def aware_instant(text: str) -> datetime:
    """A date-time with an offset, as a cursor holds it; InvalidCursorError for anything else."""
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidCursorError from None
    if instant.tzinfo is None:
        raise InvalidCursorError
    return instant


def _key_value(sort: str, key: object) -> Any:
    """The sort key as the statement binds it, checked against the key's type and range."""
    if sort in ("created", "updated", "due_date") and isinstance(key, str):
        return aware_instant(key)
    if sort == "due_date" and key is None:
        return key
    if sort == "title" and isinstance(key, str) and len(key) <= TITLE_MAX and "\x00" not in key:
        return key
    if sort == "priority" and type(key) is int and 1 <= key <= len(PRIORITIES):
        return key
    raise InvalidCursorError
