"""`make bench-compare REF=<git ref>`: this tree and an earlier version, side by side.

Usage: python bench/compare.py REF [--ops list,get,...] [--reps N] [--seconds S]
                                   [--connections N] [--smoke]

Runs on a machine whose speed moves a lot from one run to the next can only be compared
within one run. This seeds the benchmark's dataset once (migrated by this tree: the earlier
code runs against the current schema, which only adds columns), starts the production server
command twice, once for this tree and once for REF (checked out in a temporary git worktree),
and runs every scenario on both alternately (A B, B A, ...) REPS times after a warm-up. It
prints, per scenario, each side's median req/s with the min-max and p50, and the ratio of the
medians: the side-by-side numbers performance.md quotes.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataset import DEFAULT, SMOKE, Profile, lua_data, prime, seed_profile
from harness import ROOT, database, ensure_wrk, rate, server, stop_on_signals
from ratios import alternated
from seed import migrate_fresh
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ref", help="the git ref to compare this tree with")
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

    ensure_wrk()
    secret = secrets.token_urlsafe(48)
    settings = Settings(
        _env_file=None, database_url="postgresql://unused/x", better_auth_secret=secret
    )
    with (
        worktree(args.ref) as other,
        tempfile.TemporaryDirectory(prefix="todo-compare-") as tmp,
        database(Path(tmp)) as url,
    ):
        migrate_fresh(url, str(ROOT / "alembic.ini"))
        dataset = seed_profile(url, profile)
        data, tokens = lua_data(Path(tmp), dataset, settings)
        sides = {"this tree": ROOT / "backend" / "src", args.ref: other / "backend" / "src"}
        with (
            server(url, secret, 1, 10, pythonpath=sides["this tree"]) as (base_a, _),
            server(url, secret, 1, 10, pythonpath=sides[args.ref]) as (base_b, _),
        ):
            bases = {"this tree": base_a, args.ref: base_b}
            for base in bases.values():
                prime(base, dataset, tokens)
            measured = alternated(
                bases,
                data,
                ops,
                rounds=reps,
                seconds=seconds,
                warmup=2,
                connections=connections,
                threads=profile.threads,
            )
    rps = {key: [rate(stats) for stats in runs] for key, runs in measured.items()}
    p50 = {key: [stats["latency_ms"]["p50"] for stats in runs] for key, runs in measured.items()}
    print(f"\n{connections} connections, {reps} alternations of {seconds} s, medians\n")
    print(f"| scenario | this tree req/s | {args.ref} req/s | ratio | p50 ms (this / {args.ref}) |")
    print("|---|---:|---:|---:|---:|")
    for op in ops:
        mine, theirs = rps[(op, "this tree")], rps[(op, args.ref)]
        ratio = statistics.median(mine) / statistics.median(theirs)
        print(
            f"| {op} | {statistics.median(mine):,.0f} ({min(mine):,.0f}-{max(mine):,.0f}) "
            f"| {statistics.median(theirs):,.0f} ({min(theirs):,.0f}-{max(theirs):,.0f}) "
            f"| {ratio:.2f} x | {statistics.median(p50[(op, 'this tree')]):.1f} / "
            f"{statistics.median(p50[(op, args.ref)]):.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
