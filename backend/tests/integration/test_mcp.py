"""The MCP server at `/mcp`, driven by the SDK's own client over real HTTP.

Every tool call is checked against what the REST API answers for the same task, and every
call is made as a token's user: no tool takes a user id, so none can reach another's tasks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import psycopg
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from tests.integration.test_list_query import cursor_key, sealed, unkeyed_v1
from tests.support import ROOT, bearer, serving, sign
from todo_api.cli.mcp_tools import mcp_tools_json
from todo_api.config import Settings
from todo_api.main import create_app
from todo_api.services.lists.cursors import b64decode
from todo_api.services.lists.query import TaskListQuery

pytestmark = pytest.mark.anyio

TOOLS = {"add_task", "list_tasks", "get_task", "update_task", "complete_task", "delete_task"}
# "legacy": the initialize handshake (protocol 2025-11-25); "auto": the 2026-07-28 protocol.
MODES = ["legacy", "auto"]
CONTRACT = ROOT / "specs" / "001-backend-task-api" / "contracts" / "mcp-tools.json"


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"admission_timeout_seconds": 0.5}))


@pytest.fixture
async def base(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as url:
        yield url


@pytest.fixture
async def rest(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base) as http:
        yield http


@asynccontextmanager
async def connect(base: str, user_id: str, mode: str = "legacy") -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=bearer(sign(user_id))) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    return result


async def ok(client: Client, tool: str, **arguments: Any) -> Any:
    """The structured result of a call that must succeed."""
    result = await call(client, tool, **arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def error(client: Client, tool: str, **arguments: Any) -> str:
    """The text of a call that must fail as a tool error (not a protocol error)."""
    result = await call(client, tool, **arguments)
    assert result.is_error, result.structured_content
    assert result.structured_content is None
    (content,) = result.content
    assert content.type == "text"
    return content.text


def text(result: CallToolResult) -> str:
    (content,) = result.content
    assert content.type == "text"
    return content.text


async def rest_get(rest: httpx.AsyncClient, user_id: str, task_id: int) -> httpx.Response:
    return await rest.get(f"/api/{user_id}/tasks/{task_id}", headers=bearer(sign(user_id)))


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_shows_the_six_tools_with_the_rest_field_rules(
    base: str, mode: str
) -> None:
    async with connect(base, "alice", mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        if mode == "legacy":
            assert client.server_info is not None
            assert client.server_info.name == "todo-api"

    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description, tool.name
        assert tool.output_schema, tool.name
        assert "user_id" not in tool.input_schema["properties"], tool.name
    add = tools["add_task"].input_schema
    assert add["required"] == ["title"]
    title = add["properties"]["title"]
    assert (title["type"], title["minLength"], title["maxLength"]) == ("string", 1, 200)
    assert add["properties"]["priority"]["enum"] == ["low", "medium", "high"]
    assert add["properties"]["tags"]["maxItems"] == 20
    assert add["properties"]["due_date"]["anyOf"][0]["anyOf"][1]["format"] == "date-time"
    listing = tools["list_tasks"].input_schema["properties"]
    assert {"status", "priority", "tag", "search", "sort", "limit"} <= set(listing)
    assert listing["status"]["enum"] == ["all", "pending", "completed"]
    assert (listing["limit"]["minimum"], listing["limit"]["maximum"]) == (1, 1000)
    update = tools["update_task"].input_schema
    assert update["required"] == ["task_id"]
    # Left out keeps the value; these can never be null (as in PUT).
    assert update["properties"]["title"]["type"] == "string"
    assert update["properties"]["completed"]["type"] == "boolean"
    assert {"type": "null"} in update["properties"]["description"]["anyOf"]
    assert tools["get_task"].input_schema["properties"]["task_id"]["maximum"] == 2**63 - 1
    assert tools["list_tasks"].annotations is not None
    assert tools["list_tasks"].annotations.read_only_hint is True
    assert tools["delete_task"].annotations is not None
    assert tools["delete_task"].annotations.destructive_hint is True
    assert tools["get_task"].output_schema is not None
    assert "user_id" in tools["get_task"].output_schema["properties"]  # the REST task shape


@pytest.mark.parametrize("mode", MODES)
async def test_each_tool_works_and_answers_what_rest_answers(
    base: str, rest: httpx.AsyncClient, mode: str
) -> None:
    async with connect(base, "alice", mode) as client:
        added = await call(
            client,
            "add_task",
            title="Pay rent",
            description="Before the 5th",
            priority="high",
            due_date="2026-12-01",
            tags=["home", "HOME", " money "],
        )
        task = added.structured_content
        assert task is not None
        task_id = task["id"]
        assert (await rest_get(rest, "alice", task_id)).json() == task
        assert task["tags"] == ["home", "money"]
        assert f"#{task_id} Pay rent" in text(added)
        assert "priority high" in text(added)

        assert await ok(client, "get_task", task_id=task_id) == task
        other = await ok(client, "add_task", title="Water the plants")
        assert other["priority"] == "medium"
        assert other["tags"] == []
        assert other["description"] is None

        # Filters, as REST's query parameters.
        page = await ok(client, "list_tasks", priority=["high"], tag=["money"], search="rent")
        assert page == {"tasks": [task], "next_cursor": None}
        listed = await rest.get("/api/alice/tasks", headers=bearer(sign("alice")))
        assert (await ok(client, "list_tasks"))["tasks"] == listed.json()
        first = await ok(client, "list_tasks", sort="title", limit=1)
        assert [t["title"] for t in first["tasks"]] == ["Pay rent"]
        assert first["next_cursor"] is not None
        second = await ok(client, "list_tasks", sort="title", limit=1, cursor=first["next_cursor"])
        assert second == {"tasks": [other], "next_cursor": None}
        empty = await call(client, "list_tasks", status="completed")
        assert empty.structured_content == {"tasks": [], "next_cursor": None}
        assert text(empty) == "No tasks match."

        # update_task changes exactly the arguments sent; null clears.
        updated = await ok(client, "update_task", task_id=task_id, description=None)
        assert updated["description"] is None
        assert updated["title"] == "Pay rent"
        assert updated["priority"] == "high"
        assert updated["tags"] == ["home", "money"]
        assert (await rest_get(rest, "alice", task_id)).json() == updated
        renamed = await ok(client, "update_task", task_id=task_id, title="Pay the rent", tags=[])
        assert (renamed["title"], renamed["tags"], renamed["due_date"]) == (
            "Pay the rent",
            [],
            "2026-12-01",
        )

        # complete_task toggles without a value, sets with one.
        assert (await ok(client, "complete_task", task_id=task_id))["completed"] is True
        assert (await ok(client, "complete_task", task_id=task_id))["completed"] is False
        done = await ok(client, "complete_task", task_id=task_id, completed=True)
        again = await ok(client, "complete_task", task_id=task_id, completed=True)
        assert done["completed"] is again["completed"] is True
        assert (await rest_get(rest, "alice", task_id)).json() == again

        deleted = await call(client, "delete_task", task_id=task_id)
        assert deleted.structured_content == {"id": task_id, "deleted": True}
        gone = await error(client, "get_task", task_id=task_id)
        response = await rest_get(rest, "alice", task_id)
        assert response.status_code == 404
        assert gone == response.json()["detail"] == f"Task {task_id} not found"
        assert await error(client, "delete_task", task_id=task_id) == gone


async def test_completing_a_recurring_task_adds_its_next_occurrence_once(
    base: str, rest: httpx.AsyncClient
) -> None:
    async with connect(base, "alice") as client:
        task = await ok(
            client, "add_task", title="Water the plants", due_date="2026-12-01", recurrence="weekly"
        )
        completed = await call(client, "complete_task", task_id=task["id"])
        await ok(client, "complete_task", task_id=task["id"], completed=False)
        await ok(client, "complete_task", task_id=task["id"], completed=True)
        listed = await ok(client, "list_tasks", status="pending")

    (following,) = listed["tasks"]
    assert following["due_date"] == "2026-12-08"
    assert following["recurrence"] == "weekly"
    assert f"next occurrence: task #{following['id']}" in text(completed)
    response = await rest.get("/api/alice/tasks", headers=bearer(sign("alice")))
    assert len(response.json()) == 2


async def test_a_rule_that_never_recurs_is_refused_by_add_task_and_update_task(base: str) -> None:
    never = "FREQ=WEEKLY;BYSETPOS=8,8"  # a week holds seven days
    refused = "recurrence FREQ=WEEKLY;BYSETPOS=8 has no occurrence after the due_date 2026-12-01"
    async with connect(base, "alice") as client:
        added = await error(
            client, "add_task", title="Gym", due_date="2026-12-01", recurrence=never
        )
        task = await ok(client, "add_task", title="Gym", due_date="2026-12-01")
        updated = await error(client, "update_task", task_id=task["id"], recurrence=never)
        assert (await ok(client, "get_task", task_id=task["id"]))["recurrence"] is None
    assert added == updated == f"{refused} within 10 years"


async def test_bad_arguments_are_tool_errors_with_the_rest_detail(
    base: str, rest: httpx.AsyncClient
) -> None:
    bodies: list[dict[str, Any]] = [
        {"title": ""},
        {"title": "x" * 201},
        {"title": "   "},
        {"title": "a\x00b"},
        {"title": "Call", "priority": "urgent"},
        {"title": "Call", "due_date": "2026-12-01T17:00:00"},
        {"title": "Call", "tags": ["ok", "bad\x07tag"]},
        {"title": "Call", "recurrence": "FREQ=SECONDLY"},
        {"title": 42},
    ]
    async with connect(base, "alice") as client:
        for body in bodies:
            detail = await error(client, "add_task", **body)
            response = await rest.post("/api/alice/tasks", json=body, headers=bearer(sign("alice")))
            assert response.status_code == 422, body
            assert detail == response.json()["detail"], body
            assert detail.split(":")[0] in body, detail  # names the argument

        # Rules across arguments, and the rules of PUT.
        assert await error(client, "add_task", title="Gym", recurrence="daily") == (
            "a recurring task needs a due_date"
        )
        task = await ok(client, "add_task", title="Gym")
        assert await error(client, "update_task", task_id=task["id"], title=None) == (
            "title cannot be null"
        )
        nothing = await error(client, "update_task", task_id=task["id"])
        assert nothing.startswith("give at least one of title, description")
        for bad_id in (0, -1, 2**63, "seven"):
            assert (await error(client, "get_task", task_id=bad_id)).startswith("task_id: ")
        assert (await error(client, "list_tasks", limit=0)).startswith("limit: ")
        assert (await error(client, "list_tasks", status="done")).startswith("status: ")
        assert (await error(client, "list_tasks", cursor="garbage")).startswith(
            "cursor is not valid for this list"
        )
        unknown = await call(client, "drop_database")
        assert unknown.is_error
        assert "drop_database" in text(unknown)
        # The task is as it was.
        assert (await ok(client, "get_task", task_id=task["id"]))["title"] == "Gym"


async def test_a_token_reaches_only_its_own_users_tasks_through_every_tool(
    base: str, clean_database: psycopg.Connection
) -> None:
    async with connect(base, "alice") as alice, connect(base, "bob") as bob:
        mine = await ok(alice, "add_task", title="Alice's secret", tags=["private"])
        page = await ok(alice, "list_tasks", limit=1)
        await ok(alice, "add_task", title="Alice's second")
        cursor = (await ok(alice, "list_tasks", limit=1))["next_cursor"]
        task_id = mine["id"]

        not_found = f"Task {task_id} not found"
        assert await error(bob, "get_task", task_id=task_id) == not_found
        assert await error(bob, "update_task", task_id=task_id, title="Mine") == not_found
        assert await error(bob, "complete_task", task_id=task_id) == not_found
        assert await error(bob, "delete_task", task_id=task_id) == not_found
        assert await ok(bob, "list_tasks") == {"tasks": [], "next_cursor": None}
        assert (await ok(bob, "list_tasks", search="secret", tag=["private"]))["tasks"] == []
        assert (await error(bob, "list_tasks", limit=1, cursor=cursor)).startswith("cursor")
        # An argument the schema does not have cannot choose the user.
        theirs = await ok(bob, "add_task", title="Bob's", user_id="alice")
        assert theirs["user_id"] == "bob"

        assert await ok(alice, "get_task", task_id=task_id) == mine
        assert page["tasks"][0]["user_id"] == "alice"
    rows = clean_database.execute("SELECT user_id, count(*) FROM tasks GROUP BY 1 ORDER BY 1")
    assert rows.fetchall() == [("alice", 2), ("bob", 1)]


def _tools_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


@pytest.mark.parametrize(
    ("token", "challenge"),
    [
        (None, "Bearer"),
        ("not-a-jwt", 'Bearer error="invalid_token", error_description="Token is not a JWT'),
        (
            sign("alice", exp=1),
            'Bearer error="invalid_token", error_description="Token has expired"',
        ),
        (sign("alice", secret="x" * 48), 'Bearer error="invalid_token"'),
    ],
)
async def test_without_a_valid_token_no_tool_runs(
    rest: httpx.AsyncClient,
    clean_database: psycopg.Connection,
    token: str | None,
    challenge: str,
) -> None:
    headers = {**MCP_HEADERS, **(bearer(token) if token else {})}
    response = await rest.post(
        "/mcp", json=_tools_call("add_task", {"title": "Injected"}), headers=headers
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith(challenge)
    count = clean_database.execute("SELECT count(*) FROM tasks").fetchone()
    assert count == (0,)


async def test_one_plain_post_is_a_whole_exchange_on_any_worker(
    rest: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    """Stateless: no initialize, no session id; the answer is plain JSON."""
    headers = {**MCP_HEADERS, **bearer(sign("alice"))}
    response = await rest.post(
        "/mcp", json=_tools_call("add_task", {"title": "Stateless"}), headers=headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in response.headers
    result = response.json()["result"]
    assert result["structuredContent"]["title"] == "Stateless"
    assert result["isError"] is False
    # Nothing to stream and no session to end.
    for method in ("GET", "DELETE"):
        refused = await rest.request(method, "/mcp", headers=headers)
        assert refused.status_code == 405
        assert refused.headers["allow"] == "POST"


async def test_the_rest_limits_hold_for_mcp_too(
    app: FastAPI, rest: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    headers = {**MCP_HEADERS, **bearer(sign("alice"))}
    huge = _tools_call("add_task", {"title": "x", "description": "y" * 200_000})
    response = await rest.post("/mcp", content=json.dumps(huge), headers=headers)
    assert response.status_code == 413

    # Every admission turn taken: the call waits its admission timeout, then is told so.
    admission = app.state.admission
    held = [admission.__aenter__() for _ in range(app.state.settings.max_concurrent_requests)]
    await asyncio.gather(*held)
    try:
        busy = await rest.post(
            "/mcp", json=_tools_call("add_task", {"title": "Later"}), headers=headers
        )
    finally:
        for _ in held:
            await admission.__aexit__(None, None, None)
    result = busy.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "The server is busy; retry shortly"
    assert clean_database.execute("SELECT count(*) FROM tasks").fetchone() == (0,)


async def test_the_rest_api_contract_does_not_mention_mcp(rest: httpx.AsyncClient) -> None:
    paths = (await rest.get("/openapi.json")).json()["paths"]
    assert paths
    assert not [path for path in paths if path.startswith("/mcp")]


def test_the_committed_tool_contract_is_what_the_server_lists() -> None:
    assert CONTRACT.read_text(encoding="utf-8") == mcp_tools_json(), (
        "specs/.../mcp-tools.json is stale: run `make openapi`"
    )


async def test_tools_list_over_http_is_the_committed_contract(base: str) -> None:
    async with connect(base, "alice") as client:
        listed = (await client.list_tools()).tools
    served = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed]
    assert served == json.loads(CONTRACT.read_text(encoding="utf-8"))["tools"]


async def test_a_lone_surrogate_in_add_task_is_a_parse_error_and_adds_nothing(
    rest: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    headers = {**MCP_HEADERS, **bearer(sign("alice"))}
    # Raw bytes: JSON escapes the lone surrogate, which no client library would encode.
    for arguments in ('{"title": "a", "tags": ["\\ud800"]}', '{"title": "a\\udfff"}'):
        body = f'{{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {{"name": "add_task", "arguments": {arguments}}}}}'  # noqa: E501
        response = await rest.post("/mcp", content=body.encode(), headers=headers)
        # The MCP transport parses JSON strictly: a parse error (400), never a 500.
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == -32700
    assert clean_database.execute("SELECT count(*) FROM tasks").fetchone() == (0,)


async def test_list_tasks_refuses_cursors_the_server_did_not_issue(
    base: str, admin_connection: psycopg.Connection
) -> None:
    query = TaskListQuery(sort="title", limit=1)
    key = cursor_key(admin_connection)
    cursors = [
        unkeyed_v1(query, "alice", [1, "a\u0000b", 1]),  # old format: anyone could make it
        unkeyed_v1(query, "alice", [1, "a", 2**63]),
        sealed(key, "alice", query, [2, "a\u0000b", 1]),  # the key itself cannot make these
        sealed(key, "alice", query, [2, "a", 2**63]),
        sealed(key, "alice", query, [2, 7, 1]),
        sealed(key, "bob", query, [2, "a", 1]),  # another user's
    ]
    async with connect(base, "alice") as client:
        await ok(client, "add_task", title="HIV test results - call Dr. Smith")
        await ok(client, "add_task", title="zzz")
        page = await ok(client, "list_tasks", sort="title", limit=1)
        assert "Smith" not in page["next_cursor"]
        assert b"Smith" not in b64decode(page["next_cursor"])
        for cursor in cursors:
            detail = await error(client, "list_tasks", sort="title", limit=1, cursor=cursor)
            assert detail.startswith("cursor is not valid for this list"), cursor
        rest = await ok(client, "list_tasks", sort="title", limit=1, cursor=page["next_cursor"])
        assert [task["title"] for task in rest["tasks"]] == ["zzz"]
