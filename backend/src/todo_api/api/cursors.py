"""Opaque keyset cursors for paged lists, bound to one user and one query.

A cursor is `<payload>.<check>`, both base64url: the payload is the position (version, sort
key value and id of the last task of the page before); the check is a digest of the user,
the query (filters and sort, not the page size) and the payload. A cursor altered by hand,
made for another user or another query, or of an older format is refused with a 400
problem. The cursor is not a secret and needs none: isolation never depends on it, since
every page is read through the user's scope anyway; it only says where to continue.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import Any

import orjson

from todo_api.models.task_query import TaskListQuery

CURSOR_VERSION = 1
_CHECK_BYTES = 16


class InvalidCursorError(ValueError):
    """The cursor was not issued for this user and query, or was altered."""

    def __init__(self) -> None:
        super().__init__(
            "cursor is not valid for this list: use the URL of the Link header unchanged, "
            "with the same filters and sort, or start again without a cursor"
        )


def b64encode(data: bytes) -> str:
    """base64url without padding (cursors travel in URLs)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check(user_id: str, query: TaskListQuery, payload: bytes) -> bytes:
    identity = orjson.dumps([user_id, query.identity()])
    return hashlib.sha256(identity + b"\0" + payload).digest()[:_CHECK_BYTES]


def encode_cursor(user_id: str, query: TaskListQuery, after: tuple[Any, int]) -> str:
    key, task_id = after
    if isinstance(key, datetime):
        key = key.isoformat()
    payload = orjson.dumps([CURSOR_VERSION, key, task_id])
    return f"{b64encode(payload)}.{b64encode(_check(user_id, query, payload))}"


def decode_cursor(user_id: str, query: TaskListQuery, cursor: str) -> tuple[Any, int]:
    """The position `encode_cursor` wrote; InvalidCursorError for anything else."""
    try:
        payload_text, check_text = cursor.split(".")
        payload, check = b64decode(payload_text), b64decode(check_text)
    except (ValueError, binascii.Error):
        raise InvalidCursorError from None
    if not hmac.compare_digest(check, _check(user_id, query, payload)):
        raise InvalidCursorError
    try:
        version, key, task_id = orjson.loads(payload)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        raise InvalidCursorError from None
    if version != CURSOR_VERSION or type(task_id) is not int:
        raise InvalidCursorError
    return _key_value(query.sort, key), task_id


def _key_value(sort: str, key: object) -> Any:
    """The sort key as the statement binds it, checked against the key's type."""
    if sort in ("created", "updated", "due_date") and isinstance(key, str):
        try:
            return datetime.fromisoformat(key)
        except ValueError:
            raise InvalidCursorError from None
    if (sort == "due_date" and key is None) or (sort == "title" and isinstance(key, str)):
        return key
    if sort == "priority" and type(key) is int:
        return key
    raise InvalidCursorError
