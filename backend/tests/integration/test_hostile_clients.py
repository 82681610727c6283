"""Clients that misbehave on purpose cannot stall or bloat the server for everyone else.

These run the real server command (`python -m todo_api serve`) and talk raw sockets to it:
the protections live in the HTTP protocol and in the middleware, below what an in-process
client can reach.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.support import bearer, running_server, sign

SLOW_CLIENTS = 50
HOSTILE_SOCKETS = 100
# uvicorn's keep-alive timeout, which `serve` sets (cli/serve.py): an idle connection's bound.
KEEP_ALIVE_SECONDS = 5
LIMITS = {
    "BODY_TIMEOUT_SECONDS": "2",
    "HEADER_TIMEOUT_SECONDS": "2",
    "MAX_HEADER_BYTES": "16384",
    "MAX_CONCURRENT_REQUESTS": "10",
}


@pytest.fixture(scope="module")
def shared_server(
    migrated_database: URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    cwd = tmp_path_factory.mktemp("hostile")
    with running_server(migrated_database, cwd, serve=True, env=LIMITS) as (base, process):
        yield base, process.pid


@pytest.fixture
def server(shared_server: tuple[str, int], clean_database: psycopg.Connection) -> tuple[str, int]:
    """The module's server, over empty tables."""
    return shared_server


def connect(base: str) -> socket.socket:
    address = urlsplit(base)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def unfinished_body(base: str) -> socket.socket:
    """A POST whose headers promise 20 bytes of body that never come (no token either)."""
    sock = connect(base)
    sock.sendall(
        b"POST /api/x/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 20\r\n\r\n"
    )
    return sock


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_unfinished_bodies_hold_nothing_others_need(server: tuple[str, int]) -> None:
    base, _ = server
    stalled = [unfinished_body(base) for _ in range(SLOW_CLIENTS)]
    try:
        time.sleep(0.3)  # every one of them has reached the application
        token = bearer(sign("alice"))
        started = time.monotonic()
        created = httpx.post(f"{base}/api/alice/tasks", json={"title": "a"}, headers=token)
        listed = httpx.get(f"{base}/api/alice/tasks", headers=token)
        ready = httpx.get(f"{base}/ready")
        docs = httpx.get(f"{base}/docs")
        elapsed = time.monotonic() - started
    finally:
        for sock in stalled:
            sock.close()
    assert [created.status_code, listed.status_code, ready.status_code, docs.status_code] == [
        201,
        200,
        200,
        200,
    ]
    assert elapsed < 1.0


def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(
    server: tuple[str, int],
) -> None:
    base, _ = server
    with unfinished_body(base) as sock:
        sock.sendall(b'{"title"')  # a part of it, then nothing
        started = time.monotonic()
        response = read_all(sock)  # returns once the server has closed the connection
        waited = time.monotonic() - started
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    assert b'"status":408' in body
    assert 1.5 < waited < 4.0


def test_oversized_headers_get_431_before_they_are_buffered(server: tuple[str, int]) -> None:
    base, pid = server
    before = rss_kib(pid)
    with connect(base) as sock:
        sock.sendall(b"GET /api/alice/tasks HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ")
        sent = 0
        try:
            chunk = b"a" * 65536
            while sent < 64 * 1024 * 1024:  # a 64 MB header, if the server keeps reading
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed the connection: what we want
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 431 ")
    assert b'"status":431' in response
    assert sent < 4 * 1024 * 1024  # it stopped reading long before the end
    assert rss_kib(pid) - before < 20 * 1024  # and did not keep what it read
    assert httpx.get(f"{base}/health").status_code == 200


def test_a_header_block_just_over_the_limit_in_one_piece_is_431(server: tuple[str, int]) -> None:
    base, _ = server
    response = httpx.get(f"{base}/health", headers={"X-Padding": "p" * 17000})
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{base}/health", headers={"X-Padding": "p" * 8000}).status_code == 200


