"""What frontends written against other APIs send: each mistake is named in the answer.

A misspelled or foreign field or query parameter is a 422 naming it and the field meant,
never silently ignored; a task read sent back whole (its read-only fields included) works.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from todo_api.models.unknown_fields import BODY_ALIASES, QUERY_ALIASES

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"
CHANGES = f"{TASKS}/changes"


async def existing_task(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(TASKS, json={"title": "keep", "due_date": "2026-12-01"})
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def assert_unknown(response: httpx.Response, where: str, name: str, suggestion: str) -> None:
    """A 422 whose detail and `errors[]` name the unknown `name` and what it probably meant."""
    assert response.status_code == 422, response.text
    problem = response.json()
    kind = "field" if where == "body" else "query parameter"
    message = f"unknown {kind}, {suggestion}"
    assert f"{name}: {message}" in problem["detail"]
    error = {"loc": [where, name], "msg": message, "type": "extra_forbidden"}
    assert error in problem["errors"]


BODY_MISTAKES = [
    pytest.param("recurrence_rule", "FREQ=WEEKLY", "`recurrence`", id="recurrence_rule"),
    pytest.param("is_recurring", True, "`recurrence`", id="is_recurring"),
    pytest.param("rrule", "FREQ=DAILY", "`recurrence`", id="rrule"),
    pytest.param("dueDate", "2026-12-01", "`due_date`", id="dueDate"),
    pytest.param("titel", "Buy milk", "`title`", id="typo"),
    pytest.param("Priority", "high", "`priority`", id="capitalized"),
]


@pytest.mark.parametrize(("name", "value", "meant"), BODY_MISTAKES)
async def test_a_create_with_an_unknown_field_is_refused_naming_the_field_meant(
    client: httpx.AsyncClient, name: str, value: object, meant: str
) -> None:
    body = {"title": "Water the plants", "due_date": "2026-12-01", name: value}
    response = await client.post(TASKS, json=body)
    assert_unknown(response, "body", name, f"did you mean {meant}?")
    assert (await client.get(TASKS)).json() == []


@pytest.mark.parametrize(("name", "value", "meant"), BODY_MISTAKES)
async def test_an_update_with_an_unknown_field_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, name: str, value: object, meant: str
) -> None:
    task = await existing_task(client)
    response = await client.put(f"{TASKS}/{task['id']}", json={"title": "changed", name: value})
    assert_unknown(response, "body", name, f"did you mean {meant}?")
    assert (await client.get(f"{TASKS}/{task['id']}")).json() == task


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("name", ["status", "done", "is_completed"])
async def test_a_status_in_a_body_points_to_completed(
    client: httpx.AsyncClient, method: str, name: str
) -> None:
    task = await existing_task(client)
    url = f"{TASKS}/{task['id']}" + ("/complete" if method == "PATCH" else "")
    response = await client.request(method, url, json={name: "done"})
    assert_unknown(response, "body", name, "did you mean `completed`?")
    assert (await client.get(f"{TASKS}/{task['id']}")).json() == task


async def test_an_unknown_field_with_no_close_name_lists_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(TASKS, json={"title": "x", "colour": "red"})
    known = "`title`, `description`, `priority`, `due_date`, `tags`, `recurrence`, `reminders`"
    assert_unknown(response, "body", "colour", f"known: {known}")


async def test_every_unknown_field_is_named_up_to_ten(client: httpx.AsyncClient) -> None:
    body = {"title": "x", **{f"made_up_{n}": n for n in range(2000)}}
    response = await client.post(TASKS, json=body)
    assert response.status_code == 422
    names = [error["loc"][1] for error in response.json()["errors"]]
    assert names == [f"made_up_{n}" for n in range(10)]


async def test_a_task_read_sent_back_whole_in_a_put_is_an_update(
    client: httpx.AsyncClient,
) -> None:
    """Frontends `PUT` the task they read with a field changed; the server's own fields are
    accepted and ignored, whatever they hold."""
    task = await existing_task(client)
    sent = {**task, "title": "changed", "user_id": "mallory", "created_at": "2000-01-01T00:00:00Z"}
    response = await client.put(f"{TASKS}/{task['id']}", json={**sent, "id": 999})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["title"] == "changed"
    assert updated["id"] == task["id"]
    assert updated["user_id"] == "alice"
    assert updated["created_at"] == task["created_at"]
    assert updated["updated_at"] != task["updated_at"]


async def test_a_put_of_read_only_fields_alone_changes_nothing_and_says_so(
    client: httpx.AsyncClient,
) -> None:
    task = await existing_task(client)
    body = {name: task[name] for name in ("id", "user_id", "created_at", "updated_at")}
    response = await client.put(f"{TASKS}/{task['id']}", json=body)
    assert response.status_code == 422
    assert "give at least one of title" in response.json()["detail"]


QUERY_MISTAKES = [
    pytest.param("sort_by", "title", "`sort`", id="sort_by"),
    pytest.param("sortBy", "title", "`sort`", id="sortBy"),
    pytest.param("order_by", "title", "`sort`/`order`", id="order_by"),
    pytest.param("search", "milk", "`q`", id="search"),
    pytest.param("query", "milk", "`q`", id="query"),
    pytest.param("page_size", "10", "`limit`", id="page_size"),
    pytest.param("per_page", "10", "`limit`", id="per_page"),
    pytest.param("completed", "true", "`status`", id="completed"),
    pytest.param("priorty", "high", "`priority`", id="typo"),
]


@pytest.mark.parametrize(("name", "value", "meant"), QUERY_MISTAKES)
async def test_a_list_with_an_unknown_parameter_is_refused_naming_the_one_meant(
    client: httpx.AsyncClient, name: str, value: str, meant: str
) -> None:
    response = await client.get(TASKS, params={"status": "all", name: value})
    assert_unknown(response, "query", name, f"did you mean {meant}?")


async def test_a_cache_busting_parameter_is_accepted_and_ignored(
    client: httpx.AsyncClient,
) -> None:
    await client.post(TASKS, json={"title": "b"})
    await client.post(TASKS, json={"title": "a"})
    plain = await client.get(TASKS, params={"sort": "title"})
    busted = await client.get(TASKS, params={"sort": "title", "_": "1733480000000"})
    assert busted.status_code == 200
    assert [task["title"] for task in busted.json()] == ["a", "b"]
    assert busted.json() == plain.json()
    assert (await client.get(TASKS, params={"_": "123"})).status_code == 200


@pytest.mark.parametrize(
    ("name", "meant"),
    [("sinse", "`since`"), ("cursor", "`since`"), ("page_size", "`limit`"), ("limt", "`limit`")],
)
async def test_the_changes_feed_refuses_unknown_parameters_too(
    client: httpx.AsyncClient, name: str, meant: str
) -> None:
    response = await client.get(CHANGES, params={name: "5"})
    assert_unknown(response, "query", name, f"did you mean {meant}?")
    assert (await client.get(CHANGES, params={"_": "123", "limit": "5"})).status_code == 200


def test_every_alias_suggests_a_name_the_api_knows(app: FastAPI) -> None:
    """A renamed field or parameter must not leave an alias pointing at nothing."""
    schemas = app.openapi()["components"]["schemas"]
    fields = {
        name
        for model in ("TaskCreate", "TaskUpdate", "TaskCompletion")
        for name, rule in schemas[model]["properties"].items()
        if "read-only" not in rule.get("description", "")
    }
    parameters = {
        parameter["name"]
        for path in (TASKS, CHANGES)
        for parameter in app.openapi()["paths"][path.replace("alice", "{user_id}")]["get"][
            "parameters"
        ]
        if parameter["in"] == "query"
    }
    assert {target for targets in BODY_ALIASES.values() for target in targets} <= fields
    assert {target for targets in QUERY_ALIASES.values() for target in targets} <= parameters
