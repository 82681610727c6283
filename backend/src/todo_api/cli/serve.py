"""The production server command: `python -m todo_api serve`.

One place defines how production runs, so `make serve`, the benchmark and the deployment
docs cannot drift: uvloop and httptools, no access log (it costs a tenth of throughput;
put logging in the proxy), no reload, N worker processes, and a graceful shutdown that lets
in-flight requests finish.
"""

from __future__ import annotations

import uvicorn

GRACEFUL_SHUTDOWN_SECONDS = 20


def serve(host: str, port: int, workers: int) -> None:
    uvicorn.run(
        "todo_api.main:app",
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
