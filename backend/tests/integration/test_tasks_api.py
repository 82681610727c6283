"""The six task operations, their success paths and their not-found answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest

from tests.events_support import seed
from todo_api.models import TaskRead

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"


async def create(
    client: httpx.AsyncClient, title: str = "Buy milk", **extra: object
) -> dict[str, Any]:
    response = await client.post(TASKS, json={"title": title, **extra})
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def test_create_returns_201_with_task_and_location(client: httpx.AsyncClient) -> None:
    response = await client.post(TASKS, json={"title": "Buy milk", "description": "2 litres"})

    assert response.status_code == 201
    task = TaskRead.model_validate(response.json())
    assert task.title == "Buy milk"
    assert task.description == "2 litres"
    assert task.completed is False
    assert task.user_id == "alice"
    assert task.created_at == task.updated_at
    offset = task.created_at.utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 0
    assert response.json()["created_at"].endswith("Z")
    assert response.headers["location"] == f"{TASKS}/{task.id}"
    assert (await client.get(response.headers["location"])).json() == response.json()


async def test_create_ignores_server_owned_fields(client: httpx.AsyncClient) -> None:
    body = {
        "title": "Plan trip",
        "id": 999,
        "user_id": "mallory",
        "completed": True,
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": None,
    }
    task = (await client.post(TASKS, json=body)).json()

    assert task["id"] != 999
    assert task["user_id"] == "alice"
    assert task["completed"] is False
    assert not task["created_at"].startswith("2000")


async def test_list_is_a_bare_array_newest_first(client: httpx.AsyncClient) -> None:
    assert (await client.get(TASKS)).json() == []
    first = await create(client, "first")
    second = await create(client, "second")
    third = await create(client, "third")

    response = await client.get(TASKS)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert [task["id"] for task in response.json()] == [third["id"], second["id"], first["id"]]
    for task in response.json():
        TaskRead.model_validate(task)


async def test_list_returns_every_task_without_a_cap(client: httpx.AsyncClient) -> None:
    for number in range(120):
        await create(client, f"task {number}")

    tasks = (await client.get(TASKS)).json()

    assert len(tasks) == 120
    assert [task["title"] for task in tasks][:2] == ["task 119", "task 118"]


async def test_get_one(client: httpx.AsyncClient) -> None:
    task = await create(client)
    response = await client.get(f"{TASKS}/{task['id']}")
    assert response.status_code == 200
    assert response.json() == task


async def test_put_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    task = await create(client, "old", description="keep me")

    response = await client.put(f"{TASKS}/{task['id']}", json={"title": "new"})

    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "new"
    assert updated["description"] == "keep me"
    assert updated["completed"] is False
    assert updated["created_at"] == task["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        task["updated_at"]
    )


async def test_put_null_description_clears_it(client: httpx.AsyncClient) -> None:
    task = await create(client, description="temporary")
    updated = (await client.put(f"{TASKS}/{task['id']}", json={"description": None})).json()
    assert updated["description"] is None
    assert updated["title"] == task["title"]


async def test_put_sets_completed_and_every_change_moves_updated_at(
    client: httpx.AsyncClient,
) -> None:
    task = await create(client)
    stamps = [task["updated_at"]]
    for body in ({"completed": True}, {"completed": True}, {"title": "x", "completed": False}):
        updated = (await client.put(f"{TASKS}/{task['id']}", json=body)).json()
        assert updated["completed"] is body["completed"]
        stamps.append(updated["updated_at"])
    parsed = [datetime.fromisoformat(stamp) for stamp in stamps]
    assert parsed == sorted(parsed)
    assert len(set(parsed)) == len(parsed)


@pytest.mark.parametrize(
    ("content", "json_body"),
    [(None, None), (b"", None), (None, {}), (None, {"completed": None})],
)
async def test_patch_complete_toggles_without_a_meaningful_body(
    client: httpx.AsyncClient, content: bytes | None, json_body: object
) -> None:
    task = await create(client)
    url = f"{TASKS}/{task['id']}/complete"

    first = await client.patch(url, content=content, json=json_body)
    second = await client.patch(url, content=content, json=json_body)

    assert first.status_code == 200, first.text
    assert first.json()["completed"] is True
    assert second.json()["completed"] is False
    assert datetime.fromisoformat(second.json()["updated_at"]) > datetime.fromisoformat(
        first.json()["updated_at"]
    )


@pytest.mark.parametrize("value", [True, False])
async def test_patch_complete_with_a_value_sets_it(client: httpx.AsyncClient, value: bool) -> None:
    task = await create(client)
    url = f"{TASKS}/{task['id']}/complete"
    for _ in range(2):
        response = await client.patch(url, json={"completed": value})
        assert response.status_code == 200
        assert response.json()["completed"] is value


async def test_delete_answers_204_then_404(client: httpx.AsyncClient) -> None:
    task = await create(client)
    url = f"{TASKS}/{task['id']}"

    first = await client.delete(url)
    second = await client.delete(url)

    assert first.status_code == 204
    assert first.content == b""
    assert second.status_code == 404
    assert (await client.get(url)).status_code == 404
    assert (await client.get(TASKS)).json() == []


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "", {"title": "x"}),
        ("DELETE", "", None),
        ("PATCH", "/complete", None),
    ],
)
async def test_unknown_task_is_a_404_problem(
    client: httpx.AsyncClient, method: str, suffix: str, body: object
) -> None:
    response = await client.request(method, f"{TASKS}/123456{suffix}", json=body)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Task 123456 not found",
        "request_id": response.headers["x-request-id"],
    }


async def test_user_ids_with_unusual_characters_round_trip(client: httpx.AsyncClient) -> None:
    user = "user with spaces?#&é"
    path = "/api/user%20with%20spaces%3F%23%26%C3%A9/tasks"
    response = await client.post(path, json={"title": "hello"})

    assert response.status_code == 201
    assert response.json()["user_id"] == user
    assert response.headers["location"].startswith(path + "/")
    assert (await client.get(response.headers["location"])).status_code == 200


async def test_long_lists_stream_every_task_once_newest_first(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    clean_database.execute("INSERT INTO users (id) VALUES ('alice'), ('bob')")
    # 2,500 tasks (more than two pages), many sharing a created_at to exercise the id tiebreak.
    seed(
        clean_database,
        "INSERT INTO tasks (user_id, title, created_at) "
        "SELECT 'alice', 'task ' || n, timestamptz '2026-01-01' + (n / 7) * interval '1 second' "
        "FROM generate_series(1, 2500) AS n",
    )
    clean_database.execute("INSERT INTO tasks (user_id, title) VALUES ('bob', 'not alice''s')")

    response = await client.get(TASKS)

    assert response.status_code == 200
    assert "content-length" not in response.headers  # streamed page by page
    tasks = response.json()
    assert len(tasks) == 2500
    assert {task["user_id"] for task in tasks} == {"alice"}
    keys = [(task["created_at"], task["id"]) for task in tasks]
    assert keys == sorted(keys, reverse=True)
    assert len({task["id"] for task in tasks}) == 2500
    TaskRead.model_validate(tasks[0])
    TaskRead.model_validate(tasks[-1])


async def test_a_list_of_exactly_one_page_is_not_streamed(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    clean_database.execute("INSERT INTO users (id) VALUES ('alice')")
    clean_database.execute(
        "INSERT INTO tasks (user_id, title) "
        "SELECT 'alice', 't' || n FROM generate_series(1, 1000) AS n"
    )
    response = await client.get(TASKS)
    assert len(response.json()) == 1000
    assert "content-length" in response.headers


async def test_every_task_response_has_exactly_the_documented_shape(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(TASKS, json={"title": "shape", "description": None})
    url = f"{TASKS}/{created.json()['id']}"
    responses = [
        created,
        await client.get(url),
        await client.put(url, json={"title": "shape 2"}),
        await client.patch(f"{url}/complete"),
    ]
    bodies = [response.json() for response in responses] + (await client.get(TASKS)).json()
    for body in bodies:
        assert set(body) == set(TaskRead.model_fields)
        task = TaskRead.model_validate(body, strict=False)
        assert task.created_at.tzinfo is not None
