"""`--reminders`: how late reminders fire (issue 24), and what a burst of them costs the API.

Against the production server command with its default settings (the scheduler runs in the
worker, looking every `REMINDERS_POLL_SECONDS`, 0.5 s), with `reminders_pending` reminders
planned far ahead (100,000: the scheduler must not pay for them):

1. A burst: `reminders_burst` (1,000) tasks whose absolute reminder is due at the same instant,
   spread over the small users; once alone, then in `reminders_rounds` alternated rounds
   beside wrk's get one (a window that starts a second before the instant), each against an
   idle window. Both sides insert the same tasks the same 2.5 s before their instant; only
   their reminder differs: due at the instant on the firing side, 30 days after it on the idle
   one. So both pay alike for the insert's aftermath (WAL, hint bits, autovacuum), and the
   difference is the firing alone. Per side: get one's req/s, p50, p99, and the CPU per
   request of the server and PostgreSQL in the window; medians and their ratios, firing
   against idle. Targets: all fire within 5 s; the API's p99 within 10 %.
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

import psutil
import psycopg
from sqlalchemy.engine import URL

from dataset import Profile, prime
from events import _percentiles, _sql
from harness import cpu_seconds, rate, server, wrk
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


# The idle side's reminders: the same tasks, the same insert, due long after the window.
_IDLE_OFFSET = timedelta(days=30)


def _burst(
    url: URL, users: list[str], count: int, lead: float, *, fires: bool = True
) -> tuple[int, datetime]:
    """`count` tasks planned now around an instant `lead` seconds ahead: their reminder due
    at that instant (`fires`), or 30 days after it (the idle side, otherwise identical). The
    last event id before, and the instant."""
    after = _sql(url, _LAST_EVENT)[0]
    instant = datetime.now(UTC) + timedelta(seconds=lead)
    due = instant if fires else instant + _IDLE_OFFSET
    seconds = _plan(url, users, "Burst reminder ", due, 0.0, count)
    if datetime.now(UTC) >= instant:
        raise RuntimeError(f"planning {count:,} reminders took {seconds:.1f} s, past their time")
    return after, instant


def _say(what: str, lag: dict[str, Any]) -> None:
    print(
        f"  {what}: {lag['fired']:,} of {lag['expected']:,} fired; lag p50 {lag.get('p50')} "
        f"p99 {lag.get('p99')} max {lag.get('max')} ms",
        flush=True,
    )


def _get_one(base: str, process: psutil.Process, data: Path, profile: Profile) -> dict[str, Any]:
    """wrk's get one for `reminders_window` seconds: req/s, latency, and `cpu_us`, the CPU
    the server (scheduler included) and PostgreSQL spent per request meanwhile."""
    before = cpu_seconds(process)
    stats = wrk(
        base,
        data,
        "get",
        seconds=profile.reminders_window,
        connections=profile.connections,
        threads=profile.threads,
    )
    spent = cpu_seconds(process) - before
    if stats["errors"]["status"]:
        raise RuntimeError("get one: non-2xx answers beside the reminders")
    cpu_us = round(1e6 * spent / max(1, stats["requests"]), 1)
    return {"rps": round(rate(stats), 1), **stats["latency_ms"], "cpu_us": cpu_us}


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
    with server(url, secret, 1, pool) as (base, process):
        prime(base, dataset, tokens)
        print(f"1 worker, reminders: {burst:,} due in the same instant, nothing else running")
        after, due = _burst(url, users, burst, lead=2.0)
        result["burst_alone"] = _lags(url, after, due, burst)
        _say("alone", result["burst_alone"])
        _get_one(base, process, data, profile)  # warm-up
        rounds = profile.reminders_rounds
        print(
            f"1 worker, reminders: get one ({profile.connections} connections, "
            f"{profile.reminders_window} s) beside {burst:,} new tasks, their reminders firing "
            f"or 30 days ahead (idle), {rounds} alternated rounds"
        )
        for round_ in range(rounds):
            row: dict[str, Any] = {}
            for side in ("idle", "firing") if round_ % 2 == 0 else ("firing", "idle"):
                after, due = _burst(url, users, burst, lead=2.5, fires=side == "firing")
                time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 1))
                row[side] = _get_one(base, process, data, profile)
                if side == "firing":
                    row["lag"] = _lags(url, after, due, burst)
                print(
                    f"  round {round_ + 1}/{rounds} {side:<6} get one {row[side]['rps']:7.0f} "
                    f"req/s p50 {row[side]['p50']:6.1f} p99 {row[side]['p99']:6.1f} ms "
                    f"CPU {row[side]['cpu_us']:6.0f} us/request",
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
    """Medians of the rounds, firing against idle, with each side's spread (min-max), and
    the ratio of each round with their median."""
    summary: dict[str, Any] = {}
    for key in ("rps", "p50", "p99", "cpu_us"):
        entry: dict[str, Any] = {}
        for side in ("firing", "idle"):
            values = [row[side][key] for row in rounds]
            entry[side] = round(statistics.median(values), 1)
            entry[f"{side}_range"] = [round(min(values), 1), round(max(values), 1)]
        entry["ratio"] = round(entry["firing"] / entry["idle"], 3)
        # Each round's own ratio too: a drift of the shared machine moves both sides of a round.
        entry["pairs"] = [round(row["firing"][key] / row["idle"][key], 3) for row in rounds]
        entry["median_pair"] = round(statistics.median(entry["pairs"]), 3)
        summary[key] = entry
    print(
        "  get one, firing / idle (medians; min-max): "
        + ", ".join(
            f"{key} {v['firing']} ({v['firing_range'][0]}-{v['firing_range'][1]}) / "
            f"{v['idle']} ({v['idle_range'][0]}-{v['idle_range'][1]}) = {v['ratio']} x"
            for key, v in summary.items()
        )
    )
    print(
        "  get one, firing / idle per round: "
        + "; ".join(f"{key} {v['pairs']} (median {v['median_pair']})" for key, v in summary.items())
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
    get_one = result["get_one"]
    p99 = get_one["p99"]["ratio"]
    beside = f"req/s {get_one['rps']['ratio']} x, CPU/request {get_one['cpu_us']['ratio']} x"
    checks.append(
        ("reminders: get one p99 firing within 10 % of idle", f"{p99} x ({beside})", p99 <= 1.1)
    )  # fmt: skip
    return checks