@pytest.mark.parametrize(
    "opening",
    [b"", b"GET /health HTTP/1.1\r\nHost: t\r\n"],
    ids=["nothing-sent", "headers-never-end"],
)
def test_headers_that_do_not_arrive_in_time_get_408(
    server: tuple[str, int], opening: bytes
) -> None:
    base, _ = server
    with connect(base) as sock:
        sock.sendall(opening)
        started = time.monotonic()
        response = read_all(sock)
        waited = time.monotonic() - started
    assert response.startswith(b"HTTP/1.1 408 ")
    assert 1.5 < waited < 4.0


def test_trailing_slash_is_served_not_redirected_to_the_host_header(
    server: tuple[str, int],
) -> None:
    base, _ = server
    token = bearer(sign("alice"))
    httpx.post(f"{base}/api/alice/tasks", json={"title": "a"}, headers=token)
    response = httpx.get(f"{base}/api/alice/tasks/", headers={**token, "Host": "evil.example"})
    assert response.status_code == 200
    assert "location" not in response.headers
    assert [task["title"] for task in response.json()] == ["a"]
    unauthenticated = httpx.get(f"{base}/api/alice/tasks/", headers={"Host": "evil.example"})
    assert unauthenticated.status_code == 401


def test_head_answers_like_get_without_a_body(server: tuple[str, int]) -> None:
    base, _ = server
    token = bearer(sign("alice"))
    task = httpx.post(f"{base}/api/alice/tasks", json={"title": "a"}, headers=token).json()
    for path in ("/api/alice/tasks", f"/api/alice/tasks/{task['id']}", "/health"):
        got = httpx.get(f"{base}{path}", headers=token)
        head = httpx.head(f"{base}{path}", headers=token)
        assert head.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"]
        assert head.headers["content-type"] == got.headers["content-type"]
    assert httpx.head(f"{base}/api/alice/tasks/999999", headers=token).status_code == 404


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length (its head and body), leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server ends the connection (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n", 413),
        (b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n", 200),
    ],
    ids=["413-then-a-byte", "get-with-a-late-body"],
)
def test_a_response_that_leaves_body_bytes_unread_ends_the_connection(
    server: tuple[str, int], request_head: bytes, status: int
) -> None:
    base, pid = server
    before = open_fds(pid)
    hostile = [connect(base) for _ in range(HOSTILE_SOCKETS)]
    try:
        for sock in hostile:
            sock.sendall(request_head)
        for sock in hostile:
            assert read_response(sock).startswith(b"HTTP/1.1 %d " % status)
            sock.sendall(b"x")  # a late body byte: it used to cancel the keep-alive timer
        time.sleep(0.3)  # every byte has arrived
        # The server writes nothing more (FIN at once) and lets go of the socket within the
        # body timeout (2 s here) even though the client never closes its side.
        assert all(closed_by_server(sock, within=1.0) for sock in hostile)
        time.sleep(2.5)
        assert open_fds(pid) - before < 5
    finally:
        for sock in hostile:
            sock.close()


@pytest.mark.parametrize("trickle", [b"\r\n", b"x"], ids=["blank-lines", "body-bytes"])
def test_a_trickle_of_bytes_after_a_response_does_not_keep_the_connection_open(
    server: tuple[str, int], trickle: bytes
) -> None:
    base, _ = server
    with connect(base) as sock:
        # A GET whose declared body is sent a byte at a time, or blank lines between requests.
        declared = b"Content-Length: 1000\r\n" if trickle == b"x" else b""
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n" + declared + b"\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        sock.settimeout(0.5)
        closed = False
        while not closed and time.monotonic() - started < KEEP_ALIVE_SECONDS + 3:
            try:
                sock.sendall(trickle)
                closed = sock.recv(65536) == b""
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        assert closed
        assert time.monotonic() - started < KEEP_ALIVE_SECONDS + 1


def test_a_keep_alive_client_reuses_its_connection(server: tuple[str, int]) -> None:
    base, _ = server
    body = b'{"title": "a"}'
    post = (
        b"POST /api/alice/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Authorization: {bearer(sign('alice'))['Authorization']}\r\n".encode()
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )
    with connect(base) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.0)  # idle, well within the keep-alive timeout
        sock.sendall(post)
        assert read_response(sock).startswith(b"HTTP/1.1 201 ")
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
