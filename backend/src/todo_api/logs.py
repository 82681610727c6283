"""Log lines: readable text by default, one JSON object per line with `LOG_FORMAT=json`.

Every line carries the id of the request it was written for (`REQUEST_ID`, set by
`api/request_log.py`), so an error and the request line it belongs to can be matched.
Users appear only as `user_ref`: a keyed hash of the id, the same for one user across
requests and workers, from which the id cannot be recovered. Tokens, secrets and task text
are never logged.

The request line is written by `request_line`, not through `logging.Logger.info`: the
logging machinery (a LogRecord, the caller lookup, filters, the formatter) cost about 12 µs
a request, the direct line about 3 µs; it goes to the same handler, under its lock, in the
same format, and respects the `todo_api.requests` logger's level.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sys
import time
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import orjson

from todo_api.config import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
REQUESTS_LOGGER = logging.getLogger("todo_api.requests")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


@lru_cache(maxsize=2)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _timestamp(created: float) -> str:
    """`2026-12-02T10:55:04.109Z` (UTC, milliseconds)."""
    seconds = int(created)
    return f"{_second(seconds)}.{int((created - seconds) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", ...extra fields}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in line:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """`2026-12-02T10:49:38.123Z ERROR todo_api.api.problems database error request_id=...`."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_timestamp(record.created)} {record.levelname} {record.name} {record.getMessage()}"
        )
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line += f" request_id={request_id}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (a test's capture, a redirect)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


_handler: _StderrHandler | None = None
_json = False
_user_key = secrets.token_bytes(32)


def configure_logging(settings: Settings) -> None:
    """Send this app's records (and other libraries' warnings) to stderr in the chosen
    format. Idempotent: building the app again only swaps the formatter."""
    global _handler, _json, _user_key
    root = logging.getLogger()
    if _handler is None or _handler not in root.handlers:
        _handler = _StderrHandler()
        _handler.addFilter(_RequestIdFilter())
        root.addHandler(_handler)
    _json = settings.log_format == "json"
    _handler.setFormatter(JsonFormatter() if _json else TextFormatter())
    logging.getLogger("todo_api").setLevel(logging.INFO)
    _user_key = _reference_key(settings)
    user_reference.cache_clear()


def request_line(
    method: str, route: str, status: int, duration_ms: float, user_ref: str | None
) -> None:
    """Write the request's log line (see the module docstring)."""
    handler = _handler
    if handler is None or not REQUESTS_LOGGER.isEnabledFor(logging.INFO):
        return
    now = _timestamp(time.time())
    request_id = REQUEST_ID.get()
    message = f"{method} {route} {status} {duration_ms:.2f}ms user={user_ref}"
    if _json:
        line = orjson.dumps(
            {
                "time": now,
                "level": "info",
                "logger": REQUESTS_LOGGER.name,
                "message": message,
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "user_ref": user_ref,
            }
        ).decode()
    else:
        line = f"{now} INFO {REQUESTS_LOGGER.name} {message} request_id={request_id}"
    handler.acquire()
    try:
        stream = handler.stream
        stream.write(line + "\n")
        stream.flush()
    finally:
        handler.release()


def _reference_key(settings: Settings) -> bytes:
    """The HMAC key of user references: derived from the shared secret when there is one
    (the same in every worker and after restarts), else random for this process."""
    if settings.better_auth_secret is None:
        return secrets.token_bytes(32)
    secret = settings.better_auth_secret.get_secret_value().encode()
    return hashlib.sha256(b"todo-api log user reference:" + secret).digest()


@lru_cache(maxsize=4096)
def user_reference(user_id: str) -> str:
    """A non-reversible, stable reference to the user for log lines."""
    return hmac.new(_user_key, user_id.encode(), hashlib.sha256).hexdigest()[:16]
