"""Errors as RFC 9457 problem details, always with a human-readable string `detail`.

Frontends read `data.detail` and show it; FastAPI's default list-shaped `detail` renders as
"[object Object]" there. Field errors of a validation failure go in an extra `errors` list.
Every failure comes from the catalogue (`todo_api/errors/`): one handler renders it, and
`responses_for` declares an operation's error responses from the classes it can raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from todo_api.api.http_semantics import allowed_methods
from todo_api.errors import (
    ApiError,
    BodyTimeoutError,
    BodyTooLargeError,
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    ForbiddenUserError,
    InvalidInputError,
    InvalidJsonError,
    KeySetUnavailableError,
    ServerBusyError,
    TokenRejectedError,
    UnsupportedMediaTypeError,
    report,
)
from todo_api.logs import REQUEST_ID
from todo_api.validation_errors import field_errors

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
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def status_title(status: int) -> str:
    return _TITLES.get(status) or HTTPStatus(status).phrase


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


def error_response(error: ApiError) -> Response:
    """The problem document of a failure of the catalogue, as it declares itself."""
    report(error)
    errors = error.field_errors()
    extra = None if errors is None else {"errors": errors}
    return problem_response(error.status, error.detail, headers=error.headers(), extra=extra)


def as_http_exception(error: ApiError) -> HTTPException:
    """`error` for the one place that takes only an HTTPException: while FastAPI reads a body,
    it turns any other exception into a 400. Rendered the same (`_http_problem`)."""
    return HTTPException(error.status, error.detail, headers=error.headers() or None)


async def _validation_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    if any(error["type"] == "json_invalid" for error in errors):
        return error_response(InvalidJsonError())
    return error_response(InvalidInputError(errors))


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


async def _api_problem(_request: Request, exc: Exception) -> Response:
    """Any failure of the catalogue (`todo_api/errors/`), as it declares itself."""
    assert isinstance(exc, ApiError)
    return error_response(exc)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error the app can raise as a problem document: FastAPI's validation
    and HTTP errors, and the catalogue's (one handler for all of them)."""
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(ApiError, _api_problem)


# The failures an operation's OpenAPI responses name (`responses_for`), by what they share.
# A database that is down or slow: a 503 of any operation that reads it.
DATABASE_FAILURES: tuple[type[ApiError], ...] = (DatabaseTimeoutError, DatabaseUnavailableError)
# Every `/api` operation: who is calling (401: the key server may be down, a 503), whether the
# path is theirs (403), a turn (admission: 503), and the database.
CALLER_FAILURES: tuple[type[ApiError], ...] = (
    TokenRejectedError,
    ForbiddenUserError,
    KeySetUnavailableError,
    ServerBusyError,
    *DATABASE_FAILURES,
)
# An operation that reads a JSON body: not JSON (400, 415), too slow or too large (408, 413),
# or not valid (422).
BODY_FAILURES: tuple[type[ApiError], ...] = (
    InvalidJsonError,
    BodyTimeoutError,
    BodyTooLargeError,
    UnsupportedMediaTypeError,
    InvalidInputError,
)
_HEADER_SCHEMAS = {"Retry-After": {"type": "integer"}}


def responses_for(*errors: type[ApiError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries of an operation that can raise `errors` (catalogue
    classes): one per status, described by its title and the classes' `summary`, with the
    schema of their problem (`problem_schemas`) and the headers they send (`header_docs`)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted({error.status for error in errors}):
        group = [error for error in errors if error.status == status]
        summaries = list(dict.fromkeys(error.summary for error in group if error.summary))
        description = status_title(status)
        if summaries:
            description += ": " + ", or ".join(summaries)
        name = "ValidationProblem" if any(error.lists_fields for error in group) else "Problem"
        schema = {"$ref": f"#/components/schemas/{name}"}
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        headers: dict[str, Any] = {}
        for error in group:  # the first class to document a header describes it
            for header, doc in error.header_docs.items():
                typed = _HEADER_SCHEMAS.get(header, {"type": "string"})
                headers.setdefault(header, {"description": doc, "schema": typed})
        if headers:
            response["headers"] = headers
        responses[status] = response
    return responses


def problem_schemas() -> dict[str, Any]:
    """Component schemas referenced by `responses_for`, for the OpenAPI document."""
    template = "#/components/schemas/{model}"
    validation = ValidationProblem.model_json_schema(ref_template=template)
    definitions = validation.pop("$defs", {})
    return {
        "Problem": Problem.model_json_schema(ref_template=template),
        "ValidationProblem": validation,
        **definitions,
    }
