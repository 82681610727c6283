"""What the API acknowledged is in the database, for a brand-new app and engine too."""

from __future__ import annotations

import httpx
import pytest

from tests.support import PathUserAuth
from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


async def _client_for(settings: Settings):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    return app, httpx.AsyncClient(transport=transport, base_url="http://test", auth=PathUserAuth())


async def test_tasks_survive_a_new_app_and_engine(settings: Settings) -> None:
    first_app, first = await _client_for(settings)
    async with first_app.router.lifespan_context(first_app), first:
        created = (await first.post("/api/alice/tasks", json={"title": "durable"})).json()
        await first.patch(f"/api/alice/tasks/{created['id']}/complete")
        gone = (await first.post("/api/alice/tasks", json={"title": "gone"})).json()
        await first.delete(f"/api/alice/tasks/{gone['id']}")

    second_app, second = await _client_for(settings)
    async with second_app.router.lifespan_context(second_app), second:
        tasks = (await second.get("/api/alice/tasks")).json()

    assert [(task["id"], task["title"], task["completed"]) for task in tasks] == [
        (created["id"], "durable", True)
    ]
