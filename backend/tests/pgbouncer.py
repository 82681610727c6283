"""A PgBouncer in transaction mode in front of a test database (Debian's `pgbouncer`).

Transaction pooling is what Neon's pooled endpoint and most hosted poolers do: each
transaction may run on a different server connection. PgBouncer before 1.21 (Debian 12 ships
1.18) does not track protocol-level prepared statements, which makes it the strict case.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.support import free_port, libpq_url
from todo_api.database.app_login import APP_LOGIN, WORKER_LOGIN

# The user the embedded server runs as when the suite runs as root; PgBouncer refuses root.
EMBEDDED_SERVER_USER = "embedded_postgres"


def require_pgbouncer() -> str:
    """The pgbouncer binary; skip without it, except in CI (which installs it)."""
    found = shutil.which("pgbouncer") or shutil.which("/usr/sbin/pgbouncer")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("pgbouncer is not installed (.ci/run installs it with apt-get)")
    pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")


@contextmanager
def running_pgbouncer(target: URL) -> Iterator[URL]:
    """PgBouncer (transaction mode) in front of `target`; yields the URL to reach it."""
    binary = require_pgbouncer()
    host = target.query.get("host") or target.host or "127.0.0.1"
    port = target.port or 5432
    listen = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    run_as = _unprivileged_user()
    # The owner, and the application's login roles (database/app_login.py).
    users = {target.username or "postgres", APP_LOGIN, WORKER_LOGIN}
    (workdir / "userlist.txt").write_text("".join(f'"{user}" ""\n' for user in sorted(users)))
    config = workdir / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={host} port={port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {listen}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {workdir / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        "max_client_conn = 500\n"
        "default_pool_size = 20\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
    )
    if run_as is not None:
        entry = pwd.getpwnam(run_as)
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    command = [binary, *(["-u", run_as] if run_as else []), str(config)]
    # PgBouncer logs to stderr as well as to its log file: a pipe nobody drains would fill up
    # and freeze it mid-suite, so its output goes to the log file only.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = URL.create(
        "postgresql+psycopg",
        username=target.username or "postgres",
        host="127.0.0.1",
        port=listen,
        database=target.database,
    )
    try:
        _wait_until_it_answers(url, process, workdir / "pgbouncer.log")
        yield url
    finally:
        process.kill()  # a throwaway: no need to wait for its clients to leave
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in (EMBEDDED_SERVER_USER, "postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("no unprivileged user to run pgbouncer as")


def _wait_until_it_answers(url: URL, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            with psycopg.connect(libpq_url(url), connect_timeout=2, prepare_threshold=None) as c:
                c.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = log.read_text() if log.exists() else ""
                raise RuntimeError(f"pgbouncer did not start: {output[-2000:]}") from None
            time.sleep(0.1)
