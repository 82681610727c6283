"""Errors as RFC 9457 problem details, always with a human-readable string `detail`.

Frontends read `data.detail` and show it; FastAPI's default list-shaped `detail` renders as
"[object Object]" there. Field errors of a validation failure go in an extra `errors` list.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from todo_api.api.admission import BUSY_RETRY_AFTER_SECONDS, ServerBusyError
from todo_api.api.cursors import InvalidCursorError
from todo_api.api.etags import task_etag_of
from todo_api.api.http_semantics import allowed_methods
from todo_api.api.sync_cursors import ExpiredSyncCursorError
from todo_api.database.errors import constraint_name, describe
from todo_api.database.runner import DatabaseTimeoutError
from todo_api.logs import REQUEST_ID
from todo_api.security.errors import KeySetUnavailableError, TokenRejectedError
from todo_api.services.quotas import KeyQuotaError, TaskQuotaError
from todo_api.services.tasks import (
    IdempotencyKeyBusyError,
    IdempotencyKeyReusedError,
    RecurrenceNeverRecursError,
    TaskChangedError,
    TaskNotFoundError,
)

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Fixed titles: Python's own reason phrases differ between versions (422 changed in 3.13).
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def status_title(status: int) -> str:
    return _TITLES.get(status) or HTTPStatus(status).phrase


RETRY_AFTER_SECONDS = 5


class FieldError(BaseModel):
    """One failed field of a validation problem."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str | None = Field(
        default=None,
        description="The request's `X-Request-ID`: quote it when reporting a problem.",
    )


class ValidationProblem(Problem):
    """A 422 problem listing every failed field."""

    errors: list[FieldError]


