"""Failures of the request itself (400-429): the caller can fix them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from todo_api.errors.base import (
    RETRY_AFTER_DOC,
    ApiError,
)
from todo_api.validation_errors import validation_summary

# --- 400 -------------------------------------------------------------------------------------


class InvalidCursorError(ApiError, ValueError):
    """The cursor was not issued for this user and query, or was altered."""

    status = 400

    def __init__(
        self,
        message: str = (
            "cursor is not valid for this list: use the URL of the Link header unchanged, "
            "with the same filters and sort, or start again without a cursor"
        ),
    ) -> None:
        super().__init__(message)


class InvalidSyncCursorError(InvalidCursorError):
    """The changes cursor was not issued by this feed for this user, or was altered."""

    def __init__(self) -> None:
        super().__init__(
            "cursor is not valid: send the `cursor` of the last answer unchanged, or start "
            "again without `since`"
        )


class InvalidJsonError(ApiError):
    """The request body is not JSON at all (pydantic's `json_invalid`)."""

    status = 400
    message = "Request body is not valid JSON"


# --- 401, 403 --------------------------------------------------------------------------------

# The characters RFC 6750 allows in `error_description` (printable ASCII but `"` and `\`).
_DESCRIPTION_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}
CHALLENGE_DOC = "The bearer challenge (RFC 6750), with why the token was refused."


def bearer_challenge(reason: str | None) -> str:
    """`WWW-Authenticate` value: the bare scheme, or RFC 6750's `invalid_token` with a
    description reduced to the characters a quoted header parameter may hold."""
    if reason is None:
        return "Bearer"
    description = "".join(char for char in reason if char in _DESCRIPTION_CHARS)
    return f'Bearer error="invalid_token", error_description="{description}"'


class TokenRejectedError(ApiError):
    """The request carries no usable token. `reason` is safe to show: it never holds the
    token."""

    status = 401
    header_docs: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": CHALLENGE_DOC}

    def __init__(self, reason: str, *, invalid_token: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        # RFC 6750 section 3: a request without any token gets a bare challenge.
        self.invalid_token = invalid_token

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": bearer_challenge(self.reason if self.invalid_token else None)}


class ForbiddenUserError(ApiError):
    """The token is valid, but the `{user_id}` of the path is another user's."""

    status = 403
    message = "The token does not grant access to this user's tasks"
    summary = "the token's user is not `{user_id}`"


class TaskQuotaError(ApiError):
    """The user keeps `MAX_TASKS_PER_USER` tasks already: nothing was written."""

    status = 403
    summary = (
        "the user keeps MAX_TASKS_PER_USER tasks (a create, or a completion that would create "
        "a next occurrence): nothing written"
    )

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"This account keeps the most tasks allowed (MAX_TASKS_PER_USER = {limit}); "
            "nothing was written: delete tasks before creating more"
        )
        self.limit = limit


# --- 404, 408, 409, 410, 412, 413, 415 ---------------------------------------------------------


class TaskNotFoundError(ApiError, LookupError):
    """The task does not exist or belongs to another user (indistinguishable on purpose)."""

    status = 404

    def __init__(self, task_id: int, message: str | None = None) -> None:
        super().__init__(message or f"Task {task_id} not found")
        self.task_id = task_id


class ReplayedTaskDeletedError(TaskNotFoundError):
    """The idempotency key's task was created, then deleted."""

    def __init__(self, task_id: int) -> None:
        super().__init__(
            task_id,
            f"Task {task_id}, created earlier with this Idempotency-Key, has since been deleted",
        )


class IdempotencyKeyBusyError(ApiError):
    """The key's first request could not be told apart from this one: retry."""

    status = 409
    message = "Idempotency-Key is being used by another request: retry shortly"
    retry_after = 1
    header_docs: ClassVar[Mapping[str, str]] = {"Retry-After": RETRY_AFTER_DOC}


# What a constraint a request can still run into means, said to the client. The API checks
# every rule it can see in the request; these depend on the task as it is stored.
CONFLICTS = {
    "ck_tasks_recurrence_needs_due": (
        "A recurring task needs a due_date: send due_date with recurrence, or clear "
        "recurrence (null) before clearing due_date"
    ),
    "ck_tasks_relative_reminders_need_due": (
        "Reminders with `before` count from the due date: send due_date with them, or clear "
        "them ([]) before clearing due_date"
    ),
}


class ConflictError(ApiError):
    """A statement ran into a constraint (`constraint`, when the server named one)."""

    status = 409

    def __init__(self, constraint: str | None) -> None:
        super().__init__(
            CONFLICTS.get(constraint or "", "The request conflicts with the current state")
        )
        self.constraint = constraint


