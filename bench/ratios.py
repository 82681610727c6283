"""The sections of `make bench` judged by ratios measured within one run, sides alternated.

Runs on a machine whose speed drifts a lot can only be compared within one run: the query pages
against the plain list beside them, and the service against the floor app (bench/floor.py).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import URL

from dataset import Profile, prime
from harness import cpu_seconds, floor_server, rate, server, wrk
from seed import Dataset

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
    processes: dict[str, psutil.Process] | None = None,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """wrk's stats of each op on each side (`bases`: name -> URL), `rounds` times, the sides
    in turn (A B, then B A, ...), each run after a warm-up of its own: runs on a machine
    whose speed drifts can only be compared within one run. Non-2xx answers are an error.
    With `processes` (name -> server process), each run's stats get `cpu_us`: the CPU that
    side's server and PostgreSQL spent per request during the measured run."""
    measured: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_ in range(rounds):
        for op in ops:
            order = list(bases) if round_ % 2 == 0 else list(reversed(bases))
            for side in order:
                options = {"connections": connections, "threads": threads}
                wrk(bases[side], data, op, seconds=warmup, **options)
                process = processes[side] if processes else None
                before = cpu_seconds(process) if process else 0.0
                stats = wrk(bases[side], data, op, seconds=seconds, **options)
                if process:
                    spent = cpu_seconds(process) - before
                    stats["cpu_us"] = 1e6 * spent / max(1, stats["requests"])
                if stats["errors"]["status"]:
                    raise RuntimeError(f"{op} on {side}: non-2xx answers")
                measured.setdefault((op, side), []).append(stats)
                cpu = f"  CPU {stats['cpu_us']:6.0f} us/request" if process else ""
                print(f"  round {round_ + 1}/{rounds} {op:<8} {side:<12} {rate(stats):8.0f} req/s"
                      f"{cpu}", flush=True)  # fmt: skip
    return measured


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
    url: URL,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
) -> list[dict[str, Any]]:
    """Each of FLOOR_SCENARIOS on the service and on the floor app, alternated: what one
    run of this machine can do at all, and how much of it the service gets."""
    rounds = profile.rounds
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
    url: URL,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
) -> list[dict[str, Any]]:
    """The first page of each of a big user's queries against the plain list of 50, on one
    server, alternated (list, queries, list, queries...), before any scenario writes: each
    query's throughput is judged against the list measured beside it, not against a list
    measured minutes earlier on a fresher server and database."""
    rounds = profile.rounds
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
