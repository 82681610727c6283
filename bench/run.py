"""`make bench`: seed a realistic dataset, serve it like production, load it with wrk, report.

Usage: python bench/run.py [--smoke] [--duration S] [--connections N] [--pool-size N]

Scenarios run against the production server command (`python -m todo_api serve`): each
endpoint alone, a mixed workload, and full lists of 10,000-task users (alone, and 10 at once
while small requests are measured beside them). Results go to bench/results/ as Markdown,
JSON and a PNG chart. Everything started here is stopped on the way out, error or not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from report import write_reports  # noqa: E402
from seed import Dataset, migrate_fresh, seed  # noqa: E402
from todo_api.config import Settings  # noqa: E402
from todo_api.database.embedded import release_embedded_server, start_embedded_server  # noqa: E402
from todo_api.database.url import normalize_database_url  # noqa: E402
from todo_api.security.issuer import issue_token  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LUA = ROOT / "bench" / "tasks.lua"


@dataclass
class Profile:
    small_users: int
    small_tasks: int
    big_users: int
    big_tasks: int
    duration: int
    warmup: int
    connections: int
    threads: int = 2


FULL = Profile(2000, 50, 20, 10_000, duration=25, warmup=3, connections=100)
# Deletes use each seeded small-user task once: 2 s of deletes need more of them than a
# fast server deletes in that time (60 users ran out at ~2,000 deletes/s).
SMOKE = Profile(300, 50, 2, 2_000, duration=2, warmup=1, connections=20)


@dataclass
class Result:
    name: str
    workers: int
    connections: int
    op: str
    stats: dict[str, Any]
    peak_rss_mb: float
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.stats["requests"] / (self.stats["duration_us"] / 1e6)

    @property
    def non_2xx(self) -> int:
        errors = self.stats["errors"]
        # `unexpected`: answers the scenario's Lua script counted as wrong (a 304 expected).
        return int(errors["status"]) + int(self.stats.get("unexpected", 0))

    @property
    def socket_errors(self) -> int:
        errors = self.stats["errors"]
        return int(errors["connect"] + errors["read"] + errors["write"] + errors["timeout"])


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
def database(tmp: Path) -> Iterator[Any]:
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


@contextmanager
def server(
    url: Any,
    secret: str,
    workers: int,
    pool_size: int,
    *,
    pythonpath: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, psutil.Process]]:
    """The production server command, on a free port; SIGTERM and wait on the way out.
    `pythonpath` serves another copy of the code (bench/compare.py); `env` adds settings."""
    environment = {
        **os.environ,
        "ENVIRONMENT": "production",
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "BETTER_AUTH_SECRET": secret,
        "DB_POOL_SIZE": str(pool_size),
        **(env or {}),
    }
    if pythonpath is not None:
        environment["PYTHONPATH"] = str(pythonpath)
    command = [sys.executable, "-m", "todo_api", "serve", "--workers", str(workers), "--port"]
    with _serving(command, environment, workers) as running:
        yield running


@contextmanager
def floor_server(url: Any, pool_size: int) -> Iterator[tuple[str, psutil.Process]]:
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
    command: list[str], environment: dict[str, str], workers: int
) -> Iterator[tuple[str, psutil.Process]]:
    """`command` plus a free port, once its /ready answers; SIGTERM and wait on the way out.
    Its log (a line per request) goes to a file: a pipe nobody reads would fill and stall it."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*command, str(port)],
            cwd=tempfile.gettempdir(),  # no .env
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
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
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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


def seed_profile(url: Any, profile: Profile) -> Dataset:
    return seed(
        url,
        small_users=profile.small_users,
        small_tasks=profile.small_tasks,
        big_users=profile.big_users,
        big_tasks=profile.big_tasks,
    )


def lua_data(directory: Path, dataset: Dataset, settings: Settings) -> tuple[Path, dict[str, str]]:
    """The users, their task ids and a token each, as the Lua file tasks.lua reads."""
    tokens = {
        user.id: issue_token(settings, user.id, ttl_seconds=7200)
        for user in dataset.small + dataset.big
    }
    path = directory / "data.lua"
    write_lua_data(path, dataset, tokens)
    return path, tokens


