"""The application factory: `create_app()` wires settings, database, routers and errors.

Run with `uvicorn todo_api.main:app` (see `make run` / `make serve` in
specs/001-backend-task-api/operations.md).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from todo_api import __version__, metrics
from todo_api.api import chat, health, live, metrics_endpoint, reminders, sync, tags, tasks
from todo_api.api.admission import Admission, FifoSlots, TurnEndMiddleware
from todo_api.api.auth import declare_bearer_security
from todo_api.api.body_limit import BodyLimitMiddleware
from todo_api.api.cors import add_cors
from todo_api.api.http_semantics import HttpSemanticsMiddleware
from todo_api.api.metrics_endpoint import sample
from todo_api.api.problems import install_problem_handlers, problem_schemas
from todo_api.api.request_log import RequestLogMiddleware
from todo_api.chat.turn import ChatAgent
from todo_api.config import Settings, get_settings
from todo_api.database.embedded import release_embedded_server
from todo_api.database.engine import create_engine, create_worker_engine
from todo_api.database.runner import Database
from todo_api.database.server_keys import ServerKeys
from todo_api.database.timeouts import client_deadline
from todo_api.database.url import resolve_app_database_url, resolve_worker_database_url
from todo_api.database.wall import warn_if_bypassing
from todo_api.events.outbox import pruning
from todo_api.events.relay import relay_for
from todo_api.live.hub import live_hub
from todo_api.live.tickets import expired_tickets
from todo_api.logs import configure_logging
from todo_api.mcp_server.endpoint import mount_mcp
from todo_api.reminders.scheduler import Scheduler
from todo_api.security.jwks import JwksKeySet
from todo_api.security.verifier import TokenVerifier
from todo_api.services.housekeeping import Housekeeping
from todo_api.services.lists.whole import LongLists
from todo_api.services.quotas import Quotas
from todo_api.services.users import UserProvisioner

GAUGE_INTERVAL_SECONDS = 1.0
GC_THRESHOLDS = (50_000, 20, 100)
STOP_SECONDS = 3.0  # for background loops to finish their statement at shutdown

DESCRIPTION = """\
Tasks of each user live under `/api/{user_id}/tasks`. Every `/api` request needs
`Authorization: Bearer <jwt>` whose `sub` is that `{user_id}`.
Errors are RFC 9457 problem details with a string `detail`.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the engine (and the MCP transport) at startup; close them at shutdown."""
    settings: Settings = app.state.settings
    url = resolve_app_database_url(settings)
    engine = create_engine(settings, url)
    deadline = client_deadline(settings.db_statement_timeout)
    app.state.database = Database(engine, deadline)
    # Cross-user background work on its own login (WORKER_DATABASE_URL), when it has one.
    worker_url = resolve_worker_database_url(settings)
    worker_engine = create_worker_engine(settings, worker_url) if worker_url != url else None
    worker_database = Database(worker_engine, deadline) if worker_engine else app.state.database
    app.state.worker_database = worker_database
    # One warning when the role of DATABASE_URL is not held by row-level security (or the
    # worker's login cannot take its role). In the background, and never cut short at
    # shutdown (a connection attempt cut midway crashes some poolers: it is waited for like
    # the relay and scheduler below).
    checking_role = asyncio.create_task(
        warn_if_bypassing(app.state.database, worker_database if worker_engine else None)
    )
    app.state.live_hub = live_hub(app.state.database, settings, url)
    listening = asyncio.create_task(app.state.live_hub.run())
    housekeeping = asyncio.create_task(
        Housekeeping(
            worker_database,
            {"task events": pruning(settings), "stream tickets": expired_tickets()},
        ).run()
    )
    # With EVENTS_URL, every worker runs a relay; one at a time delivers (events/relay.py).
    relay = relay_for(worker_database, settings)
    relaying = asyncio.create_task(relay.run()) if relay is not None else None
    scheduler = Scheduler(worker_database, settings) if settings.reminders_in_process else None
    scheduling = asyncio.create_task(scheduler.run()) if scheduler is not None else None
    # One process answers its own scrapes (they sample first); several need each worker's
    # gauges kept current in the shared files.
    sampling = settings.metrics_enabled and metrics.MULTIPROCESS
    gauges = asyncio.create_task(_sample_gauges(app)) if sampling else None
    async with (
        httpx.AsyncClient(timeout=settings.jwks_fetch_timeout_seconds) as http,
        app.state.mcp_transport,
    ):
        app.state.token_verifier = TokenVerifier(settings, _key_set(settings, http))
        # Everything allocated so far lives as long as the process: move it out of the
        # collector's sight, so each full collection scans request garbage only.
        gc.collect()
        gc.freeze()
        # Collect young objects after 50,000 allocations, not 700: the objects of requests
        # in flight otherwise survive into the oldest generation, and each full collection
        # then walks every open live stream (see performance.md, "Live updates").
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            yield
        finally:
            app.state.live_hub.close()
            # The loops that talk to the database end between statements (a statement or a
            # connection attempt cut midway upsets some poolers); whatever is left, after a
            # moment, is cancelled.
            for worker in (scheduler, relay):
                if worker is not None:
                    worker.stop()
            finishing = [
                t for t in (checking_role, scheduling, relaying, listening) if t is not None
            ]
            if finishing:
                await asyncio.wait(finishing, timeout=STOP_SECONDS)
            for task in (checking_role, listening, scheduling, relaying, housekeeping, gauges):
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
            metrics.process_exiting()
            if app.state.chat is not None:
                await app.state.chat.close()
            await engine.dispose()
            if worker_engine is not None:
                await worker_engine.dispose()
            if settings.database_url is None:
                release_embedded_server(settings.embedded_data_dir)


async def _sample_gauges(app: FastAPI) -> None:
    """Keep this worker's gauges current (each scrape may be answered by another worker)."""
    state = app.state
    while True:
        sample(state.database, state.admission.waiting)
        await asyncio.sleep(GAUGE_INTERVAL_SECONDS)


