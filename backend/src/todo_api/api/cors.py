"""CORS for the browser frontends, which run on another origin."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

ALLOWED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Request headers browser code may send: auth, JSON bodies, conditional requests and
# idempotency keys, what fetch libraries commonly add, the MCP clients' protocol version
# (`/mcp` from a browser-based agent), and `Last-Event-ID`, which a fetch-based live stream
# client sends itself to resume `GET .../events` (EventSource sends it too, but as a
# "simple" request it needs no grant; fetch's does).
ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Requested-With",
    "X-Request-ID",
    "MCP-Protocol-Version",
    "Last-Event-ID",
]
# Response headers browser code may read (the CORS-safelisted ones need no mention).
EXPOSED_HEADERS = ["ETag", "Location", "Link", "Retry-After", "Idempotent-Replayed", "X-Request-ID"]


def add_cors(app: FastAPI, origins: list[str]) -> None:
    """Allow the configured origins. Credentials only with explicit origins, never with `*`."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials="*" not in origins,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
