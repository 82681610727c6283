"""Overload sheds: a request that cannot get a turn in time is told to come back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.support import PathUserAuth
from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
async def busy_app(settings: Settings) -> AsyncIterator[FastAPI]:
    update = {"max_concurrent_requests": 1, "admission_timeout_seconds": 0.3}
    app = create_app(settings.model_copy(update=update))
    async with app.router.lifespan_context(app):
        yield app


async def test_a_request_that_waits_too_long_for_its_turn_gets_503(busy_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=busy_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", auth=PathUserAuth()
    ) as http:
        async with busy_app.state.admission:  # the only turn is taken (a long request)
            started = time.monotonic()
            shed = await http.get("/api/alice/tasks")
            waited = time.monotonic() - started
            health = await http.get("/health")  # probes never queue
        served = await http.get("/api/alice/tasks")

    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "1"
    assert shed.json()["detail"] == "The server is busy; retry shortly"
    assert 0.25 < waited < 1.0
    assert health.status_code == 200
    assert served.status_code == 200


async def test_requests_without_a_valid_token_never_wait_for_a_turn(busy_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=busy_app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        busy_app.state.admission,
    ):
        started = time.monotonic()
        refused = await http.get(
            "/api/alice/tasks", headers={"Authorization": "Bearer not-a-token"}
        )
        elapsed = time.monotonic() - started
    assert refused.status_code == 401
    assert elapsed < 0.2


async def test_every_way_a_request_ends_gives_its_turn_back(busy_app: FastAPI) -> None:
    """One turn in all (`busy_app`): had any of these requests kept it, the next one would
    wait out the admission timeout and be shed with 503."""
    transport = httpx.ASGITransport(app=busy_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", auth=PathUserAuth()
    ) as http:
        created = await http.post("/api/alice/tasks", json={"title": "one turn"})
        task = f"/api/alice/tasks/{created.json()['id']}"
        answers = [
            created,
            await http.get(task),
            await http.get("/api/alice/tasks/999999999"),  # the service's 404
            await http.put(task, json={"title": "x"}, headers={"If-Match": '"0"'}),  # 412
            await http.head("/api/alice/tasks"),  # a response without a body
            await http.delete(task),
        ]
        started = time.monotonic()
        last = await http.get("/api/alice/tasks")
        waited = time.monotonic() - started

    assert [answer.status_code for answer in answers] == [201, 200, 404, 412, 200, 204]
    assert last.status_code == 200
    assert waited < 0.25
