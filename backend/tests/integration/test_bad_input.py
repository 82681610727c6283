"""Bad input gets a clear 4xx problem with a string detail, never a 500, and loses nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support import bearer, sign

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"


async def existing_task(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(TASKS, json={"title": "keep", "description": "intact"})
    assert response.status_code == 201
    task: dict[str, Any] = response.json()
    return task


def assert_problem(response: httpx.Response, status: int, *detail_parts: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert isinstance(problem["detail"], str)
    assert problem["detail"]
    for part in detail_parts:
        assert part in problem["detail"]
    return problem


BAD_TASK_BODIES = [
    pytest.param({}, "title: Field required", id="missing-title"),
    pytest.param({"title": ""}, "title: String should have at least 1 character", id="empty"),
    pytest.param({"title": "   \t"}, "title: must not be blank", id="blank"),
    pytest.param({"title": "\f"}, "title: must not be blank", id="form-feed"),
    pytest.param({"title": "\u200b\u180e\ufeff"}, "must not be blank", id="zero-width"),
    pytest.param({"title": "x" * 201}, "at most 200 characters", id="title-201"),
    pytest.param({"title": "a\x00b"}, "must not contain NUL", id="nul-title"),
    pytest.param({"title": "ok", "description": "d\x00"}, "must not contain NUL", id="nul-desc"),
    pytest.param({"title": "ok", "description": "x" * 1001}, "at most 1000", id="desc-1001"),
    pytest.param({"title": 123}, "title: Input should be a valid string", id="title-int"),
    pytest.param({"title": ["a"]}, "valid string", id="title-list"),
    pytest.param({"title": None}, "valid string", id="title-null"),
    pytest.param({"title": "ok", "description": 5}, "valid string", id="desc-int"),
    pytest.param([{"title": "a"}], "valid dictionary", id="array-body"),
    pytest.param("title", "valid dictionary", id="string-body"),
]


@pytest.mark.parametrize(("body", "detail"), BAD_TASK_BODIES)
async def test_create_refuses_bad_bodies(
    client: httpx.AsyncClient, body: object, detail: str
) -> None:
    problem = assert_problem(await client.post(TASKS, json=body), 422, detail)
    assert problem["errors"]
    assert {"loc", "msg", "type"} <= set(problem["errors"][0])
    assert (await client.get(TASKS)).json() == []


async def test_create_accepts_the_limits_exactly(client: httpx.AsyncClient) -> None:
    body = {"title": "é" * 200, "description": "ü" * 1000}
    response = await client.post(TASKS, json=body)
    assert response.status_code == 201
    assert response.json()["title"] == body["title"]
    assert response.json()["description"] == body["description"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param({}, "give at least one of", id="empty"),
        pytest.param({"colour": "red"}, "colour: unknown field", id="unknown-only"),
        pytest.param({"title": None}, "title cannot be null", id="null-title"),
        pytest.param({"completed": None}, "completed cannot be null", id="null-completed"),
        pytest.param({"completed": "yes"}, "valid boolean", id="string-completed"),
        pytest.param({"completed": 1}, "valid boolean", id="int-completed"),
        pytest.param({"title": "x" * 201}, "at most 200", id="long-title"),
        pytest.param({"title": " "}, "blank", id="blank-title"),
        pytest.param({"description": "\x00"}, "NUL", id="nul-description"),
    ],
)
async def test_update_refuses_bad_bodies_and_keeps_the_task(
    client: httpx.AsyncClient, body: object, detail: str
) -> None:
    task = await existing_task(client)
    assert_problem(await client.put(f"{TASKS}/{task['id']}", json=body), 422, detail)
    assert (await client.get(f"{TASKS}/{task['id']}")).json() == task


@pytest.mark.parametrize(
    "body",
    [{"completed": "true"}, {"completed": 0}, [True], "x"],
)
async def test_complete_refuses_bad_bodies(client: httpx.AsyncClient, body: object) -> None:
    task = await existing_task(client)
    assert_problem(await client.patch(f"{TASKS}/{task['id']}/complete", json=body), 422)
    assert (await client.get(f"{TASKS}/{task['id']}")).json() == task


@pytest.mark.parametrize(
    ("method", "url"),
    [("POST", TASKS), ("PUT", f"{TASKS}/1"), ("PATCH", f"{TASKS}/1/complete")],
)
@pytest.mark.parametrize("raw", [b"{", b'{"title": "x",}', b"\xff\xfe", b"nul\x00"])
async def test_malformed_json_is_a_400(
    client: httpx.AsyncClient, method: str, url: str, raw: bytes
) -> None:
    await existing_task(client)
    response = await client.request(
        method, url, content=raw, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "not valid JSON")


@pytest.mark.parametrize(("method", "url"), [("POST", TASKS), ("PUT", f"{TASKS}/1")])
async def test_missing_body_is_a_422(client: httpx.AsyncClient, method: str, url: str) -> None:
    await existing_task(client)
    assert_problem(await client.request(method, url), 422, "Field required")


async def test_oversized_body_is_a_413_by_length_or_by_stream(client: httpx.AsyncClient) -> None:
    huge = b'{"title": "' + b"x" * 70_000 + b'"}'
    declared = await client.post(TASKS, content=huge, headers={"content-type": "application/json"})
    assert_problem(declared, 413, "larger than")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: limited while streaming
        for start in range(0, len(huge), 8192):
            yield huge[start : start + 8192]

    streamed = await client.post(
        TASKS, content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "larger than")
    assert (await client.get(TASKS)).json() == []


@pytest.mark.parametrize(
    "task_id",
    ["abc", "1.5", "1.0", "+5", "%205", "0", "-1", "9223372036854775808", "99999999999999999999"],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_task_ids_outside_bigint_or_not_integers_are_422(
    client: httpx.AsyncClient, task_id: str, method: str
) -> None:
    body = {"title": "x"} if method == "PUT" else None
    response = await client.request(method, f"{TASKS}/{task_id}", json=body)
    assert_problem(response, 422, "task_id")


async def test_largest_bigint_task_id_is_a_plain_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"{TASKS}/9223372036854775807"), 404)


@pytest.mark.parametrize(
    "user_path",
    ["%00", "a%00b", "tab%09id", "x" * 256, "%7F", "new%0Aline"],
)
async def test_bad_user_ids_are_422(client: httpx.AsyncClient, user_path: str) -> None:
    # Such a user can hold no token (its subject would be refused), so call with a valid one.
    headers = bearer(sign("alice"))
    for response in (
        await client.get(f"/api/{user_path}/tasks", headers=headers),
        await client.post(f"/api/{user_path}/tasks", json={"title": "x"}, headers=headers),
    ):
        assert_problem(response, 422, "user_id")


@pytest.mark.parametrize("user_path", ["", "a%2Fb", "a/b"])
async def test_user_ids_that_are_empty_or_hold_a_slash_match_no_route(
    client: httpx.AsyncClient, user_path: str
) -> None:
    response = await client.post(f"/api/{user_path}/tasks", json={"title": "x"})
    assert_problem(response, 404)


async def test_longest_user_id_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/api/{'u' * 255}/tasks", json={"title": "x"})
    assert response.status_code == 201


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{TASKS}/1")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]
