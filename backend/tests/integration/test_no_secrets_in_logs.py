"""Whatever fails, no task text, search text, cursor, token or raw user id reaches a log line.

Every logger runs at DEBUG (but the test client's own, httpx and httpcore), in both
`LOG_FORMAT`s, while requests fail in each way the database can make them fail: a row lock
held past the statement timeout (503), a CHECK and a unique violation and a server error
that quotes the row (409, 500), a frozen and a stopped server (503), and a bug in a route
(500). Then every captured line is searched for the markers the requests carried.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.integration.test_database_faults import crash, frozen, throwaway
from tests.support import bearer, make_settings, sign
from todo_api.config import Settings
from todo_api.database.embedded import start_embedded_server
from todo_api.main import create_app

pytestmark = pytest.mark.anyio
__all__ = ["throwaway"]  # the faulty module's own embedded server, a fixture here too

USER = "rawuser-q8z3k"
TITLE = "Marker-title-7c1e"
DESCRIPTION = "Marker-description-a94b"
TAG = "markertag5d20"
SEARCH = "Marker-search-e3f6"
MARKERS = [USER, TITLE, DESCRIPTION, TAG, SEARCH]
BODY = {"title": TITLE, "description": DESCRIPTION, "tags": [TAG]}
FORMATS = ["text", "json"]


@pytest.fixture
def debug_everywhere() -> Iterator[None]:
    """Every logger at DEBUG, as an operator chasing a problem would set it."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in manager.loggerDict)]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    for client_logger in ("httpx", "httpcore"):  # the test client's, not the server's
        logging.getLogger(client_logger).setLevel(logging.WARNING)
    yield
    for logger, level in levels.items():
        logger.setLevel(level)


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    for name in ("sqlalchemy", "todo_api", "psycopg"):  # create_app sets todo_api to INFO
        logging.getLogger(name).setLevel(logging.DEBUG)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=bearer(TOKEN)
        ) as http:
            yield http


TOKEN = sign(USER)
TASKS = f"/api/{USER}/tasks"


def leaks(output: str, extra: list[str]) -> tuple[int, list[str]]:
    """(lines searched, the lines holding a marker)."""
    markers = [*MARKERS, TOKEN, *extra]
    lines = output.splitlines()
    return len(lines), [line for line in lines if any(marker in line for marker in markers)]


async def a_cursor(http: httpx.AsyncClient) -> str:
    for _ in range(2):
        assert (await http.post(TASKS, json={"title": "plain"})).status_code == 201
    link = (await http.get(TASKS, params={"limit": 1})).headers["link"]
    return link.split("cursor=")[1].split(">")[0]


