"""`GET /metrics`: Prometheus text format, for the operator's scraper.

Open in development and tests. With `METRICS_TOKEN` set it needs `Authorization: Bearer
<METRICS_TOKEN>` (401 otherwise); in production it is served only then (404 without a
token), so a deployment never publishes its traffic by accident. `METRICS_ENABLED=false`
removes it and stops recording. Not part of the REST contract (`/openapi.json`).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request, Response

from todo_api import metrics
from todo_api.config import Settings
from todo_api.database.runner import Database
from todo_api.errors import TokenRejectedError

router = APIRouter(include_in_schema=False)


def sample(database: Database, admission_waiting: int) -> None:
    """Set this worker's gauges from the pool and the admission queue as they are now."""
    metrics.POOL_IN_USE.set(database.in_use)
    metrics.POOL_WAITING.set(database.waiting)
    metrics.ADMISSION_QUEUE.set(admission_waiting)


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    token = settings.metrics_token
    if token is None and settings.environment == "production":
        raise HTTPException(404)
    if token is not None:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise TokenRejectedError("Metrics need the METRICS_TOKEN bearer token")
    state = request.app.state
    sample(state.database, state.admission.waiting)
    body, media_type = metrics.exposition()
    return Response(body, media_type=media_type)
