"""Isolation is structural: every task statement comes from the user-scoped `UserTasks`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from todo_api.models import TaskRead
from todo_api.services.scope import TASK_FIELDS, Scoped, UserTasks

SOURCE = Path(__file__).resolve().parents[2] / "src" / "todo_api"

SCOPED_STATEMENTS: list[Callable[[UserTasks], Scoped]] = [
    lambda tasks: tasks.first_page(10),
    lambda tasks: tasks.next_page((datetime.now(UTC), 5), 10),
    lambda tasks: tasks.get(1),
    lambda tasks: tasks.insert("title", None),
    lambda tasks: tasks.update(1, {"title": "x"}),
    lambda tasks: tasks.update(1, {"title": "x", "description": None, "completed": True}),
    lambda tasks: tasks.toggle(1),
    lambda tasks: tasks.delete(1),
]


@pytest.mark.parametrize("build", SCOPED_STATEMENTS)
def test_every_statement_is_bound_to_its_user(build: Callable[[UserTasks], Scoped]) -> None:
    scoped = build(UserTasks("alice"))
    sql = str(scoped.statement.compile(dialect=postgresql.dialect()))

    assert scoped.params["owner"] == "alice"
    if sql.lstrip().startswith("WITH"):  # the insert writes the owner instead of filtering
        assert re.search(r"INSERT INTO tasks \(user_id, .*VALUES \(%\(owner\)s", sql), sql
    else:
        assert re.search(r"WHERE tasks\.user_id = %\(owner\)s", sql), sql


def test_updates_refuse_columns_outside_the_updatable_set() -> None:
    for changes in ({}, {"user_id": "mallory"}, {"title": "x", "id": 5}):
        with pytest.raises(ValueError, match="non-empty subset"):
            UserTasks("alice").update(1, changes)


def test_no_other_module_builds_task_statements() -> None:
    """Routers and services must ask `UserTasks`; nothing else may start from `Task`."""
    pattern = re.compile(r"\b(select|Select|update|delete|insert)\(\s*(Task\b|\*TASK_COLUMNS)")
    offenders = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if path.name != "scope.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert pattern.search((SOURCE / "services" / "scope.py").read_text(encoding="utf-8"))


def test_serialized_fields_are_the_response_model_fields() -> None:
    assert tuple(TaskRead.model_fields) == TASK_FIELDS


def test_task_dict_writes_every_field_in_order() -> None:
    from todo_api.api.responses import task_dict

    assert tuple(task_dict(range(len(TASK_FIELDS)))) == TASK_FIELDS
    assert list(task_dict(range(len(TASK_FIELDS))).values()) == list(range(len(TASK_FIELDS)))
