"""What recording task events costs while live streams are open: migration 0008's writers
(a NOTIFY per write while a hub listens) against 0009's (no NOTIFY; the announcer tells the
hubs), in one run.

Usage: python bench/events_versions.py [--smoke] [--rounds N] [--seconds S]

performance.md's run 9 (runs 7 and 8 came from this script's first form, which compared 0007
and 0008: see its history). A before/after of two trees needs one run on this machine (its
speed moves a lot between runs), and the events section of `make bench` compares only the
trigger on and off. This seeds the default dataset, starts one production server with one
live stream open for the whole run (a user nobody writes for: its worker's hub listens and
holds the announcer's turn), and for create, update (PUT) and toggle (PATCH) alternates three
sides, switching the database functions by SQL between runs (no traffic then): 0008 with its
hub registered in `live_listeners` (a NOTIFY per write; the announcer still looks too), 0009
as landed, and the trigger off. Each run is bench/events.py's measurement (wrk after a 1 s
warm-up; the server's and PostgreSQL's CPU per request). It prints each side's median req/s
and its cost against off.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import events
from dataset import DEFAULT, SMOKE, lua_data, prime, seed_profile
from harness import ROOT, database, ensure_wrk, rate, server, stop_on_signals
from live import Streams
from seed import migrate_fresh
from todo_api.config import Settings
from todo_api.security.issuer import issue_token

LISTENER = "bench-listener"  # its stream stays open; nobody writes for it

VERSIONS = ROOT / "backend" / "src" / "todo_api" / "migrations" / "versions"


def _migration(file_name: str) -> ModuleType:
    """A migration's module (its file name is no Python identifier)."""
    spec = importlib.util.spec_from_file_location(Path(file_name).stem, VERSIONS / file_name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sides() -> dict[str, str]:
    """Each side as the SQL that sets it up, taking the writers' lock order (tasks first)."""
    m8, m9 = (
        _migration(name) for name in ("0008_cheaper_event_recording.py", "0009_announced_events.py")
    )
    lock = "LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE"
    enable = "ALTER TABLE tasks ENABLE TRIGGER tasks_record_event"
    version_0009 = [
        lock,
        m9._without(m8.RECORD_TASK_EVENT, m9._TASK_NOTIFY),
        "DROP TABLE IF EXISTS live_listeners",
    ]
    sides = {
        # A row as a hub registered it (its pid does not matter to the writers).
        "0008+hub": [
            lock,
            "CREATE TABLE IF NOT EXISTS live_listeners (pid integer PRIMARY KEY)",
            "INSERT INTO live_listeners (pid) VALUES (-1) ON CONFLICT DO NOTHING",
            m8.RECORD_TASK_EVENT,
            enable,
        ],
        "0009": [*version_0009, enable],
        "off": [*version_0009, "ALTER TABLE tasks DISABLE TRIGGER tasks_record_event"],
    }
    return {name: ";\n".join(statements) for name, statements in sides.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny dataset")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of the sides")
    parser.add_argument("--seconds", type=int, default=4, help="measured seconds per run")
    args = parser.parse_args()
    stop_on_signals()
    ensure_wrk()
    profile = dataclasses.replace(SMOKE if args.smoke else DEFAULT, event_seconds=args.seconds)
    sides = _sides()
    names = list(sides)
    secret = secrets.token_urlsafe(48)
    settings = Settings(
        _env_file=None, database_url="postgresql://unused/x", better_auth_secret=secret
    )
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp, database(Path(tmp)) as url:
        migrate_fresh(url, str(ROOT / "alembic.ini"))
        dataset = seed_profile(url, profile)
        data, tokens = lua_data(Path(tmp), dataset, settings)
        try:
            with server(url, secret, 1, 10) as (base, process):
                prime(base, dataset, tokens)
                listener = Streams(base)
                listener.open([(LISTENER, issue_token(settings, LISTENER, ttl_seconds=7200))])
                for round_ in range(args.rounds):
                    for _, op in events.COST_OPS:
                        for side in names if round_ % 2 == 0 else names[::-1]:
                            events._sql(url, sides[side])
                            stats = events._measured(base, process, data, op, profile)
                            if stats["errors"]["status"]:
                                raise RuntimeError(f"{op}, {side}: non-2xx answers")
                            runs.setdefault((op, side), []).append((rate(stats), stats["cpu_us"]))
                            print(
                                f"  round {round_ + 1}/{args.rounds} {op:<7} {side:<9}"
                                f"{rate(stats):7.0f} req/s  CPU {stats['cpu_us']:5.0f} us/request",
                                flush=True,
                            )
        finally:
            events._sql(url, sides["0009"])
    for name, op in events.COST_OPS:
        off = runs[(op, "off")]
        off_rps = statistics.median(r for r, _ in off)
        off_cpu = statistics.median(c for _, c in off)
        for side in names:
            rps = statistics.median(r for r, _ in runs[(op, side)])
            cpu = statistics.median(c for _, c in runs[(op, side)])
            pairs = sorted(
                round(1 - a[0] / b[0], 3) for a, b in zip(runs[(op, side)], off, strict=True)
            )
            print(
                f"{name:<15} {side:<9} {rps:6.0f} req/s: costs {100 * (1 - rps / off_rps):5.1f} % "
                f"(per round {pairs}); CPU {cpu:.0f} us/request "
                f"({100 * (cpu / off_cpu - 1):+.1f} %)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
