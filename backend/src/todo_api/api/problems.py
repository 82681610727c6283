"""Errors as RFC 9457 problem details, always with a human-readable string `detail`.

Frontends read `data.detail` and show it; FastAPI's default list-shaped `detail` renders as
"[object Object]" there. Field errors of a validation failure go in an extra `errors` list.
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
from todo_api.errors import ApiError, field_errors, report, validation_summary
from todo_api.logs import REQUEST_ID

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


async def _api_problem(_request: Request, exc: Exception) -> Response:
    """Any failure of the catalogue (`todo_api/errors.py`), as it declares itself."""
    assert isinstance(exc, ApiError)
    report(exc)
    errors = exc.field_errors()
    extra = None if errors is None else {"errors": errors}
    return problem_response(exc.status, exc.detail, headers=exc.headers(), extra=extra)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error the app can raise as a problem document: FastAPI's validation
    and HTTP errors, and the catalogue's (one handler for all of them)."""
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(ApiError, _api_problem)


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
