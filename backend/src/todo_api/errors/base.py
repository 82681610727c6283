"""The base of the catalogue: `ApiError` (what every failure declares) and `report`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

logger = logging.getLogger("todo_api.errors")

# What a 503 says, by cause: the client may retry after a short pause.
BUSY = "The server is busy; retry shortly"
DATABASE_TIMEOUT = "The database did not answer in time; retry shortly"
DATABASE_UNAVAILABLE = "The database is unavailable; retry shortly"
KEYS_UNAVAILABLE = "Token signing keys cannot be fetched; retry shortly"
RETRY_AFTER_SECONDS = 5
RETRY_AFTER_DOC = "Seconds to wait before retrying."


class ApiError(Exception):
    """A failure the caller is told about (see the module docstring)."""

    status: ClassVar[int] = 500
    retry_after: ClassVar[int | None] = None
    unavailable: ClassVar[bool] = False
    """A dependency is down or slow (a 503): each one is logged as a warning."""
    summary: ClassVar[str | None] = None
    """What the failure means to a client reading the OpenAPI document, when the status's
    title does not say it all (appended to it: `Forbidden: <summary>`)."""
    header_docs: ClassVar[Mapping[str, str]] = {}
    """The headers `headers()` sends, with what each tells the client (OpenAPI)."""
    lists_fields: ClassVar[bool] = False
    """The problem carries the `errors` list of `field_errors()` (a `ValidationProblem`)."""
    message: ClassVar[str] = "Internal server error"
    """The text of a failure that takes no arguments."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or (self.message,)))

    @property
    def detail(self) -> str:
        return str(self)

    @property
    def tool_text(self) -> str:
        """What an MCP tool error says: the REST `detail` unless a class says otherwise."""
        return self.detail

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    def field_errors(self) -> list[dict[str, Any]] | None:
        """The `errors` list of a 422 problem, when the failure is about one input."""
        return None


def report(error: ApiError) -> None:
    """Log a dependency failure as its kind and cause (never their text: it can quote the
    request's data; the log handler renders exceptions safely)."""
    if error.unavailable:
        logger.warning("%s: %s", error.detail, error.__cause__ or error)
