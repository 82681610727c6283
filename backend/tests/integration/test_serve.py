"""The production command: serves, and on SIGTERM finishes the requests in flight."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from sqlalchemy.engine import URL

from tests.support import bearer, running_server, sign


def test_sigterm_lets_the_request_in_flight_finish(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> None:
    body = json.dumps({"title": "written during shutdown"}).encode()
    with running_server(migrated_database, tmp_path, serve=True) as (base, process):
        address = urlsplit(base)
        with socket.create_connection((address.hostname, address.port), timeout=10) as client:
            head = (
                "POST /api/alice/tasks HTTP/1.1\r\n"
                f"Host: {address.netloc}\r\n"
                f"Authorization: {bearer(sign('alice'))['Authorization']}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            client.sendall(head + body[:5])  # the request is now in flight, body incomplete
            time.sleep(0.5)

            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None, "the server quit with a request in flight"

            client.sendall(body[5:])
            response = b""
            while chunk := client.recv(65536):
                response += chunk

        assert response.startswith(b"HTTP/1.1 201 ")
        assert b'"title":"written during shutdown"' in response
        # uvicorn re-raises the signal once it has shut down cleanly, as the default would.
        assert process.wait(timeout=25) in (0, -signal.SIGTERM)

    rows = clean_database.execute("SELECT title FROM tasks").fetchall()
    assert rows == [("written during shutdown",)]
