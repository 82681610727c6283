"""The published contract equals the app's, and the docs render with no internet access."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.support import ROOT
from todo_api.cli.openapi import openapi_json

pytestmark = pytest.mark.anyio

CONTRACT = ROOT / "specs" / "001-backend-task-api" / "contracts" / "openapi.json"


def test_exported_contract_matches_the_app() -> None:
    assert CONTRACT.read_text(encoding="utf-8") == openapi_json(), (
        "specs/ contract is stale: run `make openapi` and commit the result"
    )


def test_operations_have_stable_ids_and_problem_responses() -> None:
    document = json.loads(openapi_json())
    operations = {
        (path, method): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    ids = {key: operation["operationId"] for key, operation in operations.items()}
    assert ids == {
        ("/health", "get"): "health",
        ("/ready", "get"): "ready",
        ("/api/{user_id}/tasks", "get"): "listTasks",
        ("/api/{user_id}/tasks", "post"): "createTask",
        ("/api/{user_id}/tasks/changes", "get"): "listTaskChanges",
        ("/api/{user_id}/tasks/{task_id}", "get"): "getTask",
        ("/api/{user_id}/tasks/{task_id}", "put"): "updateTask",
        ("/api/{user_id}/tasks/{task_id}", "delete"): "deleteTask",
        ("/api/{user_id}/tasks/{task_id}/complete", "patch"): "toggleTaskCompletion",
        ("/api/{user_id}/tags", "get"): "listTags",
        ("/api/{user_id}/reminders", "get"): "listUpcomingReminders",
        ("/api/{user_id}/settings", "get"): "getUserSettings",
        ("/api/{user_id}/settings", "put"): "updateUserSettings",
        ("/api/{user_id}/events", "get"): "streamEvents",
        ("/api/{user_id}/events/tickets", "post"): "createStreamTicket",
        ("/api/{user_id}/chat", "post"): "chat",
        ("/api/{user_id}/conversations", "get"): "listConversations",
        ("/api/{user_id}/conversations/{conversation_id}", "delete"): "deleteConversation",
        ("/api/{user_id}/conversations/{conversation_id}/messages", "get"): (
            "listConversationMessages"
        ),
    }
    get_task = operations[("/api/{user_id}/tasks/{task_id}", "get")]["responses"]
    assert get_task["404"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert "HTTPValidationError" not in document["components"]["schemas"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_their_assets_from_the_app(
    client: httpx.AsyncClient, page: str
) -> None:
    html = (await client.get(page)).text
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from outside the app"
        response = await client.get(asset)
        assert response.status_code == 200
        assert len(response.content) > 1000
    assert "fonts.googleapis" not in html


async def test_openapi_json_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == json.loads(openapi_json())


def test_api_operations_declare_the_bearer_scheme() -> None:
    document = json.loads(openapi_json())
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "A JWT from the frontend's auth (Better Auth): `Authorization: Bearer <jwt>`."
        ),
    }
    for path, methods in document["paths"].items():
        for operation in methods.values():
            secured = operation.get("security") == [{"HTTPBearer": []}]
            assert secured == path.startswith("/api/"), path
            if secured:
                assert {"401", "403"} <= set(operation["responses"])
