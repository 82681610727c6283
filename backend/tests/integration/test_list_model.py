"""Property-based: for random tasks and random queries, the list equals a plain-Python model.

Each example is a fresh user on a live server (real HTTP, real PostgreSQL). The model below
is written from the documented rules (specs data-model.md), not from the SQL: filters
combine with AND, a date is due by the end of its day (UTC), tasks without a deadline sort
last, titles compare with ASCII case folded, ties are broken by id in the sort direction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any, overload

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from tests.support import bearer, running_server, sign

PRIORITY = {"low": 1, "medium": 2, "high": 3}
DEFAULT_ORDER = {"created": "desc", "updated": "desc", "title": "asc", "due_date": "asc",
                 "priority": "desc"}  # fmt: skip


@pytest.fixture(scope="module")
def base(migrated_database: URL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(migrated_database, tmp_path_factory.mktemp("model")) as (url, _):
        yield url


# Deadlines far from now (past: 2001-2009, future: 2041-2049), so "overdue" never depends on
# the moment the test runs; some on the same day, to exercise date vs date-time ties.
days = st.dates(date(2001, 1, 1), date(2001, 1, 3)) | st.dates(date(2041, 1, 1), date(2041, 1, 3))
deadlines = (
    st.none()
    | days
    | st.builds(
        lambda day, hour: datetime.combine(day, time(hour), UTC), days, st.sampled_from([0, 12, 23])
    )
)
words = st.sampled_from(["milk", "Milk", "report", "call", "a_b", "50%", "Zoo", "apple"])
tasks = st.fixed_dictionaries(
    {
        "title": st.builds(" ".join, st.lists(words, min_size=1, max_size=2)),
        "description": st.none() | words,
        "priority": st.sampled_from(list(PRIORITY)),
        "due_date": deadlines,
        "tags": st.lists(st.sampled_from(["a", "b", "Work"]), unique=True, max_size=3),
        "completed": st.booleans(),
    }
)
queries = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["all", "pending", "completed"]),
        "priority": st.lists(st.sampled_from(list(PRIORITY)), min_size=1, max_size=2),
        "tag": st.lists(st.sampled_from(["a", "b", "Work"]), min_size=1, max_size=2),
        "due_before": deadlines.filter(bool),
        "due_after": deadlines.filter(bool),
        "overdue": st.booleans(),
        "q": st.sampled_from(["milk", "MILK", "a_b", "50%", "o", "%", "_"]),
        "sort": st.sampled_from(list(DEFAULT_ORDER)),
        "order": st.sampled_from(["asc", "desc"]),
    },
)


@overload
def instant(value: str) -> datetime: ...
@overload
def instant(value: None) -> None: ...
def instant(value: str | None) -> datetime | None:
    """When a wire deadline passes: a date-time itself, a date at the end of its day."""
    if value is None:
        return None
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time.max, UTC)
    return datetime.fromisoformat(value)


def wire(value: date | datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def matches(task: dict[str, Any], query: dict[str, Any], now: datetime) -> bool:
    status = query.get("status", "all")
    due = instant(task["due_date"])
    overdue = not task["completed"] and due is not None and due < now
    text = (task["title"] + "\n" + (task["description"] or "")).lower()
    return (
        (status == "all" or task["completed"] == (status == "completed"))
        and ("priority" not in query or task["priority"] in query["priority"])
        and set(query.get("tag", [])) <= set(task["tags"])
        and (
            "due_before" not in query
            or (due is not None and due <= instant(wire(query["due_before"])))
        )
        and (
            "due_after" not in query
            or (due is not None and due > instant(wire(query["due_after"])))
        )
        and ("overdue" not in query or overdue == query["overdue"])
        and ("q" not in query or query["q"].lower() in text)
    )


def model(tasks: list[dict[str, Any]], query: dict[str, Any], now: datetime) -> list[int]:
    """The ids the list should answer, in order."""
    sort = query.get("sort", "created")
    descending = query.get("order", DEFAULT_ORDER[sort]) == "desc"
    found = [task for task in tasks if matches(task, query, now)]

    def key(task: dict[str, Any]) -> Any:
        if sort == "due_date":
            return instant(task["due_date"])
        if sort == "title":
            return task["title"].lower()  # ASCII titles: ASCII folding is all of it
        if sort == "priority":
            return PRIORITY[task["priority"]]
        return datetime.fromisoformat(task[f"{sort}_at"])

    if sort == "due_date":  # without a deadline: last, in either direction
        dated = [task for task in found if task["due_date"] is not None]
        undated = [task for task in found if task["due_date"] is None]
        dated.sort(key=lambda task: (key(task), task["id"]), reverse=descending)
        undated.sort(key=lambda task: task["id"], reverse=descending)
        return [task["id"] for task in dated + undated]
    found.sort(key=lambda task: (key(task), task["id"]), reverse=descending)
    return [task["id"] for task in found]


def params(query: dict[str, Any]) -> dict[str, Any]:
    return {
        name: wire(value)
        if isinstance(value, date)
        else str(value).lower()
        if isinstance(value, bool)
        else value
        for name, value in query.items()
    }


def seed(http: httpx.Client, user: str, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    created = []
    for spec in specs:
        body = {**spec, "due_date": wire(spec["due_date"]) if spec["due_date"] else None}
        completed = body.pop("completed")
        task = http.post(f"/api/{user}/tasks", json=body).json()
        if completed:
            task = http.put(f"/api/{user}/tasks/{task['id']}", json={"completed": True}).json()
        created.append(task)
    return created


def client_for(base: str, user: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers=bearer(sign(user)), timeout=10)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=st.lists(tasks, max_size=12), query=queries)
def test_the_list_equals_the_model(
    base: str, specs: list[dict[str, Any]], query: dict[str, Any]
) -> None:
    user = f"model-{uuid.uuid4()}"
    with client_for(base, user) as http:
        created = seed(http, user, specs)
        response = http.get(f"/api/{user}/tasks", params=params(query))
        assert response.status_code == 200, response.text
        now = datetime.now(UTC)
        assert [task["id"] for task in response.json()] == model(created, query, now)
        assert {task["id"]: task for task in response.json()} == {
            task["id"]: task for task in created if task["id"] in model(created, query, now)
        }


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=st.lists(tasks, min_size=1, max_size=12),
    query=queries,
    limit=st.integers(1, 5),
    churn=st.lists(st.tuples(tasks, st.integers(0, 11)), max_size=4),
)
def test_pages_concatenate_to_the_list_while_tasks_come_and_go(
    base: str,
    specs: list[dict[str, Any]],
    query: dict[str, Any],
    limit: int,
    churn: list[tuple[dict[str, Any], int]],
) -> None:
    """Between pages a task is created and one deleted. The walk never shows a task twice,
    shows every task that was there throughout in the model's order, and nothing else."""
    user = f"pages-{uuid.uuid4()}"
    with client_for(base, user) as http:
        created = seed(http, user, specs)
        expected = model(created, query, datetime.now(UTC))
        deleted: set[int] = set()
        added: list[dict[str, Any]] = []
        seen: list[int] = []
        url: str | None = f"/api/{user}/tasks"
        request_params: dict[str, Any] | None = {**params(query), "limit": limit}
        while url is not None:
            response = http.get(url, params=request_params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page) <= limit
            seen += [task["id"] for task in page]
            link = response.headers.get("link")
            url, request_params = (link.split(">;")[0][1:], None) if link else (None, None)
            if url is not None and churn:
                spec, victim = churn.pop()
                added += seed(http, user, [spec])
                target = created[victim % len(created)]["id"]
                if http.delete(f"/api/{user}/tasks/{target}").status_code == 204:
                    deleted.add(target)

        assert len(seen) == len(set(seen))
        stable = [task_id for task_id in expected if task_id not in deleted]
        assert [task_id for task_id in seen if task_id in set(stable)] == stable
        newcomers = {task["id"] for task in added}
        assert set(seen) <= set(expected) | newcomers
