"""What the second wall (row-level security, issue 27) costs get one, list 50 and create: the
same tree, the same server and database, the wall on and off, in one run.

Usage: python bench/wall_versions.py [--smoke] [--rounds N] [--seconds S] [--ops get,list,create]

`make bench-compare REF=<the tree before the wall>` compares two trees, and so also everything
that landed between them (chat, the cheaper outbox, ...), with two servers and two databases
sharing the machine. This isolates the wall: one production server as the application's login,
one seeded database, and two sides switched by SQL between runs (no traffic then):

- `wall`: as migrated: the policies enabled and forced on every table that has them, and the
  gate `set_acting_user(:owner)` of migration 0014 at the head of every statement;
- `off`: row-level security disabled on those tables and the gate replaced by an inlinable
  `SELECT true` (the planner folds it away): the statements as they were before the wall.

What stays the same on both sides is what the wall did not change: the server's code and the
login role it connects as (not the owner; its permission checks were counted at 1.5 % of a
get's statement, performance.md). Each run is bench/events.py's measurement (wrk after a 1 s
warm-up; the server's and PostgreSQL's CPU per request); the scenarios take turns at going
first from round to round, and the two sides alternate which goes first.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL

import events
from dataset import DEFAULT, SMOKE, lua_data, prime, seed_profile
from events_versions import _migration
from events_versions import _switch as _switch_side
from harness import ROOT, database, ensure_wrk, rate, server, stop_on_signals
from logins import app_login_url
from seed import migrate_fresh
from todo_api.config import Settings

_PROTECTED = "SELECT array_agg(DISTINCT tablename::text ORDER BY tablename::text) FROM pg_policies"
_GATE_OFF = (
    "CREATE OR REPLACE FUNCTION set_acting_user(owner text) RETURNS boolean"
    " LANGUAGE sql IMMUTABLE AS $$ SELECT true $$"
)


def _sides(tables: list[str]) -> dict[str, str]:
    """Each side as one transaction of SQL."""
    gate_on = _migration("0014_cheaper_row_security.py").SET_ACTING_USER.replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
    )
    on = [f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY" for t in tables]
    off = [
        f"ALTER TABLE {t} DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY" for t in tables
    ]
    return {"wall": ";\n".join([gate_on, *on]), "off": ";\n".join([_GATE_OFF, *off])}


def _switch(url: URL, sql: str, side: str) -> None:
    """Set a side up, and check it is that side: the login, acting for nobody, sees no task
    behind the wall and all of them without it."""
    _switch_side(url, sql)  # retried on a deadlock with a request still finishing
    seen = events._sql(app_login_url(url), "SELECT count(*) > 0 FROM tasks")[0]
    if seen != (side == "off"):
        raise RuntimeError(f"side {side}: the login acting for nobody sees tasks: {seen}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny dataset")
    parser.add_argument("--rounds", type=int, default=8, help="alternations of the sides")
    parser.add_argument("--seconds", type=int, default=4, help="measured seconds per run")
    parser.add_argument("--ops", default="get,list,create", help="scenarios of bench/tasks.lua")
    args = parser.parse_args()
    stop_on_signals()
    ensure_wrk()
    profile = dataclasses.replace(SMOKE if args.smoke else DEFAULT, event_seconds=args.seconds)
    ops = args.ops.split(",")
    secret = secrets.token_urlsafe(48)
    settings = Settings(
        _env_file=None, database_url="postgresql://unused/x", better_auth_secret=secret
    )
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp, database(Path(tmp)) as url:
        migrate_fresh(url, str(ROOT / "alembic.ini"))
        dataset = seed_profile(url, profile)
        data, tokens = lua_data(Path(tmp), dataset, settings)
        sides = _sides(list(events._sql(url, _PROTECTED)[0]))
        try:
            with server(url, secret, 1, 10) as (base, process):
                prime(base, dataset, tokens)
                for round_ in range(args.rounds):
                    turn = round_ % len(ops)
                    for op in ops[turn:] + ops[:turn]:
                        for side in ("wall", "off") if round_ % 2 == 0 else ("off", "wall"):
                            _switch(url, sides[side], side)
                            stats = events._measured(base, process, data, op, profile)
                            if stats["errors"]["status"]:
                                raise RuntimeError(f"{op}, {side}: non-2xx answers")
                            runs.setdefault((op, side), []).append((rate(stats), stats["cpu_us"]))
                            print(
                                f"  round {round_ + 1}/{args.rounds} {op:<7} {side:<5}"
                                f"{rate(stats):7.0f} req/s  CPU {stats['cpu_us']:5.0f} us/request",
                                flush=True,
                            )
        finally:
            events._sql(url, sides["wall"])
    for op in ops:
        wall, off = runs[(op, "wall")], runs[(op, "off")]
        pairs = sorted(round(1 - a[0] / b[0], 3) for a, b in zip(wall, off, strict=True))
        cpu_pairs = sorted(round(a[1] / b[1] - 1, 3) for a, b in zip(wall, off, strict=True))
        rps = [statistics.median(r for r, _ in side) for side in (wall, off)]
        cpu = [statistics.median(c for _, c in side) for side in (wall, off)]
        print(
            f"{op:<7} wall / off: {rps[0]:6.0f} / {rps[1]:6.0f} req/s, the wall costs "
            f"{100 * (1 - rps[0] / rps[1]):5.1f} % (per round {pairs}); CPU {cpu[0]:.0f} / "
            f"{cpu[1]:.0f} us/request ({100 * (cpu[0] / cpu[1] - 1):+.1f} %; per round "
            f"{cpu_pairs})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
