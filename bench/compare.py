"""`make bench-compare REF=<git ref>`: this tree and an earlier version, side by side.

Usage: python bench/compare.py REF [--tree REF2] [--ops list,get,...] [--reps N] [--seconds S]
                                   [--connections N] [--smoke]

Runs on a machine whose speed moves a lot from one run to the next can only be compared
within one run. This starts one PostgreSQL with a database per side, each migrated by that
side's own migrations (a later schema may add triggers that cost writes: the earlier code must
not pay for them) and seeded alike, starts the production server command once per side (REF,
and `--tree` instead of this working tree, checked out in temporary git worktrees), and runs
every scenario on both alternately (A B, B A, ...) REPS times after a warm-up. It prints, per
scenario, each side's median req/s and CPU per request (the side's server and PostgreSQL, over
the measured run) with their min-max, the ratio of the medians and the spread of each round's
ratio. Throughput swings with the other loads of a shared machine; CPU per request far less.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataset import DEFAULT, SMOKE, Profile, lua_data, prime, seed_profile
from harness import ROOT, cpu_seconds, database, ensure_wrk, rate, server, stop_on_signals
from ratios import alternated
from seed import libpq
from todo_api.config import Settings

# Scenarios that do not use up the dataset (delete does) and take 100 connections.
DEFAULT_OPS = "list,get,create,update,toggle"


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """REF checked out in a temporary worktree, removed on the way out."""
    with tempfile.TemporaryDirectory(prefix="todo-compare-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), ref],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
            )


def migrated(cluster: URL, name: str, tree: Path, secret: str) -> URL:
    """A new database `name` in the benchmark's PostgreSQL, migrated to head by `tree`'s own
    Alembic (its code, in a process of its own: older trees import other module paths)."""
    with psycopg.connect(libpq(cluster), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = cluster.set(database=name)
    environment = {
        **os.environ,
        "PYTHONPATH": str(tree / "backend" / "src"),
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "BETTER_AUTH_SECRET": secret,
    }
    command = [sys.executable, "-m", "alembic", "-c", str(tree / "alembic.ini"), "upgrade", "head"]
    subprocess.run(command, cwd=tree, env=environment, check=True, stdout=subprocess.DEVNULL)
    return url


def spread(values: list[float], digits: int = 0) -> str:
    """'median (min-max)' of `values`."""
    return (
        f"{statistics.median(values):,.{digits}f} "
        f"({min(values):,.{digits}f}-{max(values):,.{digits}f})"
    )


def report(
    measured: dict[tuple[str, str], list[dict[str, Any]]], ops: list[str], names: list[str]
) -> None:
    """Throughput and CPU per request per scenario: each side's median (min-max), the ratio of
    the medians (A over B) and each round's ratio, median (min-max)."""
    a, b = names
    for title, value in (
        ("req/s", rate),
        ("CPU us/request (server + PostgreSQL)", lambda stats: float(stats["cpu_us"])),
    ):
        print(f"\n| scenario | {a} {title} | {b} {title} | ratio of medians | per round |")
        print("|---|---:|---:|---:|---:|")
        for op in ops:
            mine = [value(stats) for stats in measured[(op, a)]]
            theirs = [value(stats) for stats in measured[(op, b)]]
            ratio = statistics.median(mine) / statistics.median(theirs)
            rounds = [x / y for x, y in zip(mine, theirs, strict=True)]
            print(
                f"| {op} | {spread(mine)} | {spread(theirs)} | {ratio:.3f} x "
                f"| {spread(rounds, 3)} |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ref", help="the git ref to compare with")
    parser.add_argument("--tree", help="a git ref to serve instead of this working tree")
    parser.add_argument("--ops", default=DEFAULT_OPS, help="scenarios of bench/tasks.lua")
    parser.add_argument("--reps", type=int, default=5, help="alternations per scenario")
    parser.add_argument("--seconds", type=int, default=6, help="measured seconds per run")
    parser.add_argument("--connections", type=int, help="concurrent connections")
    parser.add_argument("--smoke", action="store_true", help="tiny dataset, 1 repetition")
    args = parser.parse_args()
    stop_on_signals()
    profile: Profile = SMOKE if args.smoke else DEFAULT
    reps, seconds = (1, 1) if args.smoke else (args.reps, args.seconds)
    connections = args.connections or profile.connections
    ops = args.ops.split(",")
    mine = args.tree or "this tree"
    if mine == args.ref:
        sys.exit("the two sides are the same ref")

    ensure_wrk()
    secret = secrets.token_urlsafe(48)
    settings = Settings(
        _env_file=None, database_url="postgresql://unused/x", better_auth_secret=secret
    )
    with ExitStack() as stack:
        trees = {
            mine: stack.enter_context(worktree(args.tree)) if args.tree else ROOT,
            args.ref: stack.enter_context(worktree(args.ref)),
        }
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="todo-compare-")))
        cluster = stack.enter_context(database(tmp))
        urls, datasets = {}, []
        for number, (side, tree) in enumerate(trees.items()):
            print(f"{side}: a database migrated by its own tree, seeded", flush=True)
            urls[side] = migrated(cluster, f"bench_compare_{number}", tree, secret)
            datasets.append(seed_profile(urls[side], profile))
        if datasets[0] != datasets[1]:
            raise RuntimeError("the two databases were not seeded alike")
        data, tokens = lua_data(tmp, datasets[0], settings)
        bases, processes = {}, {}
        for side, tree in trees.items():
            code = tree / "backend" / "src"
            running = server(urls[side], secret, 1, 10, pythonpath=code)
            bases[side], processes[side] = stack.enter_context(running)
            prime(bases[side], datasets[0], tokens)
        idle = cpu_seconds(*processes.values())
        time.sleep(5)
        idle = (cpu_seconds(*processes.values()) - idle) / 5
        print(f"idle, both servers up: {1000 * idle:.1f} ms of CPU per second", flush=True)
        measured = alternated(
            bases,
            data,
            ops,
            rounds=reps,
            seconds=seconds,
            warmup=2,
            connections=connections,
            threads=profile.threads,
            processes=processes,
        )
    print(f"\n{connections} connections, {reps} alternations of {seconds} s, medians (min-max)")
    report(measured, ops, [mine, args.ref])
    return 0


if __name__ == "__main__":
    sys.exit(main())