class ExpiredSyncCursorError(ApiError):
    """The changes cursor is older than the deletions the server remembers (or from another
    database): the client must sync again from the start."""

    status = 410

    def __init__(self, max_age_days: int) -> None:
        super().__init__(
            f"cursor has expired (cursors are valid for {max_age_days} days): sync "
            "again without `since` and replace the local copy with the answer"
        )


class TaskChangedError(ApiError):
    """`If-Match` named versions the task no longer has: nothing was written. Carries the
    task as it is (`current`) and its ETag."""

    status = 412
    header_docs: ClassVar[Mapping[str, str]] = {"ETag": "The task's current version."}

    def __init__(self, task_id: int, current: Sequence[Any], etag: str) -> None:
        super().__init__(
            f"Task {task_id} has changed since the version in If-Match; nothing was "
            "written. GET it again (the ETag of this response is its current version) and "
            "retry if the change still makes sense"
        )
        self.current = current
        self.etag = etag

    def headers(self) -> dict[str, str]:
        return {"ETag": self.etag}


class BodyTimeoutError(ApiError):
    """The request body was not all there `seconds` after the request started. The
    connection is closed: the rest of that body would be read as a new request."""

    status = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(f"The request body did not arrive within {seconds:g} seconds")

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


class BodyTooLargeError(ApiError):
    """The request body is larger than `max_bytes` (declared or streamed)."""

    status = 413

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"Request body is larger than {max_bytes} bytes")


class UnsupportedMediaTypeError(ApiError):
    """A request body not declared as JSON (a common slip with `fetch`)."""

    status = 415
    message = "Send the request body as JSON, with Content-Type: application/json"


# --- 422, 429 --------------------------------------------------------------------------------


class InvalidInputError(ApiError, ValueError):
    """Parameters, headers or body break their rules: pydantic's errors (`field_errors`)."""

    status = 422
    lists_fields = True

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(validation_summary(errors))
        self.errors = errors

    def field_errors(self) -> list[dict[str, Any]]:
        return self.errors


class IdempotencyKeyReusedError(ApiError, ValueError):
    """The user sent this idempotency key before, with another request body."""

    status = 422
    lists_fields = True
    message = (
        "Idempotency-Key was already used with a different request body: send a new key "
        "for a new task, or the same body to get the task the key created"
    )

    def field_errors(self) -> list[dict[str, Any]]:
        return [{"loc": ["header", "Idempotency-Key"], "msg": str(self), "type": "key_reused"}]


class RecurrenceNeverRecursError(ApiError, ValueError):
    """A `PUT` sent a rule with no occurrence after the task's stored due date."""

    status = 422
    lists_fields = True

    @property
    def detail(self) -> str:
        # said as when the due date comes in the same body (a rule across fields of the body)
        return validation_summary(self.field_errors())

    @property
    def tool_text(self) -> str:
        return str(self)

    def field_errors(self) -> list[dict[str, Any]]:
        return [{"loc": ["body"], "msg": str(self), "type": "value_error"}]


class KeyQuotaError(ApiError):
    """The user made `MAX_IDEMPOTENCY_KEYS_PER_DAY` keyed creates in the last 24 hours."""

    status = 429
    summary = "MAX_IDEMPOTENCY_KEYS_PER_DAY keyed creates in 24 hours; nothing written"
    header_docs: ClassVar[Mapping[str, str]] = {
        "Retry-After": "Seconds until a keyed create is accepted again."
    }

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(
            f"Too many creates with an Idempotency-Key in 24 hours "
            f"(MAX_IDEMPOTENCY_KEYS_PER_DAY = {limit}); nothing was written: retry after "
            f"{retry_after} s"
        )
        self.limit = limit
        self.seconds = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.seconds)}


class UnknownTimeZoneError(ApiError, ValueError):
    """A time zone that is no IANA zone name (or one the database does not know)."""

    status = 422
    lists_fields = True

    def __init__(self, zone: str) -> None:
        shown = zone if len(zone) <= 64 and zone.isprintable() else "that value"
        super().__init__(f"{shown!r} is not an IANA time zone name (e.g. Europe/Berlin, UTC)")

    @property
    def detail(self) -> str:
        return validation_summary(self.field_errors())

    def field_errors(self) -> list[dict[str, Any]]:
        return [{"loc": ["body", "time_zone"], "msg": str(self), "type": "value_error"}]


class StreamLimitError(ApiError):
    """Too many live streams (of this user, or on this server): retry after a while."""

    status = 429
    header_docs: ClassVar[Mapping[str, str]] = {"Retry-After": RETRY_AFTER_DOC}

    def __init__(self, message: str, seconds: int) -> None:
        super().__init__(message)
        self.seconds = seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.seconds)}


class InvalidTicketError(ApiError):
    """A stream ticket that is unknown, used already, expired or for another user."""

    status = 401
    message = "The stream ticket is unknown, used or expired: ask for a new one"
