"""What the benchmark starts and drives: the database, the servers, wrk, and their cleanup.

Every process started here is stopped on the way out, whether the run ends, fails or is
stopped by a signal: the servers run in process groups of their own (so their workers go with
them), SIGTERM, SIGINT and SIGHUP unwind the run like an error (so each `finally` runs and the
embedded PostgreSQL is released), and an exit hook stops any child still running.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil
from sqlalchemy.engine import URL

from logins import login_settings
from todo_api.database.embedded import (
    release_embedded_server,
    start_embedded_server,
    stop_embedded_server,
)
from todo_api.database.url import normalize_database_url

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "tasks.lua"

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

# Children still running, stopped by the exit hook if their own `finally` never ran.
_children: set[subprocess.Popen[Any]] = set()


def stop_on_signals() -> None:
    """Turn SIGTERM, SIGINT and SIGHUP into SystemExit, and stop leftover children at exit.

    Without this a stopped run dies on the spot and leaves its servers and the embedded
    PostgreSQL (which runs in a session of its own) behind. Later signals are ignored so that
    the cleanup the first one started is not cut short.
    """

    def stop(signum: int, _frame: FrameType | None) -> None:
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        print(f"\nstopped by {signal.Signals(signum).name}: cleaning up", flush=True)
        raise SystemExit(128 + signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    atexit.register(_stop_children)


def _stop_children() -> None:
    for process in list(_children):
        _stop(process)


def _start(command: list[str], **options: Any) -> subprocess.Popen[Any]:
    process = subprocess.Popen(command, **options)
    _children.add(process)
    return process


def _stop(process: subprocess.Popen[Any], grace: float = 30) -> None:
    """SIGTERM to the process (its whole group when it leads one), then SIGKILL after `grace`."""

    def send(signum: int) -> None:
        try:
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)
        except ProcessLookupError:
            pass

    if process.poll() is None:
        send(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            process.wait()
    _children.discard(process)


def ensure_wrk() -> str:
    """wrk from Debian's packages; installed here when missing and we may (root, apt)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install wrk) ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL
        )
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required: install it with `apt-get install wrk` (Debian/Ubuntu)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database(tmp: Path) -> Iterator[URL]:
    """BENCH_DATABASE_URL, or an embedded server in .data/bench-postgres (stopped at the end)."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        yield normalize_database_url(given)
        return
    data_dir = ROOT / ".data" / "bench-postgres"
    url = start_embedded_server(data_dir)
    try:
        yield url
    finally:
        release_embedded_server(data_dir)
        # The server is the benchmark's alone, but a run killed outright (SIGKILL) stays on its
        # list of users forever, and release then leaves the server running: stop it anyway.
        if (data_dir / "postmaster.pid").exists():
            stop_embedded_server(data_dir)


@contextmanager
def server(
    url: URL,
    secret: str,
    workers: int,
    pool_size: int,
    *,
    pythonpath: Path | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[tuple[str, psutil.Process]]:
    """The production server command, on a free port; stopped on the way out.
    `pythonpath` serves another copy of the code (bench/compare.py); `env` adds settings;
    `log` keeps its log there (else it goes with the server)."""
    environment = {
        **os.environ,
        "ENVIRONMENT": "production",
        # As deployed: the login roles, not the owner (when the database has the wall).
        **login_settings(url),
        "BETTER_AUTH_SECRET": secret,
        "DB_POOL_SIZE": str(pool_size),
        **(env or {}),
    }
    if pythonpath is not None:
        environment["PYTHONPATH"] = str(pythonpath)
    command = [sys.executable, "-m", "todo_api", "serve", "--workers", str(workers), "--port"]
    with _serving(command, environment, workers, log) as running:
        yield running


@contextmanager
def floor_server(url: URL, pool_size: int) -> Iterator[tuple[str, psutil.Process]]:
    """bench/floor.py (FastAPI and a raw psycopg pool, nothing else) on a free port."""
    environment = {
        **os.environ,
        "DATABASE_URL": url.set(drivername="postgresql").render_as_string(hide_password=False),
        "DB_POOL_SIZE": str(pool_size),
    }
    with _serving([sys.executable, str(ROOT / "bench" / "floor.py")], environment, 1) as running:
        yield running


@contextmanager
def _serving(
    command: list[str], environment: dict[str, str], workers: int, keep: Path | None = None
) -> Iterator[tuple[str, psutil.Process]]:
    """`command` plus a free port, once its /ready answers; its process group stopped on the
    way out. Its log (a line per request) goes to a file (`keep`, or a temporary one): a pipe
    nobody reads would fill and stall it."""
    port = free_port()
    with keep.open("w+b") if keep else tempfile.TemporaryFile() as log:
        process = _start(
            [*command, str(port)],
            cwd=tempfile.gettempdir(),  # no .env
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # its own group: stopping it stops its workers too
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"server did not start:\n{log.read().decode()[-4000:]}")
                time.sleep(0.2)
            time.sleep(0.5 * workers)  # let every worker finish its startup
            yield base, psutil.Process(process.pid)
        finally:
            _stop(process)


@contextmanager
def background(
    command: list[str], environment: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` in a process group of its own, its output appended to `log`; stopped (with
    the group) on the way out."""
    with log.open("ab") as output:
        process = _start(
            command,
            cwd=tempfile.gettempdir(),  # no .env
            env=environment,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _stop(process)


def nats_binary() -> str:
    """Debian's nats-server (the events section's broker), as the event tests find it."""
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if found is None:
        sys.exit("nats-server is required: install it with `apt-get install nats-server`")
    return found


@contextmanager
def nats_server(directory: Path) -> Iterator[str]:
    """`nats-server -js` on a free port, its store in `directory`: its URL once it accepts."""
    port = free_port()
    command = [nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(directory)]
    with background(command, dict(os.environ), directory.parent / "nats.log") as process:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start (see {directory.parent}/nats.log)")
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"


class RssSampler:
    """Peak resident memory of the server and its workers while a scenario runs."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.process, *self.process.children(recursive=True)]
                rss = max(p.memory_info().rss for p in processes)
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self._stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(*servers: psutil.Process) -> float:
    """CPU seconds so far of `servers` with their workers, and of the benchmark's embedded
    PostgreSQL (none of it with BENCH_DATABASE_URL), ended children included: a parent's
    children times hold its reaped children, so a backend that exits between two readings
    (an autovacuum worker) is not lost. Two readings around a run give the CPU it cost, which
    other loads of a shared machine move far less than its throughput."""
    processes: list[psutil.Process] = []
    for process in servers:
        processes += [process, *process.children(recursive=True)]
    pid_file = ROOT / ".data" / "bench-postgres" / "postmaster.pid"
    if not os.environ.get("BENCH_DATABASE_URL") and pid_file.exists():
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        processes += [postmaster, *postmaster.children()]
    total = 0.0
    for process in processes:
        with suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def wrk(
    base: str,
    data: Path,
    op: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
    offset: int = 0,
    timeout: int = 5,
) -> dict[str, Any]:
    """wrk's stats (tasks.lua's BENCH_JSON line) of `op` against `base` for `seconds`."""
    threads = min(threads, connections)
    environment = {
        **os.environ,
        "BENCH_DATA": str(data),
        "BENCH_OP": op,
        "BENCH_OFFSET": str(offset),
        "BENCH_THREADS": str(threads),
    }
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        f"{timeout}s",
        "-s",
        str(LUA),
        base,
    ]
    process = _start(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate()
    finally:
        _stop(process, grace=5)
    if process.returncode:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{stdout}\n{stderr}")
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise RuntimeError(f"wrk printed no result:\n{stdout}\n{stderr}")


def rate(stats: dict[str, Any]) -> float:
    """Requests per second of one wrk run."""
    return float(stats["requests"] / (stats["duration_us"] / 1e6))