def _key_set(settings: Settings, http: httpx.AsyncClient) -> JwksKeySet | None:
    if not settings.jwt_jwks_url:
        return None
    return JwksKeySet(
        settings.jwt_jwks_url,
        http,
        max_age=settings.jwks_cache_seconds,
        min_refetch_interval=settings.jwks_min_refetch_seconds,
        fetch_timeout=settings.jwks_fetch_timeout_seconds,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; tests pass their own `Settings`, production reads the environment."""
    settings = settings or get_settings()
    configure_logging(settings)
    # FastAPIOffline serves the Swagger UI and ReDoc assets from the package itself, so
    # /docs and /redoc render without internet access.
    app: FastAPI = FastAPIOffline(
        title="todo-api",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.user_provisioner = UserProvisioner()
    app.state.server_keys = ServerKeys()  # the cursor key, read on first need
    app.state.quotas = Quotas.of(settings)
    app.state.admission = Admission(
        settings.max_concurrent_requests,
        settings.admission_timeout_seconds,
        settings.request_deadline,
    )
    app.state.bulk_lane = FifoSlots(2)
    app.state.long_lists = LongLists()
    app.state.chat = ChatAgent(settings) if settings.chat_configured else None
    app.add_middleware(TurnEndMiddleware)  # innermost: sees each response start first
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_timeout_seconds,
    )
    if settings.log_requests or settings.metrics_enabled:
        app.add_middleware(
            RequestLogMiddleware, log=settings.log_requests, count=settings.metrics_enabled
        )
    add_cors(app, settings.cors_origins)  # error responses get CORS headers too
    app.add_middleware(HttpSemanticsMiddleware)
    app.router.redirect_slashes = False  # HttpSemanticsMiddleware serves `/path/` instead
    install_problem_handlers(app)
    # FastAPI tries the routes in order, and a request pays for every route tried before
    # its own: the `/api` routes, nearly all the traffic, go before the documentation
    # routes FastAPI added already (see performance.md).
    documentation = list(app.router.routes)
    app.router.routes.clear()
    _add_routes(
        app,
        sync.router,
        tasks.router,
        tags.router,
        reminders.router,
        live.router,
        chat.router,
        health.router,
    )
    app.router.routes.extend(documentation)
    if settings.metrics_enabled:  # last: the task routes are matched first
        _add_routes(app, metrics_endpoint.router)
    app.state.mcp_transport = mount_mcp(app, settings)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """The routers' routes, as the app's own. `include_router` would keep each router as a
    branch that FastAPI matches a request against twice, re-checking on each request that
    the branch's routes have not changed (see performance.md). Our
    routers' prefix, tags and responses are part of their routes already (FastAPI applies
    them when a route is declared); they take no `include_router` arguments."""
    for router in routers:
        app.router.routes.extend(router.routes)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the problem-details schemas the error responses refer to and
    the bearer scheme of the `/api` operations."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
        declare_bearer_security(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def __getattr__(name: str) -> Any:
    """`todo_api.main:app` for uvicorn, built on first access (not at import, for tests)."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
