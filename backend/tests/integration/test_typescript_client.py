"""The typed TypeScript client: types generated from the contract, a session run under Node.

The client is built by tests/typescript_support.py (skipped without Node and its packages).

The session runs once straight against the server, and once through a proxy that loses the
answer to its first create and answers the retry with a 503: `createTodoClient` must end
with exactly one task for that create. Each run also follows the live stream with
`subscribe()` (src/liveSession.ts): every change arrives once on two subscriptions across a
dropped connection, a token that expires under an open stream (the server allows no JWT
leeway here, and the session signs a 2 s token with the secret) and a cursor too old.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.support import TEST_SECRET, running_server, sign
from tests.typescript_support import CLIENT, build_client, require_client_tools


@pytest.fixture(scope="module")
def built() -> None:
    require_client_tools()
    build_client()


@pytest.fixture
def server(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> Iterator[str]:
    """The app in its own process, with no JWT leeway, so a token's `exp` ends a stream."""
    env = {"JWT_LEEWAY_SECONDS": "0"}
    with running_server(migrated_database, tmp_path, env=env) as (base, _process):
        yield base


def run_session(base_url: str, live_url: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(CLIENT / "dist" / "session.js")],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "TODO_API_URL": base_url,
            "TODO_API_USER": "typed-alice",
            "TODO_API_TOKEN": sign("typed-alice"),
            "TODO_API_SECRET": TEST_SECRET,
            "TODO_API_LIVE_URL": live_url or base_url,
        },
        check=False,
    )


@pytest.mark.usefixtures("built")
def test_types_generated_from_the_contract_compile_and_the_session_runs(server: str) -> None:
    session = run_session(server)
    assert session.returncode == 0, session.stdout + session.stderr
    assert "every step answered as the contract says" in session.stdout


@pytest.mark.usefixtures("built")
def test_a_create_whose_answer_is_lost_and_then_503_makes_exactly_one_task(
    server: str, clean_database: psycopg.Connection
) -> None:
    # The first create reaches the server (and commits), then its answer is lost; the retry
    # gets a 503; the next retry, with the same Idempotency-Key, gets the task.
    # The proxy answers whole responses, so the live stream goes straight to the server.
    with FlakyProxy(server, ["drop", "503"]) as proxy:
        session = run_session(proxy.url, live_url=server)

    assert session.returncode == 0, session.stdout + session.stderr
    creates = [event for event in proxy.events if event[0] == "POST"]
    assert [action for _, action, _ in creates[:3]] == ["drop", "503", "forward"]
    assert len({key for _, _, key in creates[:3]}) == 1, creates  # one key for all attempts
    assert creates[0][2]  # ...and there was one
    # Every task the session made, alive or deleted: "Buy milk" (deleted) and "Call mum", and
    # the live part's "Live one" (deleted), "Live two" (deleted) and "Live three".
    made = clean_database.execute(
        "SELECT (SELECT count(*) FROM tasks WHERE user_id = 'typed-alice') "
        "+ (SELECT count(*) FROM task_tombstones WHERE user_id = 'typed-alice')"
    ).fetchone()
    assert made == (5,)


class FlakyProxy:
    """An HTTP/1.1 proxy in front of `upstream` that misbehaves on the first creates
    (`POST .../tasks`), one script step each: "drop" forwards the request and closes the
    connection instead of answering (the write is made, its answer lost); "503" answers
    503 with `Retry-After: 1` without forwarding. Then it forwards everything.
    `events` lists (method, action, Idempotency-Key) of every request."""

    def __init__(self, upstream: str, script: list[str]) -> None:
        parsed = urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.script = list(script)
        self.events: list[tuple[str, str, str]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()

    def __enter__(self) -> FlakyProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            while True:
                request_line = reader.readline()
                if not request_line:
                    return
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = reader.read(int(headers.get("content-length", "0")))
                action = "forward"
                with self.lock:
                    if method == "POST" and target.rstrip("/").endswith("/tasks") and self.script:
                        action = self.script.pop(0)
                    self.events.append((method, action, headers.get("idempotency-key", "")))
                if action == "503":
                    problem = b'{"title":"Service Unavailable","status":503,"detail":"busy"}'
                    connection.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                        b"Content-Type: application/problem+json\r\n"
                        + f"Content-Length: {len(problem)}\r\n\r\n".encode()
                        + problem
                    )
                    continue
                answer = self._forward(method, target, headers, body)
                if action == "drop":
                    connection.shutdown(socket.SHUT_RDWR)
                    return
                connection.sendall(answer)

    def _forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
        upstream = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k not in ("connection", "keep-alive")}
            upstream.request(method, target, body=body or None, headers=sent)
            response = upstream.getresponse()
            content = response.read()
            lines = [f"HTTP/1.1 {response.status} {response.reason}"]
            for name, value in response.getheaders():
                if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                    lines.append(f"{name}: {value}")
            lines.append(f"Content-Length: {len(content)}")
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content
        finally:
            upstream.close()