def write_lua_data(
    path: Path, dataset: Dataset, tokens: dict[str, str], etags: dict[str, str] | None = None
) -> None:
    """The Lua data file; with `etags`, each user's list ETag too (for the 304 scenarios)."""

    def entries(users: list[Any]) -> str:
        return ",\n".join(
            f'{{id="{u.id}", token="{tokens[u.id]}", lo={u.lo}, hi={u.hi}'
            + (f", etag=[[{etags[u.id]}]]" if etags and u.id in etags else "")
            + "}"
            for u in users
        )

    small, big = entries(dataset.small), entries(dataset.big)
    path.write_text(f"return {{\nsmall = {{\n{small}\n}},\nbig = {{\n{big}\n}}\n}}\n")


def prime(base: str, dataset: Dataset, tokens: dict[str, str]) -> None:
    """One request per user, so no scenario measures first-sight work (token signature check,
    user row upsert) that a long-running server does once per user."""

    async def run() -> None:
        users = dataset.small + dataset.big
        limit = asyncio.Semaphore(20)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def one(user: Any) -> None:
                async with limit:
                    headers = {"Authorization": f"Bearer {tokens[user.id]}"}
                    await client.get(f"/api/{user.id}/tasks/{user.lo}", headers=headers)

            await asyncio.gather(*(one(user) for user in users))

    asyncio.run(run())


def list_etags(base: str, dataset: Dataset, tokens: dict[str, str]) -> dict[str, str]:
    """The current ETag of each user's full list, for the If-None-Match scenarios."""

    async def run() -> dict[str, str]:
        limit = asyncio.Semaphore(20)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def one(user: Any) -> tuple[str, str]:
                async with limit:
                    headers = {"Authorization": f"Bearer {tokens[user.id]}"}
                    response = await client.get(f"/api/{user.id}/tasks", headers=headers)
                    return user.id, response.headers["etag"]

            users = dataset.small + dataset.big
            return dict(await asyncio.gather(*(one(user) for user in users)))

    return asyncio.run(run())


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
        "5s",
        "-s",
        str(LUA),
        base,
    ]
    output = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    for line in output.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise RuntimeError(f"wrk printed no result:\n{output.stdout}\n{output.stderr}")


def scenario(
    name: str,
    base: str,
    process: psutil.Process,
    data: Path,
    op: str,
    profile: Profile,
    workers: int,
    *,
    connections: int | None = None,
    warmup: bool = True,
    offset: int = 0,
) -> Result:
    connections = connections or profile.connections
    if warmup and profile.warmup:
        wrk(
            base, data, op, seconds=profile.warmup, connections=connections, threads=profile.threads
        )
        time.sleep(1)  # let the requests the warm-up left in flight drain before measuring
    with RssSampler(process) as rss:
        stats = wrk(
            base,
            data,
            op,
            seconds=profile.duration,
            connections=connections,
            threads=profile.threads,
            offset=offset,
        )
    result = Result(name, workers, connections, op, stats, rss.peak / 2**20)
    show(result)
    return result


def show(result: Result) -> None:
    latency = result.stats["latency_ms"]
    print(
        f"  {result.name:<38} {result.rps:>8.0f} req/s  p50 {latency['p50']:>7.1f}  "
        f"p99 {latency['p99']:>7.1f} ms  non-2xx {result.non_2xx}  "
        f"rss {result.peak_rss_mb:.0f} MB",
        flush=True,
    )


def big_lists_with_small_requests(
    base: str, process: psutil.Process, data: Path, profile: Profile
) -> tuple[Result, Result]:
    """10 full lists at once, and beside them small requests of other users."""
    out: dict[str, dict[str, Any]] = {}

    def run_big() -> None:
        # Ten 2 MB downloads at once share the bulk lane: each may take seconds, by design.
        out["big"] = wrk(
            base, data, "biglist", seconds=profile.duration, connections=10, threads=1, timeout=20
        )

    with RssSampler(process) as rss:
        thread = threading.Thread(target=run_big)
        thread.start()
        time.sleep(0.5)
        out["small"] = wrk(
            base, data, "get", seconds=profile.duration - 1, connections=10, threads=1
        )
        thread.join()
    big = Result(
        f"full list ({profile.big_tasks:,} tasks), 10 at once",
        1,
        10,
        "biglist",
        out["big"],
        rss.peak / 2**20,
    )
    small = Result("get one, beside 10 full lists", 1, 10, "get", out["small"], rss.peak / 2**20)
    show(big)
    show(small)
    return big, small


