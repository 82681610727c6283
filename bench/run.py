"""`make bench`: seed a realistic dataset, serve it like production, load it with wrk, report.

Usage: python bench/run.py [--smoke | --full] [--floor-only | --queries-only | --events-only
                           | --reminders-only | --live-only] [--events] [--reminders] [--live]
                           [--duration S] [--connections N] [--pool-size N]

Scenarios run against the production server command (`python -m todo_api serve`): each
endpoint alone, a mixed workload, and full lists of 10,000-task users (alone, and 10 at once
while small requests are measured beside them). The default runs each for 8 s and the ratio
sections twice (under 10 minutes); `--full` runs 25 s, three rounds, and the cost of the request
log and metrics too (about 20 minutes). `--events` adds what task events cost and how fast they
reach NATS (bench/events.py, about 4 minutes more; `--smoke` always runs a tiny version);
`--reminders` how late reminders fire and what a burst costs the API (bench/reminders.py,
about 3 minutes), `--live` what 5,000 open live streams cost a worker and how fast a change
reaches them (bench/live.py, about 3 minutes); `--smoke` runs tiny versions of both.
Results go to bench/results/ as Markdown, JSON and a PNG chart. Everything started here is
stopped on the way out: error, Ctrl-C or SIGTERM.

Modules: harness (processes, servers, wrk, cleanup), dataset (profiles, seeding, tokens),
experiments (the scenarios), ratios (the alternated sections), events (task events),
reminders and live (issues 24 and 25), report (tables and chart).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dataset import DEFAULT, FULL, SMOKE, lua_data, seed_profile
from events import events_section
from experiments import Result, deletes, scenarios
from harness import ROOT, database, ensure_wrk, stop_on_signals
from live import live_section
from ratios import against_floor, query_pages
from reminders import reminders_section
from report import write_reports
from seed import migrate_fresh
from todo_api.config import Settings

RESULTS = ROOT / "bench" / "results"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="tiny dataset, 2 s per scenario")
    size.add_argument(
        "--full", action="store_true", help="25 s per scenario, 3 rounds, log/metrics cost"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--floor-only", action="store_true", help="only the floor comparison")
    only.add_argument(
        "--queries-only", action="store_true", help="only the query pages against list 50"
    )
    only.add_argument("--events-only", action="store_true", help="only the events section")
    only.add_argument("--reminders-only", action="store_true", help="only the reminders section")
    only.add_argument("--live-only", action="store_true", help="only the live updates section")
    parser.add_argument(
        "--events", action="store_true", help="task events: recording cost, relay, latency"
    )
    parser.add_argument(
        "--reminders", action="store_true", help="reminders: firing lag, cost of a burst"
    )
    parser.add_argument(
        "--live", action="store_true", help="live streams: memory, delivery, cost of 5,000"
    )
    parser.add_argument("--duration", type=int, help="seconds per scenario")
    parser.add_argument("--connections", type=int, help="concurrent connections")
    parser.add_argument("--pool-size", type=int, default=10, help="DB_POOL_SIZE per worker")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    stop_on_signals()
    profile = SMOKE if args.smoke else FULL if args.full else DEFAULT
    if args.duration:
        profile = dataclasses.replace(profile, duration=args.duration)
    if args.connections:
        profile = dataclasses.replace(profile, connections=args.connections)
    profile_name = "smoke" if args.smoke else "full" if args.full else "default"

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
        only = (args.floor_only, args.queries_only, args.events_only)
        everything = not any((*only, args.reminders_only, args.live_only))
        queries: list[dict[str, Any]] = []
        floor: list[dict[str, Any]] = []
        events: dict[str, Any] = {}
        realtime: dict[str, Any] = {}
        if everything or args.queries_only:  # first: before any scenario writes
            queries = query_pages(url, secret, pool, dataset, tokens, data, profile)
        if everything:
            results += scenarios(url, secret, pool, dataset, tokens, data, Path(tmp), profile)
        if everything or args.floor_only:
            floor = against_floor(url, secret, pool, dataset, tokens, data, profile)
        if (
            args.events or args.events_only or (args.smoke and everything)
        ):  # before deletes use tasks up
            events = events_section(url, secret, pool, dataset, tokens, data, Path(tmp), profile)
        if args.reminders or args.reminders_only or (args.smoke and everything):
            realtime["reminders"] = reminders_section(
                url, secret, pool, dataset, tokens, data, profile
            )
        if args.live or args.live_only or (args.smoke and everything):
            realtime["live"] = live_section(url, secret, pool, dataset, tokens, data, profile)
        if everything:
            results.append(deletes(url, secret, pool, dataset, tokens, data, profile))

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "profile": profile_name,
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
        else "-events"
        if args.events_only
        else "-reminders"
        if args.reminders_only
        else "-live"
        if args.live_only
        else ""
    )
    paths = write_reports(RESULTS, results, meta, floor, queries, events, realtime, suffix=suffix)
    print("\n" + paths["markdown"].read_text())
    print(f"wrote {', '.join(str(p.relative_to(ROOT)) for p in paths.values())}")
    failures = sum(r.non_2xx + r.socket_errors for r in results)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
