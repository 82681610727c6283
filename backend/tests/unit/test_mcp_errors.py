"""What a failed MCP tool call tells the model: the REST `detail`, or nothing of a crash."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError

from todo_api.database.errors import translate
from todo_api.errors import (
    DatabaseTimeoutError,
    KeyQuotaError,
    ServerBusyError,
    TaskNotFoundError,
    TaskQuotaError,
)
from todo_api.mcp_server.server import tool_error_detail


class _Arguments(BaseModel):
    title: str = Field(min_length=1)
    tags: list[str]


def _violation(constraint: str) -> IntegrityError:
    orig = SimpleNamespace(diag=SimpleNamespace(constraint_name=constraint))
    return IntegrityError("INSERT ...", {}, orig)  # type: ignore[arg-type]


def test_argument_errors_name_the_argument_and_its_position() -> None:
    with pytest.raises(ValidationError) as caught:
        _Arguments.model_validate({"title": "", "tags": ["ok", 7]})
    assert tool_error_detail(caught.value) == (
        "title: String should have at least 1 character; tags.1: Input should be a valid string"
    )


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (TaskNotFoundError(7), "Task 7 not found"),
        (TaskQuotaError(5), str(TaskQuotaError(5))),
        (KeyQuotaError(5, 60), str(KeyQuotaError(5, 60))),
        (ServerBusyError("no turn"), "The server is busy; retry shortly"),
        (DatabaseTimeoutError("no answer"), "The database did not answer in time; retry shortly"),
        (
            # driver errors reach the tools as `database/` translated them
            translate(OperationalError("SELECT 1", {}, Exception("connection refused"))),
            "The database is unavailable; retry shortly",
        ),
        (
            translate(_violation("ck_tasks_recurrence_needs_due")),
            "A recurring task needs a due_date: send due_date with recurrence, or clear "
            "recurrence (null) before clearing due_date",
        ),
    ],
)
def test_what_rest_answers_with_a_problem_a_tool_says_in_the_same_words(
    error: BaseException, detail: str
) -> None:
    assert tool_error_detail(error) == detail


@pytest.mark.parametrize("error", [None, KeyError("secret"), RuntimeError("internal detail")])
def test_a_crash_says_nothing_of_itself(error: Exception | None) -> None:
    assert tool_error_detail(error) is None
