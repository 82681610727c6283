"""What recording task events costs, version against version: 0011's writers (the sequence
in `users`, the outbox's foreign key), 0013's (the sequence in `event_sequences`, no foreign
key; as landed until 0016) and 0017's (a `json` snapshot, `event_sequences` spread over more
pages), against the trigger off, in one run, with one live stream open.

Usage: python bench/events_versions.py [--smoke] [--rounds N] [--seconds S]
[--sides 0013,0017,off]

performance.md's runs 12-18 (runs 7-10 came from this script's earlier forms, which compared
0007/0008 and 0008/0009: see its history). A before/after of two trees needs one run on this
machine (its speed moves a lot between runs), and the events section of `make bench` compares
only the trigger on and off. This seeds the default dataset, starts one production server with
one live stream open for the whole run (a user nobody writes for: its worker's hub listens and
holds the announcer's turn), and for create, update (PUT) and toggle (PATCH) alternates the
sides, switching the database functions and storage (and 0011's column and foreign key) by SQL
between runs (no traffic then). Each run is bench/events.py's measurement (wrk after a 1 s
warm-up; the server's and PostgreSQL's CPU per request). It prints each side's median req/s
and its cost against off. The writes take turns at going first from round to round (a create
leaves work behind, such as autovacuum of the rows it added, that lands on whatever runs
next), and `--sides` leaves sides out (more rounds in the same time).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import psycopg
from sqlalchemy.engine import URL

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
    """Each side as the SQL that sets it up, taking the writers' lock order (tasks first).

    The tree is at 0017; "0013" puts back what 0017 changed (the `jsonb` snapshot, packed
    `event_sequences` pages: each side rewrites the outbox or that table only when it is not
    already as the side wants it, before the side's warm-up), and "0011" also what 0013 took
    away from the writers' path: `users.event_seq` (filled from `event_sequences`, and copied
    back when leaving the side, so the numbers carry on), the outbox's foreign key (NOT VALID:
    only new rows are checked, as they were) and 0011's function."""
    m8, m9, m13, m17 = (
        _migration(name)
        for name in (
            "0008_cheaper_event_recording.py",
            "0009_announced_events.py",
            "0013_cheaper_outbox_rows.py",
            "0017_cheaper_snapshots_and_sequences.py",
        )
    )
    lock = (
        "LOCK TABLE tasks, users IN SHARE ROW EXCLUSIVE MODE;"
        "LOCK TABLE event_sequences, task_events IN ACCESS EXCLUSIVE MODE"
    )
    enable = "ALTER TABLE tasks ENABLE TRIGGER tasks_record_event"
    record_0011 = m9._without(m8.RECORD_TASK_EVENT, m9._TASK_NOTIFY)
    record_0013 = m13.recording_functions()[0]
    record_0017 = m17.recording_functions()[0]
    leave_0011 = (
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'users'::regclass"
        " AND attname = 'event_seq' AND NOT attisdropped) THEN"
        " UPDATE event_sequences AS s SET last_seq = u.event_seq FROM users AS u"
        " WHERE u.id = s.user_id AND u.event_seq > s.last_seq;"
        " ALTER TABLE users DROP COLUMN event_seq; END IF; END $$"
    )
    fk = "fk_task_events_user_id_users"

    def storage(snapshot: str, fillfactor: int) -> list[str]:
        return [
            f"DO $$ BEGIN IF (SELECT atttypid FROM pg_attribute WHERE attname = 'task'"  # noqa: S608 (constants)
            f" AND attrelid = 'task_events'::regclass) <> '{snapshot}'::regtype THEN"
            f" ALTER TABLE task_events ALTER COLUMN task TYPE {snapshot} USING task::{snapshot};"
            f" END IF; IF coalesce((SELECT reloptions FROM pg_class"
            f" WHERE oid = 'event_sequences'::regclass), '{{}}') <> '{{fillfactor={fillfactor}}}'"
            f" THEN ALTER TABLE event_sequences SET (fillfactor = {fillfactor});"
            f" CLUSTER event_sequences USING pk_event_sequences; ANALYZE event_sequences;"
            f" END IF; END $$"
        ]

    version_0013 = [
        lock,
        leave_0011,
        f"ALTER TABLE task_events DROP CONSTRAINT IF EXISTS {fk}",
        m8.TASK_SNAPSHOT,
        *storage("jsonb", 100),
        record_0013,
    ]
    version_0017 = [*version_0013[:3], *storage("json", m17.SEQUENCE_FILLFACTOR), record_0017]
    sides = {
        "0011": [
            *version_0013,
            "ALTER TABLE users ADD COLUMN event_seq bigint NOT NULL DEFAULT 0",
            "UPDATE users SET event_seq = s.last_seq FROM event_sequences AS s"
            " WHERE s.user_id = users.id AND s.last_seq <> 0",
            f"ALTER TABLE task_events ADD CONSTRAINT {fk} FOREIGN KEY (user_id)"
            " REFERENCES users (id) ON DELETE CASCADE NOT VALID",
            record_0011,
            enable,
        ],
        "0013": [*version_0013, enable],
        "0017": [*version_0017, enable],
        # Off leaves the storage as the side before it left it: writes do not touch it then.
        "off": [*version_0013[:3], "ALTER TABLE tasks DISABLE TRIGGER tasks_record_event"],
    }
    return {name: ";\n".join(statements) for name, statements in sides.items()}


def _switch(url: URL, sql: str) -> None:
    """Set a side up. A request still finishing when wrk stops can hold `users` (a create's
    CTE) and wait for `tasks` while the switch holds `tasks` and waits for `users`: PostgreSQL
    cancels one of the two; the switch is one transaction, so it is simply run again."""
    for attempt in range(5):
        try:
            events._sql(url, sql)
            return
        except psycopg.errors.DeadlockDetected:
            if attempt == 4:
                raise
            time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny dataset")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of the sides")
    parser.add_argument("--seconds", type=int, default=4, help="measured seconds per run")
    parser.add_argument("--sides", default="0013,0017,off", help="sides to compare (off: kept)")
    args = parser.parse_args()
    stop_on_signals()
    ensure_wrk()
    profile = dataclasses.replace(SMOKE if args.smoke else DEFAULT, event_seconds=args.seconds)
    sides = _sides()
    names = [name for name in sides if name in {*args.sides.split(","), "off"}]
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
                    turn = round_ % len(events.COST_OPS)
                    for _, op in events.COST_OPS[turn:] + events.COST_OPS[:turn]:
                        for side in names if round_ % 2 == 0 else names[::-1]:
                            _switch(url, sides[side])
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
            events._sql(url, sides["0017"])
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