def problem_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body = {"type": "about:blank", "title": status_title(status), "status": status}
    body["detail"] = detail
    request_id = REQUEST_ID.get()
    if request_id is not None:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _location(loc: Sequence[Any]) -> str:
    # ("body", "title") -> "title"; ("path", "task_id") -> "task_id"
    parts = [str(part) for part in loc[1:]] or [str(part) for part in loc]
    return ".".join(parts)


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as a client reads them: where, what, which rule.

    The offending input is not echoed back: it may be huge or hold a secret."""
    return [
        {
            "loc": list(error["loc"]),
            "msg": error["msg"].removeprefix("Value error, "),
            "type": error["type"],
        }
        for error in errors
    ]


def validation_summary(
    errors: Sequence[Mapping[str, Any]], location: Callable[[Sequence[Any]], str] = _location
) -> str:
    """The `detail` of a validation failure: `where: what` of the first five errors (the MCP
    tools say the same, with their own `location`)."""
    parts = []
    for error in errors[:5]:
        where = location(error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts) or "Invalid request"


async def _validation_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    if any(error["type"] == "json_invalid" for error in errors):
        return problem_response(400, "Request body is not valid JSON")
    return problem_response(422, validation_summary(errors), extra={"errors": errors})


# Frontends built on Better Auth serve its routes at /api/auth/* themselves; a developer who
# points them (or a hand-written sign-in call) at this API gets this instead of a bare 404.
AUTH_ROUTES_HINT = (
    "This API has no sign-in routes (/api/auth, /auth, /login...): sign-in (Better Auth) runs "
    "in your frontend, which sends this API the JWT it issues as `Authorization: Bearer "
    '<jwt>`. See the README, "Connect your Better Auth frontend"'
)
# The paths a frontend calls to sign in, up or out, with or without an /api prefix: anything
# under /auth, and the usual one-word routes.
AUTH_PATHS = re.compile(
    r"(?:/api)?/(?:auth(?:/.*)?|login|logout|signin|sign-in|signup|sign-up|register|session)/?",
    re.IGNORECASE | re.DOTALL,
)


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else status_title(exc.status_code)
    if exc.status_code == 404 and AUTH_PATHS.fullmatch(request.url.path):
        detail = AUTH_ROUTES_HINT
    headers = exc.headers
    if exc.status_code == 405:
        headers = {"Allow": ", ".join(allowed_methods(request.app.router.routes, request.scope))}
    return problem_response(exc.status_code, detail, headers=headers)


async def _task_not_found(_request: Request, exc: Exception) -> Response:
    return problem_response(404, str(exc))


async def _invalid_cursor(_request: Request, exc: Exception) -> Response:
    return problem_response(400, str(exc))


async def _expired_cursor(_request: Request, exc: Exception) -> Response:
    return problem_response(410, str(exc))


async def _task_changed(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TaskChangedError)
    return problem_response(412, str(exc), headers={"ETag": task_etag_of(exc.current)})


async def _key_reused(_request: Request, exc: Exception) -> Response:
    error = {"loc": ["header", "Idempotency-Key"], "msg": str(exc), "type": "key_reused"}
    return problem_response(422, str(exc), extra={"errors": [error]})


async def _recurrence_never_recurs(_request: Request, exc: Exception) -> Response:
    # said as when the due date comes in the same body (a rule across fields of the body)
    errors = [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]
    return problem_response(422, validation_summary(errors), extra={"errors": errors})


async def _key_busy(_request: Request, exc: Exception) -> Response:
    return problem_response(409, str(exc), headers={"Retry-After": "1"})


async def _task_quota(_request: Request, exc: Exception) -> Response:
    return problem_response(403, str(exc))


async def _key_quota(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyQuotaError)
    return problem_response(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


# What a constraint a request can still run into means, said to the client. The API checks
# every rule it can see in the request; these depend on the task as it is stored.
_CONFLICTS = {
    "ck_tasks_recurrence_needs_due": (
        "A recurring task needs a due_date: send due_date with recurrence, or clear "
        "recurrence (null) before clearing due_date"
    ),
}


def conflict_detail(exc: IntegrityError) -> str:
    """What the constraint `exc` ran into means, in words for the client."""
    return _CONFLICTS.get(
        constraint_name(exc) or "", "The request conflicts with the current state"
    )


# The characters RFC 6750 allows in `error_description` (printable ASCII but `"` and `\`).
_DESCRIPTION_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def bearer_challenge(reason: str | None) -> str:
    """`WWW-Authenticate` value: the bare scheme, or RFC 6750's `invalid_token` with a
    description reduced to the characters a quoted header parameter may hold."""
    if reason is None:
        return "Bearer"
    description = "".join(char for char in reason if char in _DESCRIPTION_CHARS)
    return f'Bearer error="invalid_token", error_description="{description}"'


async def _token_rejected(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TokenRejectedError)
    # RFC 6750 section 3: a request without any token gets a bare challenge.
    challenge = bearer_challenge(exc.reason if exc.invalid_token else None)
    return problem_response(401, exc.reason, headers={"WWW-Authenticate": challenge})


# What a 503 says, by cause: the client may retry after a short pause.
BUSY = "The server is busy; retry shortly"
DATABASE_TIMEOUT = "The database did not answer in time; retry shortly"
DATABASE_UNAVAILABLE = "The database is unavailable; retry shortly"
KEYS_UNAVAILABLE = "Token signing keys cannot be fetched; retry shortly"
# Errors that mean the database is down or unreachable (not that the request is wrong).
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeoutError, OSError)


def _unavailable(detail: str, exc: Exception, retry_after: int = RETRY_AFTER_SECONDS) -> Response:
    """503 for a dependency that is down or slow (logged as its kind: its text can quote
    the request's data)."""
    logger.warning("%s: %s", detail, describe(exc))
    headers = {"Retry-After": str(retry_after)}
    return problem_response(503, detail, headers=headers)


async def _server_busy(_request: Request, exc: Exception) -> Response:
    return _unavailable(BUSY, exc, BUSY_RETRY_AFTER_SECONDS)


async def _database_timeout(_request: Request, exc: Exception) -> Response:
    return _unavailable(DATABASE_TIMEOUT, exc)


async def _keys_unavailable(_request: Request, exc: Exception) -> Response:
    return _unavailable(KEYS_UNAVAILABLE, exc)


async def _database_unavailable(_request: Request, exc: Exception) -> Response:
    return _unavailable(DATABASE_UNAVAILABLE, exc)


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return await _database_unavailable(request, exc)
    if isinstance(exc, IntegrityError):
        return problem_response(409, conflict_detail(exc))
    logger.error("database error: %s", describe(exc), exc_info=exc)
    return problem_response(500, "Internal server error")


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error the app can raise as a problem document."""
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(TaskNotFoundError, _task_not_found)
    app.add_exception_handler(InvalidCursorError, _invalid_cursor)
    app.add_exception_handler(ExpiredSyncCursorError, _expired_cursor)
    app.add_exception_handler(TaskChangedError, _task_changed)
    app.add_exception_handler(IdempotencyKeyReusedError, _key_reused)
    app.add_exception_handler(IdempotencyKeyBusyError, _key_busy)
    app.add_exception_handler(TaskQuotaError, _task_quota)
    app.add_exception_handler(KeyQuotaError, _key_quota)
    app.add_exception_handler(RecurrenceNeverRecursError, _recurrence_never_recurs)
    app.add_exception_handler(TokenRejectedError, _token_rejected)
    app.add_exception_handler(KeySetUnavailableError, _keys_unavailable)
    app.add_exception_handler(ServerBusyError, _server_busy)
    app.add_exception_handler(DatabaseTimeoutError, _database_timeout)
    for unavailable in DATABASE_DOWN:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses (see `problem_schemas`)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        name = "ValidationProblem" if status == 422 else "Problem"
        schema = {"$ref": f"#/components/schemas/{name}"}
        responses[status] = {
            "description": status_title(status),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
    return responses


def quota_responses(*, keyed_create: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries of the quota problems (services/quotas.py) of a write that can create
    a task: 403 at MAX_TASKS_PER_USER and, for a create, 429 at MAX_IDEMPOTENCY_KEYS_PER_DAY."""
    responses = problem_responses(403, 429) if keyed_create else problem_responses(403)
    responses[403]["description"] = (
        "Forbidden: the token's user is not `{user_id}`, or the user keeps MAX_TASKS_PER_USER "
        "tasks (a create, or a completion that would create a next occurrence): nothing written"
    )
    if keyed_create:
        responses[429]["description"] = (
            "Too Many Requests: MAX_IDEMPOTENCY_KEYS_PER_DAY keyed creates in 24 hours; "
            "nothing written"
        )
        responses[429]["headers"] = {
            "Retry-After": {
                "description": "Seconds until a keyed create is accepted again.",
                "schema": {"type": "integer"},
            }
        }
    return responses


def problem_schemas() -> dict[str, Any]:
    """Component schemas referenced by `problem_responses`, for the OpenAPI document."""
    template = "#/components/schemas/{model}"
    validation = ValidationProblem.model_json_schema(ref_template=template)
    definitions = validation.pop("$defs", {})
    return {
        "Problem": Problem.model_json_schema(ref_template=template),
        "ValidationProblem": validation,
        **definitions,
    }
