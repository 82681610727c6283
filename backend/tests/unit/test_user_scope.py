"""Isolation is structural: every task statement starts from the user-scoped `UserTasks`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from todo_api.services.scope import UserTasks

SOURCE = Path(__file__).resolve().parents[2] / "src" / "todo_api"


def _sql(statement: object) -> str:
    return str(statement.compile(dialect=postgresql.dialect()))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "build",
    [
        lambda tasks: tasks.select(),
        lambda tasks: tasks.update(1),
        lambda tasks: tasks.delete(1),
    ],
)
def test_every_statement_filters_on_the_user(build) -> None:  # type: ignore[no-untyped-def]
    statement = build(UserTasks("alice"))
    sql = _sql(statement)
    assert re.search(r"WHERE tasks\.user_id = %\(user_id_1\)s", sql), sql
    params = statement.compile(dialect=postgresql.dialect()).params
    assert params["user_id_1"] == "alice"


def test_insert_writes_the_scoped_user() -> None:
    statement = UserTasks("alice").insert({"title": "x", "description": None})
    params = statement.compile(dialect=postgresql.dialect()).params
    assert "alice" in params.values()
    assert "ON CONFLICT DO NOTHING" in _sql(statement)


def test_no_other_module_builds_task_statements() -> None:
    """Routers and services must ask `UserTasks`; nothing else may start from `Task`."""
    pattern = re.compile(r"\b(select|update|delete|insert)\(\s*(Task\b|\*TASK_COLUMNS)")
    offenders = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if path.name != "scope.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_serialized_fields_are_the_response_model_fields() -> None:
    from todo_api.models import TaskRead
    from todo_api.services.scope import TASK_FIELDS

    assert tuple(TaskRead.model_fields) == TASK_FIELDS
