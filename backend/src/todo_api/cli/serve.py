"""The server command: `python -m todo_api serve`.

One place defines how the service runs, so `make run`, `make serve`, the benchmark and the
deployment docs cannot drift: uvloop and httptools with bounded request headers and idle
connections (see `api/http_protocol.py`), N worker processes, and a graceful shutdown that
lets in-flight requests finish. uvicorn's access log is off in every mode: it costs throughput
(see performance.md) and prints raw paths and query strings (user ids, search text); the app
writes its own request line with the route template (`api/request_log.py`).
`--reload` is for development: one process, restarted on code changes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import partial

import uvicorn

from todo_api.api.http_protocol import LimitedHttpToolsProtocol
from todo_api.config import get_settings

GRACEFUL_SHUTDOWN_SECONDS = 20
# How long an idle keep-alive connection stays open between requests (uvicorn's default).
KEEP_ALIVE_SECONDS = 5


def serve(host: str, port: int, workers: int, *, reload: bool = False) -> None:
    settings = get_settings()
    metrics_dir = None
    if workers > 1 and not reload and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics here; /metrics adds them up (see metrics.py). The
        # workers inherit the variable, and read it before anything imports the metrics.
        metrics_dir = tempfile.mkdtemp(prefix="todo-api-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    protocol = partial(
        LimitedHttpToolsProtocol,
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout_seconds,
        linger_timeout=settings.body_timeout_seconds,
    )
    uvicorn.run(
        "todo_api.main:app",
        host=host,
        port=port,
        workers=1 if reload else workers,
        reload=reload,
        reload_dirs=["backend/src"] if reload else None,
        loop="uvloop",
        http=protocol,  # type: ignore[arg-type]
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        proxy_headers=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)
