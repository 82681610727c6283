"""The scenarios of `make bench`: each endpoint alone and mixed, full lists, deletes last.

Each scenario runs against the production server command on the seeded dataset, with a warm-up,
and reports wrk's throughput and latency with the server's peak memory beside it.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import URL

from dataset import Profile, list_etags, prime, write_lua_data
from harness import RssSampler, server, wrk
from ratios import QUERY_PAGES
from seed import Dataset


@dataclass
class Result:
    """One scenario's wrk stats, with the server's peak memory while it ran."""

    name: str
    workers: int
    connections: int
    op: str
    stats: dict[str, Any]
    peak_rss_mb: float
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        rps: float = self.stats["requests"] / (self.stats["duration_us"] / 1e6)
        return rps

    @property
    def non_2xx(self) -> int:
        errors = self.stats["errors"]
        # `unexpected`: answers the scenario's Lua script counted as wrong (a 304 expected).
        return int(errors["status"]) + int(self.stats.get("unexpected", 0))

    @property
    def socket_errors(self) -> int:
        errors = self.stats["errors"]
        return int(errors["connect"] + errors["read"] + errors["write"] + errors["timeout"])


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
        # A daemon: a stopped run must not wait for it at exit (its wrk is stopped there).
        thread = threading.Thread(target=run_big, daemon=True)
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
    url: URL,
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


def scenarios(
    url: URL,
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
    if profile.observability:
        results.extend(observability_cost(url, secret, pool, dataset, tokens, data, profile))
    return results


def deletes(
    url: URL,
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
