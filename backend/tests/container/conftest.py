"""Session fixtures of the image test: tools, our own Docker daemon, the stand-in base, the
app image built on it, and a database the container reaches over TCP. The timings of each
step are printed at the end of the run (the CI log keeps them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.container.docker_host import (
    STANDIN_TAG,
    Docker,
    docker_daemon,
    ensure_tools,
    standin_tarball,
)
from tests.container.tcp_bridge import tcp_bridge
from tests.support import ROOT, libpq_url

IMAGE = "todo-api:image-test"
TIMINGS: dict[str, float] = {}
FACTS: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS or FACTS:
        terminalreporter.section("container image: timings")
        for step, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{step:<44} {seconds:7.1f} s")
        for name, value in FACTS.items():
            terminalreporter.write_line(f"{name:<44} {value}")


class _Timer:
    def __init__(self, step: str) -> None:
        self.step = step

    def __enter__(self) -> None:
        self.started = time.monotonic()

    def __exit__(self, *_: object) -> None:
        TIMINGS[self.step] = time.monotonic() - self.started


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    """Our own daemon, with the stand-in base imported and the app image built on it."""
    with _Timer("install docker.io and debootstrap (if missing)"):
        ensure_tools()
    started = time.monotonic()
    with docker_daemon() as daemon:
        TIMINGS["start dockerd"] = time.monotonic() - started
        with _Timer("stand-in base: debootstrap or cache"):
            tarball, cached = standin_tarball()
        FACTS["stand-in base"] = "from the cache" if cached else "built with debootstrap"
        with _Timer("stand-in base: docker import"):
            daemon.run("import", str(tarball), STANDIN_TAG, timeout=600)
        with _Timer("docker build (app image)"):
            daemon.run(
                "build", "--network", "host", "--build-arg", f"BASE_IMAGE={STANDIN_TAG}",
                "-t", IMAGE, str(ROOT), timeout=900,
            )  # fmt: skip
        size = int(daemon.run("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
        base = int(daemon.run("image", "inspect", "--format", "{{.Size}}", STANDIN_TAG).stdout)
        FACTS["image size"] = f"{size / 1e6:.0f} MB (stand-in base {base / 1e6:.0f} MB)"
        FACTS["app layers on the base"] = f"{(size - base) / 1e6:.0f} MB"
        yield daemon


@pytest.fixture(scope="session")
def postgres_port(server_url: URL) -> Iterator[int]:
    """A TCP port on 127.0.0.1 for the test server (bridged when it is on a Unix socket)."""
    socket_dir = server_url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        socket = next(
            str(path) for path in Path(socket_dir).glob(".s.PGSQL.*") if path.suffix != ".lock"
        )
        with tcp_bridge(socket) as port:
            yield port
    else:
        yield server_url.port or 5432


@pytest.fixture(scope="session")
def empty_database(server_url: URL, postgres_port: int) -> Iterator[str]:
    """A database of its own, empty: the URL the container uses, over TCP on 127.0.0.1."""
    name = "image_test"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    url = server_url.set(host="127.0.0.1", port=postgres_port, database=name, query={})
    yield url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
