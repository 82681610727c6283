"""The OpenAPI contract says what the server enforces, and HTTP's own rules hold."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from todo_api.models.fields import NO_NUL_PATTERN, NOT_BLANK_PATTERN, Description, Title
from todo_api.models.task import READ_ONLY

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"


def schema_of(app: FastAPI, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = app.openapi()["components"]["schemas"][name]
    return schema


def test_title_and_description_patterns_agree_with_the_validators() -> None:
    """Every character up to U+3100 and every blank one: the schema's pattern accepts a
    one-character title exactly when the server does (and NUL never)."""
    from pydantic import TypeAdapter, ValidationError

    titles, descriptions = TypeAdapter(Title), TypeAdapter(Description)
    not_blank, no_nul = re.compile(NOT_BLANK_PATTERN), re.compile(NO_NUL_PATTERN)
    for code in [*range(0x3100), 0xFEFF, 0x205F, 0x2060]:
        char = chr(code)
        for adapter, pattern, value in (
            (titles, not_blank, f"{char}"),
            (titles, not_blank, f" {char} "),
            (descriptions, no_nul, f"x{char}"),
        ):
            try:
                adapter.validate_python(value)
                accepted = True
            except ValidationError:
                accepted = False
            assert accepted == bool(pattern.search(value)), repr(value)


def test_update_schema_allows_no_null_title_or_completed_and_no_empty_body(app: FastAPI) -> None:
    schema = schema_of(app, "TaskUpdate")
    assert schema["properties"]["title"]["type"] == "string"
    assert schema["properties"]["completed"]["type"] == "boolean"
    assert schema["properties"]["priority"]["enum"] == ["low", "medium", "high"]
    assert schema["properties"]["tags"]["type"] == "array"
    for nullable in ("description", "due_date", "recurrence"):
        assert {"type": "null"} in schema["properties"][nullable]["anyOf"]
    fields = [name for name in schema["properties"] if name not in READ_ONLY]
    assert schema["anyOf"] == [{"required": [name]} for name in fields]
    assert len(schema["anyOf"]) == 8
    assert schema["properties"]["reminders"]["type"] == "array"  # never null: [] clears


@pytest.mark.parametrize(
    ("name", "read_only"),
    [
        ("TaskCreate", [*READ_ONLY, "completed"]),
        ("TaskUpdate", READ_ONLY),
        ("TaskCompletion", []),
    ],
)
def test_bodies_refuse_unknown_fields_and_document_the_ignored_ones(
    app: FastAPI, name: str, read_only: list[str]
) -> None:
    """What the server enforces: any field but its own is refused, but the server's own
    fields of a task, which a frontend may send back, are accepted and ignored."""
    schema = schema_of(app, name)
    assert schema["additionalProperties"] is False
    ignored = {"description": "read-only: accepted and ignored, so a task read can be sent back"}
    documented = [field for field, rule in schema["properties"].items() if rule == ignored]
    assert sorted(documented) == sorted(read_only)


@pytest.mark.parametrize("body", [{}, {"completed": None}, {"title": None}, {"unknown": 1}])
async def test_updates_the_schema_refuses_are_refused(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    task = (await client.post(TASKS, json={"title": "keep"})).json()
    response = await client.put(f"{TASKS}/{task['id']}", json=body)
    assert response.status_code == 422
    assert (await client.get(f"{TASKS}/{task['id']}")).json() == task


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", TASKS, b'{"title": "x"}'),
        ("PUT", f"{TASKS}/1", b'{"title": "x"}'),
        ("PATCH", f"{TASKS}/1/complete", b'{"completed": true}'),
    ],
)
async def test_a_json_body_without_the_json_media_type_is_415(
    client: httpx.AsyncClient, content_type: str | None, method: str, path: str, body: bytes
) -> None:
    task = (await client.post(TASKS, json={"title": "keep"})).json()
    headers = {"content-type": content_type} if content_type else {}
    response = await client.request(method, path, content=body, headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert "application/json" in response.json()["detail"]
    assert (await client.get(TASKS)).json() == [task]


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
async def test_json_media_types_with_parameters_or_suffixes_are_accepted(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        TASKS, content=b'{"title": "x"}', headers={"content-type": content_type}
    )
    assert response.status_code == 201


async def test_toggle_without_a_body_needs_no_media_type(client: httpx.AsyncClient) -> None:
    task = (await client.post(TASKS, json={"title": "x"})).json()
    response = await client.patch(f"{TASKS}/{task['id']}/complete")
    assert response.status_code == 200
    assert response.json()["completed"] is True


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", TASKS, "GET, HEAD, POST"),
        ("DELETE", TASKS, "GET, HEAD, POST"),
        ("POST", f"{TASKS}/1", "DELETE, GET, HEAD, PUT"),
        ("GET", f"{TASKS}/1/complete", "PATCH"),
        ("POST", "/health", "GET, HEAD"),
    ],
)
async def test_405_allow_lists_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


async def test_head_runs_get_and_sends_no_body(client: httpx.AsyncClient) -> None:
    task = (await client.post(TASKS, json={"title": "x"})).json()
    for path in (TASKS, f"{TASKS}/{task['id']}"):
        got, head = await client.get(path), await client.head(path)
        assert head.status_code == got.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"]
    assert (await client.head(f"{TASKS}/{task['id'] + 1}")).status_code == 404


async def test_a_long_list_streams_nothing_on_head(client: httpx.AsyncClient) -> None:
    """More than one page: a streamed GET, whose body HEAD must drop chunk by chunk."""
    from todo_api.services.lists.pages import PAGE_SIZE

    async def create(n: int) -> None:
        assert (await client.post(TASKS, json={"title": f"t{n}"})).status_code == 201

    for start in range(0, PAGE_SIZE + 1, 100):
        await asyncio.gather(*(create(n) for n in range(start, min(start + 100, PAGE_SIZE + 1))))
    head = await client.head(TASKS)
    assert head.status_code == 200
    assert head.content == b""
    assert len((await client.get(TASKS)).json()) == PAGE_SIZE + 1


@pytest.mark.parametrize("path", [f"{TASKS}/", f"{TASKS}//"])
async def test_a_trailing_slash_is_the_same_resource(client: httpx.AsyncClient, path: str) -> None:
    await client.post(TASKS, json={"title": "x"})
    response = await client.get(path, headers={"host": "evil.example"})
    assert response.status_code == 200
    assert [task["title"] for task in response.json()] == ["x"]
