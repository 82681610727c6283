"""`--reminders`: how late reminders fire (issue 24), and what a burst of them costs the API.

Against the production server command with its default settings (the scheduler runs in the
worker, looking every `REMINDERS_POLL_SECONDS`, 0.5 s), with `reminders_pending` reminders
planned far ahead (100,000: the scheduler must not pay for them):

1. A burst: `reminders_burst` (1,000) tasks whose absolute reminder is due at the same instant,
   spread over the small users; once alone, then in alternated rounds beside wrk's get one
   (a window that starts a second before the instant), each against a window with nothing
   due: get one's p50/p99 and req/s firing against idle. Target: all fire within 5 s; the
   API's latency within 10 %.
2. A steady `reminders_rate` (50) reminders a second for `reminders_seconds` (20). Target:
   p99 < 2 s.

The lag of each reminder is its `reminder.due` event's `fired_at - scheduled_for` (both set
by `fire_due_reminders` in the outbox: the firing transaction's clock, not a client's). Tasks
and reminders are seeded by the trigger that plans them, in one INSERT each, in a transaction
with `SET LOCAL statement_timeout = 0` (the role's deadline is for requests, not seeding).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from dataset import Profile, prime
from events import _percentiles, _sql
from harness import rate, server, wrk
from seed import Dataset, libpq

# Each row a task of one of `users`, in turn, with one absolute reminder at `first` plus
# (g - 1) * `spacing` seconds: 0 spacing is a burst, 0.02 s is 50 a second.
_PLAN = (
    "INSERT INTO tasks (user_id, title, reminders)"
    " SELECT (%(users)s::text[])[1 + g %% cardinality(%(users)s::text[])],"
    " %(title)s || g, jsonb_build_array(jsonb_build_object('at',"
    " %(first)s::timestamptz + (g - 1) * %(spacing)s * interval '1 second'))"
    " FROM generate_series(1, %(count)s) AS g"
)
_LAST_EVENT = "SELECT coalesce(max(id), 0) FROM task_events"
_WAITING = "SELECT count(*) FROM task_reminders WHERE fire_at <= %(last)s"
_LAGS = (
    "SELECT extract(epoch FROM (detail ->> 'fired_at')::timestamptz"
    " - (detail ->> 'scheduled_for')::timestamptz)::float8"
    " FROM task_events WHERE type = 'reminder.due' AND id > %(after)s"
)


def _plan(
    url: URL, users: list[str], title: str, first: datetime, spacing: float, count: int
) -> float:
    """Plan `count` reminders (see _PLAN); the seconds it took."""
    started = time.monotonic()
    with psycopg.connect(libpq(url)) as connection, connection.transaction():
        connection.execute("SET LOCAL statement_timeout = 0")
        params = {"users": users, "title": title, "first": first, "spacing": spacing}
        connection.execute(_PLAN, {**params, "count": count})
    return time.monotonic() - started


def _lags(url: URL, after: int, last: datetime, expected: int) -> dict[str, Any]:
    """Once every reminder due by `last` has fired (or 30 s after it): the lags of the
    reminder events recorded after event `after`."""
    deadline = last + timedelta(seconds=30)
    while datetime.now(UTC) < last or _sql(url, _WAITING, {"last": last})[0]:
        if datetime.now(UTC) > deadline:
            break
        time.sleep(0.2)
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        lags = [row[0] for row in connection.execute(_LAGS, {"after": after})]
    return {"fired": len(lags), "expected": expected, **_percentiles(lags)}


def _burst(url: URL, users: list[str], count: int, lead: float) -> tuple[int, datetime]:
    """`count` reminders due `lead` seconds from now: the last event id before, and when."""
    after = _sql(url, _LAST_EVENT)[0]
    due = datetime.now(UTC) + timedelta(seconds=lead)
    seconds = _plan(url, users, "Burst reminder ", due, 0.0, count)
    if datetime.now(UTC) >= due:
        raise RuntimeError(f"planning {count:,} reminders took {seconds:.1f} s, past their time")
    return after, due


def _say(what: str, lag: dict[str, Any]) -> None:
    print(
        f"  {what}: {lag['fired']:,} of {lag['expected']:,} fired; lag p50 {lag.get('p50')} "
        f"p99 {lag.get('p99')} max {lag.get('max')} ms",
        flush=True,
    )


def _get_one(base: str, data: Path, profile: Profile) -> dict[str, Any]:
    stats = wrk(
        base,
        data,
        "get",
        seconds=profile.reminders_window,
        connections=profile.connections,
        threads=profile.threads,
    )
    if stats["errors"]["status"]:
        raise RuntimeError("get one: non-2xx answers beside the reminders")
    return {"rps": round(rate(stats), 1), **stats["latency_ms"]}


def reminders_section(
    url: URL,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
) -> dict[str, Any]:
    users = [user.id for user in dataset.small]
    pending, burst = profile.reminders_pending, profile.reminders_burst
    far = datetime.now(UTC) + timedelta(days=30)
    seconds = _plan(url, users, "Later reminder ", far, 1.0, pending)
    print(f"reminders: planned {pending:,} reminders 30 days ahead in {seconds:.1f} s")
    result: dict[str, Any] = {"pending": pending, "burst": burst, "rounds": []}
    with server(url, secret, 1, pool) as (base, _):
        prime(base, dataset, tokens)
        print(f"1 worker, reminders: {burst:,} due in the same instant, nothing else running")
        after, due = _burst(url, users, burst, lead=2.0)
        result["burst_alone"] = _lags(url, after, due, burst)
        _say("alone", result["burst_alone"])
        _get_one(base, data, profile)  # warm-up
        print(
            f"1 worker, reminders: get one ({profile.connections} connections, "
            f"{profile.reminders_window} s) with {burst:,} firing and idle, alternated"
        )
        for round_ in range(profile.rounds):
            row: dict[str, Any] = {}
            for side in ("idle", "firing") if round_ % 2 == 0 else ("firing", "idle"):
                if side == "firing":
                    after, due = _burst(url, users, burst, lead=2.5)
                    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 1))
                row[side] = _get_one(base, data, profile)
                if side == "firing":
                    row["lag"] = _lags(url, after, due, burst)
                print(
                    f"  round {round_ + 1} {side:<6} get one {row[side]['rps']:7.0f} req/s "
                    f"p50 {row[side]['p50']:6.1f} p99 {row[side]['p99']:6.1f} ms",
                    flush=True,
                )
            _say(f"round {round_ + 1} beside get one", row["lag"])
            result["rounds"].append(row)
        per_second, steady_s = profile.reminders_rate, profile.reminders_seconds
        count = per_second * steady_s
        print(f"1 worker, reminders: a steady {per_second} a second for {steady_s} s")
        after = _sql(url, _LAST_EVENT)[0]
        first = datetime.now(UTC) + timedelta(seconds=2)
        _plan(url, users, "Steady reminder ", first, 1 / per_second, count)
        last = first + timedelta(seconds=(count - 1) / per_second)
        result["steady"] = {"per_second": per_second, **_lags(url, after, last, count)}
        _say("steady", result["steady"])
    result["get_one"] = _ratios(result["rounds"])
    return result


def _ratios(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the rounds, firing against idle."""
    summary: dict[str, Any] = {}
    for key in ("rps", "p50", "p99"):
        firing = round(statistics.median(row["firing"][key] for row in rounds), 1)
        idle = round(statistics.median(row["idle"][key] for row in rounds), 1)
        summary[key] = {"firing": firing, "idle": idle, "ratio": round(firing / idle, 3)}
    print(
        "  get one, firing / idle (medians): "
        + ", ".join(f"{k} {v['firing']} / {v['idle']} ({v['ratio']} x)" for k, v in summary.items())
    )
    return summary


def reminders_checks(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Issue 24's targets."""
    if not result:
        return []
    checks = []
    bursts = [result["burst_alone"], *(row["lag"] for row in result["rounds"])]
    worst = max(lag.get("max", 0.0) for lag in bursts)
    every = all(lag["fired"] == lag["expected"] for lag in bursts)
    checks.append(
        (f"reminders: {result['burst']:,} due at once all fire within 5 s", f"max {worst} ms",
         every and worst < 5000)
    )  # fmt: skip
    steady = result["steady"]
    checks.append(
        (f"reminders: {steady['per_second']}/s, p99 lag < 2 s", f"{steady.get('p99')} ms",
         steady["fired"] == steady["expected"] and steady.get("p99", 1e9) < 2000)
    )  # fmt: skip
    p99 = result["get_one"]["p99"]["ratio"]
    checks.append(("reminders: get one p99 firing within 10 % of idle", f"{p99} x", p99 <= 1.1))
    return checks