@pytest.mark.parametrize("log_format", FORMATS)
@pytest.mark.usefixtures("debug_everywhere")
async def test_database_errors_and_crashes_log_no_request_data(
    migrated_database: URL,
    clean_database: psycopg.Connection,
    capsys: pytest.CaptureFixture[str],
    log_format: str,
) -> None:
    admin = clean_database
    app = create_app(make_settings(migrated_database, log_format=log_format))

    async def crashing(user_id: str) -> None:
        try:
            raise KeyError(f"{TITLE} of {user_id}")
        except KeyError as inner:
            raise ValueError(f"{DESCRIPTION} {TOKEN}") from inner

    app.add_api_route("/api/{user_id}/crash", crashing)
    statuses = []
    async with client_of(app) as http:
        capsys.readouterr()
        cursor = await a_cursor(http)
        task_id = (await http.post(TASKS, json={"title": "locked"})).json()["id"]

        # A PUT waiting on a row lock held past the statement timeout: 503.
        with admin.transaction():
            admin.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (task_id,))
            locked = await http.put(f"{TASKS}/{task_id}", json=BODY)
        statuses.append(locked.status_code)
        assert locked.status_code == 503

        # A CHECK and a unique violation, and an error whose text quotes the new row.
        admin.execute(f"ALTER TABLE tasks ADD CONSTRAINT ck_marker CHECK (title <> '{TITLE}')")
        try:
            statuses.append((await http.post(TASKS, json=BODY)).status_code)
        finally:
            admin.execute("ALTER TABLE tasks DROP CONSTRAINT ck_marker")
        admin.execute(
            f"CREATE UNIQUE INDEX ux_marker ON tasks (user_id, title) WHERE title = '{TITLE}'"
        )
        try:
            statuses.append((await http.post(TASKS, json=BODY)).status_code)
            statuses.append((await http.post(TASKS, json=BODY)).status_code)
        finally:
            admin.execute("DROP INDEX ux_marker")
        admin.execute(
            "CREATE FUNCTION marker_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'refused % % % %', NEW.user_id, NEW.title, NEW.description, "
            "NEW.tags; END $$"
        )
        admin.execute(
            "CREATE TRIGGER marker_refuse BEFORE INSERT OR UPDATE ON tasks "
            "FOR EACH ROW EXECUTE FUNCTION marker_refuse()"
        )
        try:
            statuses.append((await http.post(TASKS, json=BODY)).status_code)
            statuses.append((await http.get(TASKS, params={"q": SEARCH})).status_code)
            statuses.append((await http.get(TASKS, params={"cursor": cursor})).status_code)
            statuses.append((await http.put(f"{TASKS}/{task_id}", json=BODY)).status_code)
        finally:
            admin.execute("DROP TRIGGER marker_refuse ON tasks")
            admin.execute("DROP FUNCTION marker_refuse()")

        # A bug in a route, its exception chained from another.
        statuses.append((await http.get(f"/api/{USER}/crash")).status_code)

    assert statuses == [503, 409, 201, 409, 500, 200, 200, 500, 500]
    output = capsys.readouterr().err
    searched, found = leaks(output, [cursor])
    print(f"{log_format}: {searched} log lines searched, {len(found)} with a marker")
    assert searched > 100, output  # DEBUG was on: SQL, pool and request lines were written
    assert "QueryCanceled, SQLSTATE 57014" in output  # what failed is still said
    assert "RaiseException, SQLSTATE P0001" in output
    assert "ValueError" in output
    assert "KeyError" in output
    assert "in crashing" in output
    assert found == []


@pytest.mark.parametrize("log_format", FORMATS)
@pytest.mark.usefixtures("debug_everywhere")
async def test_a_frozen_or_stopped_database_logs_no_request_data(
    throwaway: tuple[URL, Path], capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    url, data_dir = throwaway
    app = create_app(make_settings(url, db_statement_timeout=1.0, log_format=log_format))
    statuses: list[int] = []
    async with client_of(app) as http:
        capsys.readouterr()
        cursor = await a_cursor(http)
        task_id = (await http.post(TASKS, json={"title": "frozen"})).json()["id"]
        with frozen(data_dir):
            answers = await asyncio.gather(
                http.put(f"{TASKS}/{task_id}", json=BODY),
                http.post(TASKS, json=BODY, headers={"Idempotency-Key": TAG}),
                http.get(TASKS, params={"q": SEARCH}),
                http.get(TASKS, params={"cursor": cursor}),
            )
        statuses += [answer.status_code for answer in answers]
        await asyncio.to_thread(crash, data_dir)
        try:
            statuses.append((await http.post(TASKS, json=BODY)).status_code)
            statuses.append((await http.get(TASKS, params={"q": SEARCH})).status_code)
        finally:
            await asyncio.to_thread(start_embedded_server, data_dir)

    assert statuses == [503] * 6
    output = capsys.readouterr().err
    searched, found = leaks(output, [cursor])
    print(f"{log_format}: {searched} log lines searched, {len(found)} with a marker")
    assert searched > 50, output
    assert "The database is unavailable" in output
    assert found == []


def test_the_servers_own_handlers_log_exceptions_as_the_app_does(settings: Settings) -> None:
    """uvicorn's handler (set up before the app) prints what escapes a begun response."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    server_logger = logging.getLogger("uvicorn.error")
    server_logger.addHandler(handler)
    try:
        create_app(settings)
        try:
            raise ValueError(f"{TITLE} {USER}")
        except ValueError as error:
            server_logger.exception("Exception in ASGI application: %s", error)
    finally:
        server_logger.removeHandler(handler)
    output = stream.getvalue()
    assert "Exception in ASGI application: ValueError" in output
    assert "Traceback (most recent call last)" in output
    assert leaks(output, []) == (len(output.splitlines()), [])
