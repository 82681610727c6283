"""Log lines: readable text by default, one JSON object per line with `LOG_FORMAT=json`.

Every line carries the id of the request it was written for (`REQUEST_ID`, set by
`api/request_log.py`), so an error and the request line it belongs to can be matched.
Users appear only as `user_ref`: a keyed hash of the id, the same for one user across
requests and workers, from which the id cannot be recovered. Tokens, secrets and task text
are never logged.

Whatever fails, an exception's text stays out of the log unless its kind is known to hold
only what the code wrote: a database error's text quotes the statement's parameters and the
row (task text, user ids), a `ValueError`'s may quote input. The handler's filter and both
formatters render such exceptions (in `%s` arguments, and in tracebacks, chained ones
included) as their type, SQLSTATE and constraint (`database/errors.py`); tracebacks keep
their frames. SQLAlchemy's DEBUG lines of result rows lose their values the same way.

The request line is written by `request_line`, not through `logging.Logger.info`: the
logging machinery (a LogRecord, the caller lookup, filters, the formatter) cost several times
what the direct line does (see performance.md); it goes to the same handler, under its lock, in the
same format, and respects the `todo_api.requests` logger's level.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sys
import time
import traceback
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import orjson

from todo_api.config import Settings
from todo_api.database.errors import describe, is_database_error

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
REQUESTS_LOGGER = logging.getLogger("todo_api.requests")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


# Exceptions whose text the code writes from names and types, never from request data.
_CODE_MESSAGES = (AttributeError, NameError, ImportError, TypeError, NotImplementedError)
# SQLAlchemy logs result rows at DEBUG under this message (its parameters: hide_parameters).
_ROW_MESSAGES = frozenset({"Row %r"})


class _Redacted(str):
    """What an exception argument of a log record is rendered as (see `safe_text`)."""

    __slots__ = ()


def safe_text(error: BaseException) -> str:
    """`error` as it may be logged: its type (and, for the database, SQLSTATE and
    constraint), with its text only when the code alone wrote it."""
    if is_database_error(error):
        return describe(error)
    name = type(error).__qualname__
    if isinstance(error, _CODE_MESSAGES) and str(error):
        return f"{name}: {error}"
    return name


def _safe_argument(value: Any) -> Any:
    return _Redacted(safe_text(value)) if isinstance(value, BaseException) else value


class _RedactFilter(logging.Filter):
    """Replaces exceptions in a record's arguments by `safe_text`, and SQLAlchemy's row
    values by a placeholder, before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, BaseException):
            record.msg = safe_text(record.msg)
        args = record.args
        if args:
            if record.name.startswith("sqlalchemy.") and str(record.msg) in _ROW_MESSAGES:
                record.args = ("(values not logged)",)
            elif isinstance(args, tuple):
                record.args = tuple(_safe_argument(value) for value in args)
            elif isinstance(args, dict):
                record.args = {name: _safe_argument(value) for name, value in args.items()}
        for name, value in record.__dict__.items():
            if isinstance(value, BaseException) and name not in _STANDARD:
                record.__dict__[name] = safe_text(value)
        return True


def safe_traceback(error: BaseException, seen: set[int] | None = None) -> str:
    """A traceback of `error` and the exceptions it was raised from, in Python's layout:
    every frame (file, line, function, source), each exception as `safe_text`."""
    seen = set() if seen is None else seen
    seen.add(id(error))
    text = ""
    cause = error.__cause__
    context = None if error.__suppress_context__ else error.__context__
    if cause is not None and id(cause) not in seen:
        text = safe_traceback(cause, seen) + (
            "\nThe above exception was the direct cause of the following exception:\n\n"
        )
    elif context is not None and id(context) not in seen:
        text = safe_traceback(context, seen) + (
            "\nDuring handling of the above exception, another exception occurred:\n\n"
        )
    if error.__traceback__ is not None:
        text += "Traceback (most recent call last):\n"
        text += "".join(traceback.format_tb(error.__traceback__))
    text += safe_text(error) + "\n"
    for number, inner in enumerate(getattr(error, "exceptions", None) or (), 1):
        if isinstance(inner, BaseException) and id(inner) not in seen:
            nested = safe_traceback(inner, seen).rstrip("\n").replace("\n", "\n  | ")
            text += f"  +---------------- {number} ----------------\n  | {nested}\n"
    return text


def _format_exception(exc_info: Any) -> str:
    error = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    if not isinstance(error, BaseException):
        return ""
    return safe_traceback(error).rstrip("\n")


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

    def formatException(self, ei: Any) -> str:  # noqa: N802  (logging's name)
        return _format_exception(ei)


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

    def formatException(self, ei: Any) -> str:  # noqa: N802  (logging's name)
        return _format_exception(ei)


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
        _handler.addFilter(_RedactFilter())
        root.addHandler(_handler)
    _json = settings.log_format == "json"
    _handler.setFormatter(JsonFormatter() if _json else TextFormatter())
    logging.getLogger("todo_api").setLevel(logging.INFO)
    _redact_other_handlers()
    _user_key = _reference_key(settings)
    user_reference.cache_clear()


# Loggers whose own handlers (the server's, configured before the app) can print a traceback.
_SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error")


def _redact_other_handlers() -> None:
    """Give handlers this module did not make the same redaction: uvicorn logs an error
    that escapes a response already begun through its own handler and formatter."""
    for name in _SERVER_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if handler is _handler:
                continue
            if not any(isinstance(each, _RedactFilter) for each in handler.filters):
                handler.addFilter(_RedactFilter())
            formatter = handler.formatter
            if formatter is not None:
                setattr(formatter, "formatException", _format_exception)  # noqa: B010


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
