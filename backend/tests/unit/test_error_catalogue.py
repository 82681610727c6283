"""The error catalogue (`todo_api/errors/`): each failure declared once, said the same way
by both transports, and the transports kept off the driver and off each other."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response

from todo_api import errors
from todo_api.api.problems import install_problem_handlers, responses_for, status_title
from todo_api.errors import ApiError
from todo_api.mcp_server.server import tool_error_detail

PACKAGE = Path(errors.__file__).parent.parent  # errors/ is a package of todo_api


def _examples() -> list[ApiError]:
    row: tuple[object, ...] = (7, "alice", "t", None, False, None, None, 2, None, False, [], None)
    return [
        errors.InvalidCursorError(),
        errors.InvalidSyncCursorError(),
        errors.InvalidJsonError(),
        errors.ForbiddenUserError(),
        errors.BodyTimeoutError(2.5),
        errors.BodyTooLargeError(1024),
        errors.UnsupportedMediaTypeError(),
        errors.InvalidInputError([{"loc": ["body", "title"], "msg": "too long", "type": "x"}]),
        errors.TokenRejectedError("Token has expired"),
        errors.TokenRejectedError("Missing bearer token", invalid_token=False),
        errors.TaskQuotaError(5),
        errors.TaskNotFoundError(7),
        errors.ReplayedTaskDeletedError(7),
        errors.IdempotencyKeyBusyError(),
        errors.ConflictError("ck_tasks_recurrence_needs_due"),
        errors.ConflictError(None),
        errors.ExpiredSyncCursorError(30),
        errors.TaskChangedError(7, row, '"abc"'),
        errors.IdempotencyKeyReusedError(),
        errors.RecurrenceNeverRecursError("no occurrence in ten years"),
        errors.KeyQuotaError(5, 60),
        errors.UnknownTimeZoneError("Mars/Olympus_Mons"),
        errors.StreamLimitError("At most 10 open streams per user", 5),
        errors.InvalidTicketError(),
        errors.ServerBusyError("no turn within 3 s"),
        errors.DatabaseTimeoutError("no answer"),
        errors.DatabaseUnavailableError("OperationalError"),
        errors.KeySetUnavailableError("fetch failed"),
        errors.ConversationNotFoundError(3),
        errors.ConversationBusyError(),
        errors.ChatRateLimitError(20),
        errors.ModelFailedError(),
        errors.ModelTimeoutError(),
        errors.ChatNotConfiguredError(),
    ]


def test_every_failure_of_the_catalogue_has_an_example_here() -> None:
    declared = {
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, ApiError) and not cls.__name__.startswith("_")
    } - {ApiError}
    assert declared == {type(example) for example in _examples()}


@pytest.mark.parametrize("error", _examples(), ids=lambda error: type(error).__name__)
def test_rest_renders_a_failure_exactly_as_the_catalogue_declares_it(error: ApiError) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    install_problem_handlers(app)
    handler = app.exception_handlers[ApiError]
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response: Response = asyncio.run(handler(request, error))  # type: ignore[arg-type]
    body = orjson.loads(response.body)
    assert response.status_code == error.status
    assert (body["status"], body["title"], body["detail"]) == (
        error.status,
        status_title(error.status),
        error.detail,
    )
    assert body.get("errors") == error.field_errors()
    for name, value in error.headers().items():
        assert response.headers[name] == value
    if error.status == 503:
        assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("error", _examples(), ids=lambda error: type(error).__name__)
def test_the_openapi_response_of_a_failure_documents_what_it_sends(error: ApiError) -> None:
    ((status, response),) = responses_for(type(error)).items()
    assert status == error.status
    assert response["description"].startswith(status_title(error.status))
    # Connection is hop-by-hop: a client never sees it as a response header to rely on.
    assert set(response.get("headers", {})) == set(error.headers()) - {"Connection"}
    schema = response["content"]["application/problem+json"]["schema"]["$ref"]
    assert schema.endswith("/ValidationProblem") == (error.field_errors() is not None)


def test_the_openapi_response_of_a_status_joins_what_its_failures_mean() -> None:
    responses = responses_for(errors.ForbiddenUserError, errors.TaskQuotaError)

    assert responses[403]["description"] == (
        f"Forbidden: {errors.ForbiddenUserError.summary}, or {errors.TaskQuotaError.summary}"
    )
    conflict = responses_for(errors.ConflictError, errors.IdempotencyKeyBusyError)[409]
    assert conflict["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert responses_for(errors.TaskNotFoundError)[404]["description"] == "Not Found"


@pytest.mark.parametrize("error", _examples(), ids=lambda error: type(error).__name__)
def test_an_mcp_tool_says_what_rest_says(error: ApiError) -> None:
    said = tool_error_detail(error)
    assert said == error.tool_text
    assert said
    assert said in error.detail  # the same sentence (a 422's detail adds where)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("room", ["api", "mcp_server"])
def test_no_transport_imports_the_database_driver(room: str) -> None:
    for path in sorted((PACKAGE / room).glob("*.py")):
        driver = {
            name for name in _imports(path) if name.split(".")[0] in {"sqlalchemy", "psycopg"}
        }
        assert not driver, f"{path.name} imports {driver}"


def test_the_mcp_transport_takes_nothing_from_the_rest_transport_but_authentication() -> None:
    borrowed = {
        name
        for path in sorted((PACKAGE / "mcp_server").glob("*.py"))
        for name in _imports(path)
        if name.startswith("todo_api.api")
    }
    assert borrowed == {"todo_api.api.auth"}
