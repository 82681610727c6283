"""Browsers on the configured frontend origin may call the API; others get no CORS grant."""

from __future__ import annotations

import httpx
import pytest

from tests.support import bearer, sign
from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio

FRONTEND = "http://localhost:3000"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


async def test_preflight_from_the_frontend_is_allowed(
    anonymous_client: httpx.AsyncClient,
) -> None:
    response = await anonymous_client.options("/api/alice/tasks", headers=preflight(FRONTEND))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "PATCH" in response.headers["access-control-allow-methods"]


async def test_preflight_from_another_origin_gets_no_grant(
    anonymous_client: httpx.AsyncClient,
) -> None:
    response = await anonymous_client.options(
        "/api/alice/tasks", headers=preflight("http://evil.test")
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers

    actual = await anonymous_client.get(
        "/api/alice/tasks", headers={"Origin": "http://evil.test", **bearer(sign("alice"))}
    )
    assert "access-control-allow-origin" not in actual.headers


async def test_responses_expose_location_and_errors_carry_cors_headers(
    anonymous_client: httpx.AsyncClient,
) -> None:
    created = await anonymous_client.post(
        "/api/alice/tasks",
        json={"title": "x"},
        headers={"Origin": FRONTEND, **bearer(sign("alice"))},
    )
    assert created.headers["access-control-allow-origin"] == FRONTEND
    assert "location" in created.headers["access-control-expose-headers"].lower()

    # A 401 must be readable by the browser app too, or it cannot tell the user to sign in.
    refused = await anonymous_client.get("/api/alice/tasks", headers={"Origin": FRONTEND})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == FRONTEND


async def test_wildcard_origin_never_allows_credentials(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["*"]}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.options("/api/alice/tasks", headers=preflight(FRONTEND))
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_preflights_allow_the_conditional_and_idempotency_headers(
    anonymous_client: httpx.AsyncClient,
) -> None:
    headers = {
        "Origin": FRONTEND,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": (
            "authorization,content-type,if-match,if-none-match,idempotency-key,"
            "x-requested-with,x-request-id"
        ),
    }
    response = await anonymous_client.options("/api/alice/tasks/1", headers=headers)
    assert response.status_code == 200
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("if-match", "if-none-match", "idempotency-key", "x-requested-with"):
        assert header in allowed


async def test_browser_code_may_read_etag_location_and_link(
    anonymous_client: httpx.AsyncClient,
) -> None:
    response = await anonymous_client.post(
        "/api/alice/tasks",
        json={"title": "x"},
        headers={"Origin": FRONTEND, "Idempotency-Key": "k", **bearer(sign("alice"))},
    )
    exposed = {
        name.strip().lower()
        for name in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "location", "link", "idempotent-replayed", "x-request-id"} <= exposed


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:3000"])
async def test_a_next_js_dev_server_under_either_name_is_allowed_by_default(
    anonymous_client: httpx.AsyncClient, origin: str
) -> None:
    response = await anonymous_client.options("/api/alice/tasks", headers=preflight(origin))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


async def test_a_browser_based_agent_may_call_mcp(anonymous_client: httpx.AsyncClient) -> None:
    headers = {
        "Origin": FRONTEND,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,mcp-protocol-version",
    }
    response = await anonymous_client.options("/mcp", headers=headers)
    assert response.status_code == 200
    assert "mcp-protocol-version" in response.headers["access-control-allow-headers"].lower()


async def test_a_fetch_based_live_stream_may_resume_with_last_event_id(
    anonymous_client: httpx.AsyncClient,
) -> None:
    # fetch() sends `Last-Event-ID` as an ordinary header, which needs the preflight's grant
    # (unlike EventSource's own); without it a cross-origin client could not resume.
    headers = {
        "Origin": FRONTEND,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,last-event-id",
    }
    response = await anonymous_client.options("/api/alice/events", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert "last-event-id" in response.headers["access-control-allow-headers"].lower()
