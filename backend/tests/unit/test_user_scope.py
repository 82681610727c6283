"""Isolation is structural: every task statement comes from the user-scoped `UserTasks`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from todo_api.models import TaskRead
from todo_api.models.task_query import TaskListQuery
from todo_api.services.scope import TASK_FIELDS, Scoped, UserTasks

SOURCE = Path(__file__).resolve().parents[2] / "src" / "todo_api"

EVERY_FILTER = TaskListQuery.model_validate(
    {
        "status": "pending",
        "priority": ["high"],
        "tag": ["work"],
        "due_before": "2026-12-01",
        "due_after": "2026-11-01",
        "overdue": True,
        "q": "milk",
        "sort": "title",
    }
)

SCOPED_STATEMENTS: list[Callable[[UserTasks], Scoped]] = [
    lambda tasks: tasks.page(TaskListQuery(), 10, None),
    lambda tasks: tasks.page(TaskListQuery(), 10, (datetime.now(UTC), 5)),
    lambda tasks: tasks.page(EVERY_FILTER, 10, ("x", 5)),
    lambda tasks: tasks.tag_counts(),
    lambda tasks: tasks.get(1),
    lambda tasks: tasks.insert({"title": "title"}),
    lambda tasks: tasks.next_occurrence(1, datetime.now(UTC)),
    lambda tasks: tasks.next_occurrence_id(1),
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
    elif sql.lstrip().startswith("INSERT"):  # a copy of one of the user's own tasks
        assert re.search(r"SELECT tasks\.user_id, .*WHERE tasks\.user_id = %\(owner\)s", sql, re.S)
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


def test_task_dict_writes_every_field_of_the_response_model_in_order() -> None:
    from todo_api.api.responses import task_dict

    due = datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)
    columns = dict.fromkeys(TASK_FIELDS, "x") | {"priority": 3, "due_at": due, "due_all_day": True}
    task = task_dict(columns[name] for name in TASK_FIELDS)

    assert tuple(task) == tuple(TaskRead.model_fields)
    assert task["priority"] == "high"
    assert task["due_date"] == due.date()
    assert [task[name] for name in ("id", "title", "tags", "recurrence")] == ["x"] * 4
