"""Liveness and readiness probes for deployments."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from todo_api.api.problems import DATABASE_FAILURES, responses_for
from todo_api.services.health import check_database

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"


@router.get("/health", operation_id="health", summary="The process is up")
async def health() -> Health:
    """Answers without touching the database, so a slow database never restarts the process."""
    return Health()


@router.get(
    "/ready",
    operation_id="ready",
    summary="The database is reachable",
    responses=responses_for(*DATABASE_FAILURES),
)
async def ready(request: Request) -> Readiness:
    """200 when a query round-trips to the database; otherwise a 503 problem, within 2 s."""
    await check_database(request.app.state.database)
    return Readiness()