# Request log and metrics switched off: what they cost is get one's throughput without them.
QUIET = {"LOG_REQUESTS": "false", "METRICS_ENABLED": "false"}


def observability_cost(
    url: Any,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
    rounds: int = 2,
) -> list[Result]:
    """Get one with the request log and metrics on, then off, alternated `rounds` times
    (a fresh server each time), and what they cost: 1 - median on / median off."""
    print(f"1 worker, get one task: request log and metrics on / off, {rounds} rounds")
    results: list[Result] = []
    for _ in range(rounds):
        for label, env in (("on", {}), ("off", QUIET)):
            with server(url, secret, 1, pool, env=env) as (base, process):
                prime(base, dataset, tokens)
                name = f"get one task, request log and metrics {label}"
                results.append(scenario(name, base, process, data, "get", profile, 1))
    on = statistics.median(r.rps for r in results if r.name.endswith(" on"))
    off = statistics.median(r.rps for r in results if r.name.endswith(" off"))
    cost = 100 * (1 - on / off)
    print(f"  request log and metrics cost {cost:.1f} % of get one ({on:.0f} / {off:.0f} req/s)")
    return results


# The scenarios compared with the floor app (bench/floor.py answers these three only).
FLOOR_SCENARIOS = [("get one task", "get"), ("list 50 tasks", "list"), ("create task", "create")]


