"""Failures of a dependency (503): the caller may retry after `Retry-After` seconds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from todo_api.errors.base import (
    BUSY,
    DATABASE_TIMEOUT,
    DATABASE_UNAVAILABLE,
    KEYS_UNAVAILABLE,
    RETRY_AFTER_DOC,
    RETRY_AFTER_SECONDS,
    ApiError,
)

# --- 503 -------------------------------------------------------------------------------------


class _UnavailableError(ApiError):
    """A dependency is down or slow: the caller may retry after `retry_after` seconds. The
    exception's own text (for logs) says why; `detail` is the fixed sentence of its kind."""

    status = 503
    retry_after = RETRY_AFTER_SECONDS
    unavailable = True
    header_docs: ClassVar[Mapping[str, str]] = {"Retry-After": RETRY_AFTER_DOC}
    said: ClassVar[str]

    @property
    def detail(self) -> str:
        return self.said


class ServerBusyError(_UnavailableError):
    """The request waited its whole admission timeout without getting a turn."""

    retry_after = 1
    said = BUSY


class DatabaseTimeoutError(_UnavailableError):
    """The database did not answer within the deadline."""

    said = DATABASE_TIMEOUT


class DatabaseUnavailableError(_UnavailableError):
    """The database is down or unreachable (the driver's error is the cause)."""

    said = DATABASE_UNAVAILABLE


class KeySetUnavailableError(_UnavailableError):
    """The signing keys cannot be fetched right now (the key server is down)."""

    said = KEYS_UNAVAILABLE
