"""Shared fixtures: one real PostgreSQL server per test session, a clean schema per test.

The server is a throwaway embedded PostgreSQL in a temporary folder, or the one named by
TEST_DATABASE_URL. With TEST_VIA_PGBOUNCER=1 the whole suite reaches it through a PgBouncer
in transaction mode (see tests/pgbouncer.py), as the app reaches Neon's pooled endpoint.
Its schema is built by Alembic (as in production), never by create_all. Each test starts
from empty tables; the development data in .data/ is never touched.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.pgbouncer import running_pgbouncer
from tests.support import PathUserAuth, alembic_config, libpq_url, make_settings, running_server
from todo_api.config import Settings
from todo_api.database.app_login import APP_LOGIN, ensure_app_login, ensure_worker_login
from todo_api.database.embedded import start_embedded_server
from todo_api.database.url import normalize_database_url
from todo_api.main import create_app


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> URL:
    """The test server: TEST_DATABASE_URL, or a fresh embedded server deleted at exit."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        return normalize_database_url(given)
    return start_embedded_server(tmp_path_factory.mktemp("pg") / "data", delete_on_exit=True)


@pytest.fixture(scope="session")
def database_url(server_url: URL) -> Iterator[URL]:
    """What the tests connect to: the server, or a PgBouncer in front of it."""
    with ExitStack() as stack:
        if os.environ.get("TEST_VIA_PGBOUNCER") == "1":
            # As deployed behind a pooler: live updates LISTEN on the direct URL (a transaction
            # pooler cannot LISTEN). Servers started by the tests inherit it too.
            direct = server_url.set(drivername="postgresql", username=APP_LOGIN).render_as_string(
                hide_password=False
            )
            stack.enter_context(pytest.MonkeyPatch.context()).setenv("LIVE_LISTEN_URL", direct)
            yield stack.enter_context(running_pgbouncer(server_url))
        else:
            yield server_url


@pytest.fixture(scope="session")
def owner_database(database_url: URL) -> URL:
    """The test database with the schema at Alembic's head (rebuilt from scratch once), as
    the role that migrated it: the superuser, whom row-level security does not hold."""
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    return database_url


@pytest.fixture(scope="session")
def migrated_database(owner_database: URL, server_url: URL) -> URL:
    """The migrated test database as the app reaches it: as its login role (a member of
    todo_app only, database/app_login.py), behind row-level security. Its cross-user work
    connects as the worker's login beside it (tests/support.py `worker_login_url`)."""
    ensure_app_login(server_url)
    ensure_worker_login(server_url)
    return owner_database.set(username=APP_LOGIN, password=None)


@pytest.fixture(scope="session")
def admin_connection(owner_database: URL) -> Iterator[psycopg.Connection]:
    """A plain autocommit connection for arranging and inspecting data behind the API, as
    the superuser (no row-level security; no server-side prepared statements: it may go
    through a transaction pooler)."""
    url = libpq_url(owner_database)
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as connection:
        yield connection


@pytest.fixture
def clean_database(admin_connection: psycopg.Connection) -> psycopg.Connection:
    admin_connection.execute(
        "TRUNCATE users, tasks, task_tombstones, idempotency_keys, task_events, event_relays,"
        " stream_tickets, conversations, chat_messages"
        " RESTART IDENTITY CASCADE"
    )
    return admin_connection


@pytest.fixture
def settings(migrated_database: URL, clean_database: psycopg.Connection) -> Settings:
    return make_settings(migrated_database)


@pytest.fixture
def chat_settings(migrated_database: URL, clean_database: psycopg.Connection) -> Any:
    """Settings of an app whose chat model is the stand-in at `base` (tests/chat_model.py)."""

    def build(base: str, **overrides: Any) -> Settings:
        return make_settings(
            migrated_database, chat_model_url=base, chat_model="stand-in", **overrides
        )

    return build


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def running_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app with its lifespan (engine, verifier) running."""
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def anonymous_client(running_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client that sends no token unless a test adds one."""
    transport = httpx.ASGITransport(app=running_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def client(running_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client that calls every `/api/{user_id}` path as that user."""
    transport = httpx.ASGITransport(app=running_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", auth=PathUserAuth()
    ) as http:
        yield http


@pytest.fixture
def live_server(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> Iterator[str]:
    """The app in a process of its own (plain uvicorn) over empty tables: its base URL."""
    with running_server(migrated_database, tmp_path) as (base, _process):
        yield base