def alternated(
    bases: dict[str, str],
    data: Path,
    ops: list[str],
    *,
    rounds: int,
    seconds: int,
    warmup: int,
    connections: int,
    threads: int,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """wrk's stats of each op on each side (`bases`: name -> URL), `rounds` times, the sides
    in turn (A B, then B A, ...), each run after a warm-up of its own: runs on a machine
    whose speed drifts can only be compared within one run. Non-2xx answers are an error."""
    measured: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_ in range(rounds):
        for op in ops:
            order = list(bases) if round_ % 2 == 0 else list(reversed(bases))
            for side in order:
                stats: dict[str, Any] = {}
                for run_seconds in (warmup, seconds):
                    stats = wrk(
                        bases[side],
                        data,
                        op,
                        seconds=run_seconds,
                        connections=connections,
                        threads=threads,
                    )
                if stats["errors"]["status"]:
                    raise RuntimeError(f"{op} on {side}: non-2xx answers")
                measured.setdefault((op, side), []).append(stats)
                print(f"  round {round_ + 1}/{rounds} {op:<8} {side:<12} {rate(stats):8.0f} req/s",
                      flush=True)  # fmt: skip
    return measured


def rate(stats: dict[str, Any]) -> float:
    """Requests per second of one wrk run."""
    return float(stats["requests"] / (stats["duration_us"] / 1e6))


def _rounds(
    bases: dict[str, str], data: Path, ops: list[str], profile: Profile, rounds: int
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """`alternated` with the profile's settings and runs of at most 10 s (the ratio sections
    of make bench)."""
    return alternated(
        bases,
        data,
        ops,
        rounds=rounds,
        seconds=min(profile.duration, 10),
        warmup=profile.warmup,
        connections=profile.connections,
        threads=profile.threads,
    )


def _ratios(mine: list[float], theirs: list[float]) -> dict[str, Any]:
    """The ratio of the medians, and each round's ratio (`mine[i]` over `theirs[i]`)."""
    return {
        "ratio": round(statistics.median(mine) / statistics.median(theirs), 3),
        "pair_ratios": [round(a / b, 3) for a, b in zip(mine, theirs, strict=True)],
    }


def against_floor(
    url: Any,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
    rounds: int = 3,
) -> list[dict[str, Any]]:
    """Each of FLOOR_SCENARIOS on the service and on the floor app, alternated: what one
    run of this machine can do at all, and how much of it the service gets."""
    print(f"1 worker, against the floor app: {rounds} rounds, alternated")
    with (
        server(url, secret, 1, pool) as (service, _),
        floor_server(url, pool) as (floor, _),
    ):
        prime(service, dataset, tokens)
        bases = {"service": service, "floor": floor}
        ops = [op for _, op in FLOOR_SCENARIOS]
        measured = _rounds(bases, data, ops, profile, rounds)
    rows = []
    for name, op in FLOOR_SCENARIOS:
        mine = [rate(stats) for stats in measured[(op, "service")]]
        floors = [rate(stats) for stats in measured[(op, "floor")]]
        row = {
            "scenario": name,
            "service_rps": [round(r, 1) for r in mine],
            "floor_rps": [round(r, 1) for r in floors],
            **_ratios(mine, floors),
        }
        print(f"  {name}: {row['ratio']:.2f} of the floor (rounds: {row['pair_ratios']})")
        rows.append(row)
    return rows


QUERY_PAGES = [
    ("pending by due date", "duepage"),
    ("search q= (1 %)", "search"),
    ("tag filter", "tagpage"),
]


def query_pages(
    url: Any,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
    rounds: int = 3,
) -> list[dict[str, Any]]:
    """The first page of each of a big user's queries against the plain list of 50, on one
    server, alternated (list, queries, list, queries...), before any scenario writes: each
    query's throughput is judged against the list measured beside it, not against a list
    measured minutes earlier on a fresher server and database."""
    print(f"1 worker, query pages against list 50: {rounds} rounds, alternated")
    with server(url, secret, 1, pool) as (base, _):
        prime(base, dataset, tokens)
        ops = ["list", *(op for _, op in QUERY_PAGES)]
        measured = _rounds({"service": base}, data, ops, profile, rounds)
    plain = [rate(stats) for stats in measured[("list", "service")]]
    rows = []
    for name, op in QUERY_PAGES:
        runs = measured[(op, "service")]
        mine = [rate(stats) for stats in runs]
        row = {
            "scenario": f"{profile.big_tasks:,}-task user: {name}, first 50",
            "rps": [round(r, 1) for r in mine],
            "list_rps": [round(r, 1) for r in plain],
            **_ratios(mine, plain),
            "p50_ms": statistics.median(stats["latency_ms"]["p50"] for stats in runs),
            "p99_ms": statistics.median(stats["latency_ms"]["p99"] for stats in runs),
        }
        print(f"  {name}: {row['ratio']:.2f} x list 50 (rounds: {row['pair_ratios']})")
        rows.append(row)
    return rows


def scenarios(
    url: Any,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    tmp: Path,
    profile: Profile,
) -> list[Result]:
    """Every scenario but the floor's and the deletes, in the order they run."""
    results: list[Result] = []
    print(f"1 worker, {profile.connections} connections, {profile.duration} s per scenario")
    with server(url, secret, 1, pool) as (base, process):
        prime(base, dataset, tokens)
        results.append(scenario("list 50 tasks", base, process, data, "list", profile, 1))
        results.append(
            scenario("MCP list_tasks (50 tasks)", base, process, data, "mcp_list", profile, 1)
        )
        # The same lists asked again with the ETag each user already has: 304s. Taken
        # now, before any scenario writes.
        conditional = tmp / "data-etags.lua"
        write_lua_data(conditional, dataset, tokens, list_etags(base, dataset, tokens))
        results.append(
            scenario(
                "list 50 tasks, unchanged (If-None-Match: 304)",
                base,
                process,
                conditional,
                "list304",
                profile,
                1,
            )
        )
        for name, op in [
            ("get one task", "get"),
            ("create task", "create"),
            ("create task with an Idempotency-Key", "create_key"),
            ("update task", "update"),
            ("toggle task", "toggle"),
            ("mixed 60/20/10/5/5", "mixed"),
        ]:
            results.append(scenario(name, base, process, data, op, profile, 1))
        results.append(
            scenario(
                f"full list ({profile.big_tasks:,} tasks), one at a time",
                base,
                process,
                data,
                "biglist",
                profile,
                1,
                connections=1,
            )
        )
        results.append(
            scenario(
                f"full list ({profile.big_tasks:,} tasks), unchanged (304), one at a time",
                base,
                process,
                conditional,
                "biglist304",
                profile,
                1,
                connections=1,
            )
        )
        results.extend(big_lists_with_small_requests(base, process, data, profile))
        big = f"{profile.big_tasks:,}-task user"
        for name, op in [(f"{big}: {query}, first 50", op) for query, op in QUERY_PAGES]:
            # At 100 connections: query_pages, beside the plain list.
            results.append(
                scenario(f"{name}, alone", base, process, data, op, profile, 1, connections=1)
            )
        results.append(
            scenario(
                f"{big}: walk all pages of 100, one at a time",
                base,
                process,
                data,
                "walk",
                profile,
                1,
                connections=1,
            )
        )
    print(f"2 workers, {profile.connections} connections")
    with server(url, secret, 2, pool) as (base, process):
        prime(base, dataset, tokens)
        prime(base, dataset, tokens)
        results.append(scenario("get one task", base, process, data, "get", profile, 2))
        results.append(scenario("mixed 60/20/10/5/5", base, process, data, "mixed", profile, 2))
    results.extend(observability_cost(url, secret, pool, dataset, tokens, data, profile))
    return results


def deletes(
    url: Any,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
) -> Result:
    """Last: deleting uses the seeded tasks up (each once)."""
    print("1 worker, deletes (each seeded task once)")
    with server(url, secret, 1, pool) as (base, process):
        prime(base, dataset, tokens)
        return scenario("delete task", base, process, data, "delete", profile, 1, warmup=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny dataset, 1 s per scenario")
    parser.add_argument("--duration", type=int, help="seconds per scenario")
    parser.add_argument("--connections", type=int, help="concurrent connections")
    parser.add_argument("--pool-size", type=int, default=10, help="DB_POOL_SIZE per worker")
    parser.add_argument("--floor-only", action="store_true", help="only the floor comparison")
    parser.add_argument(
        "--queries-only", action="store_true", help="only the query pages against list 50"
    )
    args = parser.parse_args()
    profile = SMOKE if args.smoke else FULL
    if args.duration:
        profile.duration = args.duration
    if args.connections:
        profile.connections = args.connections

    ensure_wrk()
    started = time.monotonic()
    results: list[Result] = []
    secret = secrets.token_urlsafe(48)
    settings = Settings(
        _env_file=None, database_url="postgresql://unused/x", better_auth_secret=secret
    )
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp, database(Path(tmp)) as url:
        print(f"database: {url.render_as_string(hide_password=True)}")
        migrate_fresh(url, str(ROOT / "alembic.ini"))
        seeding = time.monotonic()
        dataset = seed_profile(url, profile)
        seed_seconds = time.monotonic() - seeding
        print(f"seeded {dataset.task_count:,} tasks in {seed_seconds:.1f} s")
        data, tokens = lua_data(Path(tmp), dataset, settings)

        pool = args.pool_size
        everything = not (args.floor_only or args.queries_only)
        queries: list[dict[str, Any]] = []
        floor: list[dict[str, Any]] = []
        if everything or args.queries_only:  # first: before any scenario writes
            queries = query_pages(url, secret, pool, dataset, tokens, data, profile)
        if everything:
            results += scenarios(url, secret, pool, dataset, tokens, data, Path(tmp), profile)
        if everything or args.floor_only:
            floor = against_floor(url, secret, pool, dataset, tokens, data, profile)
        if everything:
            results.append(deletes(url, secret, pool, dataset, tokens, data, profile))

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "profile": "smoke" if args.smoke else "full",
        "tasks": dataset.task_count,
        "seed_seconds": round(seed_seconds, 1),
        "duration_s": profile.duration,
        "connections": profile.connections,
        "pool_size_per_worker": pool,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    suffix = (
        "-smoke"
        if args.smoke
        else "-floor"
        if args.floor_only
        else "-queries"
        if args.queries_only
        else ""
    )
    paths = write_reports(RESULTS, results, meta, floor, queries, suffix=suffix)
    print("\n" + paths["markdown"].read_text())
    print(f"wrote {', '.join(str(p.relative_to(ROOT)) for p in paths.values())}")
    failures = sum(r.non_2xx + r.socket_errors for r in results)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
