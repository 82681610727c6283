"""Helpers shared by tests and fixtures (import them; fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import unquote

import httpx
import jwt
import uvicorn
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy.engine import URL

from todo_api.config import Settings
from todo_api.database.app_login import APP_LOGIN, WORKER_LOGIN

ROOT = Path(__file__).resolve().parents[2]

# A fresh random secret per test run: nothing signed here is valid anywhere else.
TEST_SECRET = secrets.token_urlsafe(48)

# One query parameter as httpx sends it: a scalar, or a sequence of them for a repeated one.
QueryScalar: TypeAlias = str | int | float | bool | None
QueryValue: TypeAlias = QueryScalar | Sequence[QueryScalar]


def sign(user_id: str, *, secret: str = TEST_SECRET, **claims: Any) -> str:
    """An HS256 token for `user_id`, valid for an hour unless `claims` say otherwise."""
    algorithm = claims.pop("alg", "HS256")
    now = int(time.time())
    payload: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + 3600, **claims}
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, secret, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class PathUserAuth(httpx.Auth):
    """Signs each request as the user named in its `/api/{user_id}/...` path (the owner)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        parts = request.url.raw_path.decode("ascii").split("?")[0].split("/")
        if len(parts) > 2 and parts[1] == "api" and "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {sign(unquote(parts[2]))}"
        yield request


@asynccontextmanager
async def owner_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of `app` (lifespan running) that calls every path as its owner.

    App errors come back as 500 responses instead of exceptions, as a real client sees them.
    """
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=PathUserAuth()
        ) as http:
            yield http


def alembic_config(url: URL) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def libpq_url(url: URL) -> str:
    """The URL in the form psycopg itself accepts (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def worker_login_url(url: URL) -> URL | None:
    """The worker's login beside the app's (database/app_login.py): the URL for
    `WORKER_DATABASE_URL` when `url` is the app's login, else None (a superuser needs none)."""
    return url.set(username=WORKER_LOGIN) if url.username == APP_LOGIN else None


def make_settings(url: URL, **overrides: Any) -> Settings:
    # Any: each setting has its own type, and Settings validates them all at run time.
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": url.render_as_string(hide_password=False),
        "better_auth_secret": TEST_SECRET,
    }
    worker = worker_login_url(url)
    if worker is not None:
        values["worker_database_url"] = worker.render_as_string(hide_password=False)
    values.update(overrides)
    return Settings(_env_file=None, **values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    url: URL,
    cwd: Path,
    *,
    serve: bool = False,
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The app in its own process, configured by environment only (cwd has no .env).

    `serve=True` runs the production command (`python -m todo_api serve`), else plain uvicorn.
    `env` adds settings. Yields the base URL once `/ready` answers, and the process.
    """
    port = free_port()
    worker = worker_login_url(url)
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "BETTER_AUTH_SECRET": TEST_SECRET,
        **(env or {}),
    }
    if worker is not None:
        environment.setdefault("WORKER_DATABASE_URL", worker.render_as_string(hide_password=False))
    if serve:
        command = [sys.executable, "-m", "todo_api", "serve", "--port", str(port)]
        command += ["--workers", str(workers)]
    else:
        command = [sys.executable, "-m", "uvicorn", "todo_api.main:app", "--port", str(port)]
    # Output goes to a file: a pipe nobody drains while the server runs would fill up with
    # its log lines and freeze it.
    log = cwd / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=subprocess.DEVNULL, stderr=output
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _ready(base):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"server did not start: {log.read_text()[-4000:]}")
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready").status_code == 200
    except httpx.TransportError:
        return False


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """`app` served over real HTTP by uvicorn in this event loop (lifespan included), for
    clients that bring their own HTTP stack. Yields the base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped the server
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when it is absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in exposition.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        sample, value = line.rsplit(" ", 1)
        sample_name, _, label_text = sample.partition("{")
        found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if sample_name == name and found == wanted:
            return float(value)
    return 0.0
