"""Liveness and readiness probes for deployments."""

from __future__ import annotations

from fastapi import APIRouter

from todo_api.api.deps import SessionDep
from todo_api.api.problems import problem_responses
from todo_api.services.health import check_database

router = APIRouter(tags=["health"])


@router.get("/health", operation_id="health", summary="The process is up")
async def health() -> dict[str, str]:
    """Answers without touching the database, so a slow database never restarts the process."""
    return {"status": "ok"}


@router.get(
    "/ready",
    operation_id="ready",
    summary="The database is reachable",
    responses=problem_responses(503),
)
async def ready(session: SessionDep) -> dict[str, str]:
    """200 when a query round-trips to the database; otherwise a 503 problem."""
    await check_database(session)
    return {"status": "ready"}
