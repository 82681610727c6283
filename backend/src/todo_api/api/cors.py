"""CORS for the browser frontends, which run on another origin."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

ALLOWED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ALLOWED_HEADERS = ["Authorization", "Content-Type"]
# Response headers browsers may read; extend as the API adds headers (ETag, Link, ...).
EXPOSED_HEADERS = ["Location", "Retry-After"]


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
