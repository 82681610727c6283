"""Instructions per request of this tree and an earlier version, counted by valgrind.

Usage: python bench/count.py REF [--tree REF2] [--ops list,get,...] [--requests 50,250]

Neither req/s nor CPU time holds still on a shared 2-core machine; instructions executed do.
Each side gets a database migrated by its own migrations and seeded alike (as bench-compare
does, 300 users with 50 tasks), then bench/inprocess.py runs each scenario in-process under
`valgrind --tool=callgrind`, once with the smaller and once with the larger request count: the
difference over the extra requests is the cost of one request with start-up cancelled out
(client included, PostgreSQL not: its share is in bench-compare's CPU per request). Creates
run last, so the other scenarios read the seeded lists. Two counts run at a time; about
4 minutes per scenario with the defaults.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlalchemy.engine import URL

from compare import migrated, worktree
from dataset import Profile, lua_data, seed_profile
from harness import ROOT, database, stop_on_signals
from todo_api.config import Settings

PROFILE = Profile(300, 50, 0, 0, duration=0, warmup=0, connections=0)
DRIVER = Path(__file__).resolve().parent / "inprocess.py"


def instructions(tree: Path, url: URL, secret: str, users: Path, op: str, count: int) -> int:
    """Instructions callgrind counts for a whole run of `count` requests of `op`."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(tree / "backend" / "src"),
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "BETTER_AUTH_SECRET": secret,
        "BENCH_USERS": str(users),
        "ENVIRONMENT": "production",
        "PYTHONHASHSEED": "0",
    }
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    done = subprocess.run(
        [*command, str(DRIVER), op, str(count)],
        env=environment,
        cwd=tempfile.gettempdir(),  # no .env
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"{op} x {count} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ref", help="the git ref to compare with")
    parser.add_argument("--tree", help="a git ref to count instead of this working tree")
    parser.add_argument("--ops", default="list,get,update,toggle,create", help="scenarios")
    parser.add_argument("--requests", default="50,250", help="the two request counts")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is required: install it with `apt-get install valgrind`")
    stop_on_signals()
    low, high = (int(n) for n in args.requests.split(","))
    ops = args.ops.split(",")
    mine = args.tree or "this tree"
    secret = secrets.token_urlsafe(48)
    settings = Settings(
        _env_file=None, database_url="postgresql://unused/x", better_auth_secret=secret
    )
    with ExitStack() as stack:
        trees = {
            mine: stack.enter_context(worktree(args.tree)) if args.tree else ROOT,
            args.ref: stack.enter_context(worktree(args.ref)),
        }
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="todo-count-")))
        cluster = stack.enter_context(database(tmp))
        urls = {}
        for number, (side, tree) in enumerate(trees.items()):
            urls[side] = migrated(cluster, f"bench_count_{number}", tree, secret)
            dataset = seed_profile(urls[side], PROFILE)
        _, tokens = lua_data(tmp, dataset, settings)
        users = tmp / "users.txt"
        users.write_text("".join(f"{u.id} {u.lo} {u.hi} {tokens[u.id]}\n" for u in dataset.small))
        jobs = [(op, side, count) for op in ops for side in trees for count in (low, high)]
        with ThreadPoolExecutor(2) as pool:
            counted = pool.map(
                lambda job: instructions(trees[job[1]], urls[job[1]], secret, users, *job[::2]),
                jobs,
            )
            results = dict(zip(jobs, counted, strict=True))
    print(f"\ninstructions per request (runs of {high} minus {low} requests, client included)\n")
    print(f"| scenario | {mine} | {args.ref} | ratio |")
    print("|---|---:|---:|---:|")
    for op in ops:
        per = [
            (results[(op, side, high)] - results[(op, side, low)]) / (high - low) for side in trees
        ]
        print(f"| {op} | {per[0] / 1e6:.3f} M | {per[1] / 1e6:.3f} M | {per[0] / per[1]:.4f} x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
