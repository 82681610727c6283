"""Log lines: readable text by default, one JSON object per line with `LOG_FORMAT=json`.

Every record carries the id of the request it was written for (`REQUEST_ID`, set by
`api/request_log.py`), so an error and the request line it belongs to can be matched.
Users appear only as `user_ref`: a keyed hash of the id, the same for one user across
requests and workers, from which the id cannot be recovered. Tokens, secrets and task text
are never logged.
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
# Attributes a log call may pass in `extra=` that the JSON lines carry as fields.
FIELDS = ("method", "route", "status", "duration_ms", "user_ref")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.gmtime(record.created)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', seconds)}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", ...extra fields}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
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
    """`2026-12-02T10:49:38.123Z INFO todo_api.requests GET /api/{user_id}/tasks 200 ...`."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
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


def configure_logging(settings: Settings) -> None:
    """Send this app's records (and other libraries' warnings) to stderr in the chosen
    format. Idempotent: building the app again only swaps the formatter."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "todo_api", False)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.todo_api = True  # type: ignore[attr-defined]
        handler.addFilter(_RequestIdFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    logging.getLogger("todo_api").setLevel(logging.INFO)
    global _user_key
    _user_key = _reference_key(settings)
    user_reference.cache_clear()


def _reference_key(settings: Settings) -> bytes:
    """The HMAC key of user references: derived from the shared secret when there is one
    (the same in every worker and after restarts), else random for this process."""
    if settings.better_auth_secret is None:
        return secrets.token_bytes(32)
    secret = settings.better_auth_secret.get_secret_value().encode()
    return hashlib.sha256(b"todo-api log user reference:" + secret).digest()


_user_key = secrets.token_bytes(32)


@lru_cache(maxsize=4096)
def user_reference(user_id: str) -> str:
    """A non-reversible, stable reference to the user for log lines."""
    return hmac.new(_user_key, user_id.encode(), hashlib.sha256).hexdigest()[:16]
