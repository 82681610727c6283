"""Probes, and how the API behaves while the database is away."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from tests.support import PathUserAuth, alembic_config, make_settings
from todo_api.database.embedded import start_embedded_server, stop_embedded_server
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json() == {"status": "ready"}


async def test_unreachable_database_is_a_fast_503() -> None:
    # Nothing listens on port 9 (discard) here: connections are refused at once.
    settings = make_settings(make_url("postgresql://postgres@127.0.0.1:9/none"))
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", auth=PathUserAuth()
        ) as client,
    ):
        started = time.monotonic()
        responses = [
            await client.get("/ready"),
            await client.get("/api/alice/tasks"),
            await client.post("/api/alice/tasks", json={"title": "x"}),
        ]
        elapsed = time.monotonic() - started
        assert (await client.get("/health")).status_code == 200

    for response in responses:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        assert response.json()["detail"] == "The database is unavailable; retry shortly"
    assert elapsed < 15


async def test_api_recovers_when_the_database_comes_back(tmp_path: Path) -> None:
    """A server that goes down mid-life: 503 while away, 200 again without a restart."""
    data_dir = tmp_path / "pg"
    url = start_embedded_server(data_dir, delete_on_exit=True)
    command.upgrade(alembic_config(url), "head")
    app = create_app(make_settings(url))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t", auth=PathUserAuth()) as client,
    ):
        assert (await client.get("/ready")).status_code == 200

        stop_embedded_server(data_dir)
        assert (await client.get("/api/alice/tasks")).status_code == 503
        assert (await client.get("/ready")).status_code == 503

        start_embedded_server(data_dir)
        assert (await client.get("/ready")).status_code == 200
        created = await client.post("/api/alice/tasks", json={"title": "back"})
        assert created.status_code == 201
        assert (await client.get("/api/alice/tasks")).json() == [created.json()]
