"""`--events`: what task events (issue 23) cost the writes, and how fast they reach NATS.

Three measurements, each against issue 23's target:

1. The cost of recording: create, update (PUT) and toggle (PATCH) driven by wrk as in the rest
   of the benchmark, on one server, with the outbox trigger enabled and disabled (`ALTER TABLE
   ... DISABLE TRIGGER`), alternated per round: the same run, the same data, only the trigger
   differs. No `EVENTS_URL`: this is what every deployment pays, sink or not.
2. The relay's throughput: a backlog of events recorded by the trigger (one INSERT ...
   generate_series), delivered to a `nats-server -js` of this run by `python -m todo_api relay`,
   timed from the command's start to the last event marked delivered. It is also the time to
   drain that backlog after an outage. The stream must then hold exactly that many messages.
3. Commit-to-broker latency: a writer paced at a fixed rate (creates, open loop) against the
   production server with `EVENTS_URL` (its in-process relay), and a JetStream consumer: for
   each created task, the broker's stored time and the consumer's receive time, each minus the
   event's `time` (set by the trigger inside the writing transaction, just before its commit).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import psutil
import psycopg
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from sqlalchemy.engine import URL

from dataset import Profile, prime
from harness import background, cpu_seconds, nats_server, rate, server, wrk
from logins import login_settings
from seed import Dataset, libpq

COST_OPS = [("create", "create"), ("update (PUT)", "update"), ("toggle (PATCH)", "toggle")]
_ENABLE = "ALTER TABLE tasks ENABLE TRIGGER tasks_record_event"
_DISABLE = "ALTER TABLE tasks DISABLE TRIGGER tasks_record_event"
# Everything recorded so far counts as delivered: the relay's backlog is then exactly the seed.
_SETTLE = "UPDATE task_events SET delivered_at = clock_timestamp() WHERE delivered_at IS NULL"
_SEED = (
    "INSERT INTO tasks (user_id, title, description)"
    " SELECT (%(users)s::text[])[1 + g %% cardinality(%(users)s::text[])],"
    " 'Backlog task ' || g, 'Recorded for the relay benchmark'"
    " FROM generate_series(1, %(count)s) AS g"
)
_WAITING = "SELECT EXISTS (SELECT 1 FROM task_events WHERE delivered_at IS NULL)"
_DRAINED = (
    "SELECT count(*), min(delivered_at), max(delivered_at),"
    " count(*) FILTER (WHERE delivered_at = (SELECT min(delivered_at) FROM task_events"
    " WHERE id > %(after)s)) FROM task_events WHERE id > %(after)s"
)


def _sql(url: URL, statement: str, params: dict[str, Any] | None = None) -> Any:
    """One statement on a connection of its own; its first row (None when it returns none)."""
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        connection.execute("SET statement_timeout = 0")
        connection.execute("SET lock_timeout = '10s'")  # an ALTER never waits for long
        cursor = connection.execute(statement, params)
        return cursor.fetchone() if cursor.description else None


def recording_cost(
    url: URL,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
) -> list[dict[str, Any]]:
    """Each write with the trigger on and off, alternated (on off, off on, ...), each run after
    a warm-up of its own; the trigger is left enabled."""
    rounds, seconds = profile.event_rounds, profile.event_seconds
    print(f"1 worker, events: cost of recording, trigger on / off, {rounds} rounds of {seconds} s")
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        with server(url, secret, 1, pool) as (base, process):
            prime(base, dataset, tokens)
            for round_ in range(rounds):
                for _, op in COST_OPS:
                    for side in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                        _sql(url, _ENABLE if side == "on" else _DISABLE)
                        stats = _measured(base, process, data, op, profile)
                        if stats["errors"]["status"]:
                            raise RuntimeError(f"{op}, trigger {side}: non-2xx answers")
                        runs.setdefault((op, side), []).append(stats)
                        latency = stats["latency_ms"]
                        print(
                            f"  round {round_ + 1}/{rounds} {op:<7} trigger {side:<3} "
                            f"{rate(stats):7.0f} req/s  p50 {latency['p50']:6.1f}  "
                            f"p99 {latency['p99']:6.1f} ms  CPU {stats['cpu_us']:5.0f} us/request",
                            flush=True,
                        )
    finally:
        _sql(url, _ENABLE)
    rows = []
    for name, op in COST_OPS:
        row: dict[str, Any] = {"scenario": name}
        for side in ("on", "off"):
            stats_list = runs[(op, side)]
            row[f"{side}_rps"] = [round(rate(stats), 1) for stats in stats_list]
            for key in ("p50", "p99"):
                values = [stats["latency_ms"][key] for stats in stats_list]
                row[f"{side}_{key}_ms"] = round(statistics.median(values), 1)
            cpu = statistics.median(stats["cpu_us"] for stats in stats_list)
            row[f"{side}_cpu_us"] = round(cpu)
        on, off = statistics.median(row["on_rps"]), statistics.median(row["off_rps"])
        row["cost"] = round(1 - on / off, 3)
        row["pair_costs"] = [
            round(1 - a / b, 3) for a, b in zip(row["on_rps"], row["off_rps"], strict=True)
        ]
        row["median_pair_cost"] = round(statistics.median(row["pair_costs"]), 3)
        row["cpu_cost"] = round(row["on_cpu_us"] / row["off_cpu_us"] - 1, 3)
        print(
            f"  recording costs {name} {100 * row['cost']:.1f} % of its throughput "
            f"({on:.0f} / {off:.0f} req/s); per round {row['pair_costs']}, "
            f"median {100 * row['median_pair_cost']:.1f} %; CPU per request "
            f"{row['on_cpu_us']} / {row['off_cpu_us']} us (+{100 * row['cpu_cost']:.1f} %)"
        )
        rows.append(row)
    return rows


def _measured(
    base: str, process: psutil.Process, data: Path, op: str, profile: Profile
) -> dict[str, Any]:
    """wrk's stats of `op` after a 1 s warm-up, with `cpu_us`: the CPU the server and
    PostgreSQL spent per request meanwhile (less sensitive than throughput to the other
    loads of a shared machine)."""
    wrk(base, data, op, seconds=1, connections=profile.connections, threads=profile.threads)
    before = cpu_seconds(process)
    stats = wrk(
        base,
        data,
        op,
        seconds=profile.event_seconds,
        connections=profile.connections,
        threads=profile.threads,
    )
    spent = cpu_seconds(process) - before
    return {**stats, "cpu_us": 1e6 * spent / max(1, stats["requests"])}


def relay_throughput(
    url: URL, nats_url: str, dataset: Dataset, count: int, log: Path
) -> dict[str, Any]:
    """`count` events recorded at once, drained to NATS by `python -m todo_api relay`."""
    print(f"events: relay throughput, a backlog of {count:,} events to NATS JetStream")
    _sql(url, _SETTLE)
    after = _sql(url, "SELECT coalesce(max(id), 0) FROM task_events")[0]
    seeding = time.monotonic()
    users = [user.id for user in dataset.small]
    _sql(url, _SEED, {"users": users, "count": count})
    print(f"  recorded {count:,} events in {time.monotonic() - seeding:.1f} s (one INSERT)")
    # As deployed: the API's login and the worker's (the relay's), not the owner.
    environment = {**os.environ, **login_settings(url), "EVENTS_URL": nats_url}
    deadline = 30 + count / 1000  # 1,000 events/s at least, or the run is broken
    started = time.time()
    command = [sys.executable, "-m", "todo_api", "relay"]
    with background(command, environment, log) as process:
        while _sql(url, _WAITING)[0]:
            if process.poll() is not None or time.time() - started > deadline:
                raise RuntimeError(f"the relay did not drain {count:,} events in {deadline:.0f} s")
            time.sleep(0.25)
        cpu = psutil.Process(process.pid).cpu_times()
    delivered, first, last, first_batch = _sql(url, _DRAINED, {"after": after})
    stored = asyncio.run(_stored(nats_url))
    if delivered != count or stored != count:
        raise RuntimeError(f"{count:,} events: {delivered:,} delivered, {stored:,} in the stream")
    total = last.timestamp() - started
    steady = (count - first_batch) / max(1e-6, (last - first).total_seconds())
    result = {
        "events": count,
        "drain_seconds": round(total, 2),
        "startup_seconds": round(first.timestamp() - started, 2),
        "events_per_s": round(count / total),
        "steady_events_per_s": round(steady),
        "relay_cpu_seconds": round(cpu.user + cpu.system, 1),
    }
    print(
        f"  drained {count:,} events in {total:.1f} s from the command's start "
        f"({result['startup_seconds']} s to the first batch): {count / total:,.0f} events/s, "
        f"{steady:,.0f} events/s after the first batch; relay CPU {result['relay_cpu_seconds']} s; "
        f"the stream holds {stored:,}"
    )
    return result


async def _stored(nats_url: str) -> int:
    client = await nats.connect(nats_url)
    try:
        return int((await client.jetstream().stream_info("TODO")).state.messages)
    finally:
        await client.close()


@dataclass
class _Arrivals:
    """For each created title: the event's time, the broker's stored time, receive time."""

    seen: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    waiting: set[str] | None = None  # titles still expected, once the writer is done
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, message: Msg) -> None:
        received = time.time()
        event = orjson.loads(message.data)
        if event["type"].endswith(".created"):
            occurred = datetime.fromisoformat(event["time"]).timestamp()
            stored = message.metadata.timestamp.timestamp()
            title = event["data"]["title"]
            self.seen[title] = (occurred, stored, received)
            if self.waiting is not None:
                self.waiting.discard(title)
                if not self.waiting:
                    self.complete.set()

    async def all_of(self, titles: list[str], within: float) -> None:
        """Until every one of `titles` has arrived, or `within` seconds have passed."""
        self.waiting = set(titles) - self.seen.keys()
        if not self.waiting:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self.complete.wait(), within)


async def _paced(
    base: str, nats_url: str, users: list[tuple[str, str]], per_second: int, seconds: int
) -> dict[str, Any]:
    """Creates at `per_second` (open loop: sent on schedule, whatever the answers) for a 2 s
    warm-up and `seconds`; the latencies of the events of the measured creates."""
    arrivals = _Arrivals()
    broker = await nats.connect(nats_url)
    consumer = await broker.jetstream().subscribe(
        "task-events",
        cb=arrivals.on_message,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    measured: list[str] = []
    failures = 0
    limit = asyncio.Semaphore(500)  # bounded: a stalled server cannot pile up requests

    async def create(http: httpx.AsyncClient, number: int, measure: bool) -> None:
        nonlocal failures
        user, token = users[number % len(users)]
        title = f"Paced task {number}"
        try:
            answer = await http.post(
                f"/api/{user}/tasks",
                json={"title": title},
                headers={"Authorization": f"Bearer {token}"},
            )
            if answer.status_code != 201:
                failures += 1
            elif measure:
                measured.append(title)
        except httpx.HTTPError:
            failures += 1
        finally:
            limit.release()

    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            loop = asyncio.get_running_loop()
            warmup, total = 2 * per_second, (2 + seconds) * per_second
            start, sending = loop.time(), []
            for number in range(total):
                await asyncio.sleep(max(0.0, start + number / per_second - loop.time()))
                await limit.acquire()
                sending.append(asyncio.create_task(create(http, number, number >= warmup)))
            sent_in = loop.time() - start
            await asyncio.gather(*sending)
        await arrivals.all_of(measured, within=30)
    finally:
        await consumer.unsubscribe()
        await broker.close()
    stored = [arrivals.seen[t][1] - arrivals.seen[t][0] for t in measured if t in arrivals.seen]
    received = [arrivals.seen[t][2] - arrivals.seen[t][0] for t in measured if t in arrivals.seen]
    return {
        "sent_per_s": round(total / sent_in, 1),
        "measured_creates": len(measured),
        "failures": failures,
        "missing": len(measured) - len(received),
        "stored_ms": _percentiles(stored),
        "received_ms": _percentiles(received),
    }


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if len(seconds) < 2:
        return {}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {
        "p50": round(1000 * statistics.median(seconds), 1),
        "p99": round(1000 * cuts[98], 1),
        "max": round(1000 * max(seconds), 1),
    }


def broker_latency(
    url: URL,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    nats_url: str,
    profile: Profile,
    tmp: Path,
) -> list[dict[str, Any]]:
    """Commit-to-broker latency at `profile.paced_rate` creates/s, for each poll interval."""
    per_second, seconds = profile.paced_rate, profile.paced_seconds
    users = [(user.id, tokens[user.id]) for user in dataset.small[:100]]
    rows = []
    for poll in profile.polls:
        print(
            f"1 worker, events: commit-to-broker latency, {per_second} creates/s for "
            f"{seconds} s, EVENTS_POLL_SECONDS={poll}"
        )
        _sql(url, _SETTLE)
        environment = {"EVENTS_URL": nats_url, "EVENTS_POLL_SECONDS": str(poll)}
        log = tmp / f"serve-poll-{poll}.log"
        with server(url, secret, 1, pool, env=environment, log=log) as (base, _):
            row = {
                "poll_seconds": poll,
                **asyncio.run(_paced(base, nats_url, users, per_second, seconds)),
            }
        # A relay that failed and backed off shows in the latency: say so.
        warnings = [line for line in log.read_text().splitlines() if "event delivery to" in line]
        row["relay_warnings"] = len(warnings)
        if warnings:
            print(f"  {len(warnings)} relay warnings, the first: {warnings[0]}")
        stored, received = row["stored_ms"], row["received_ms"]
        print(
            f"  sent {row['sent_per_s']}/s, {row['measured_creates']} measured, "
            f"{row['failures']} failed, {row['missing']} never arrived; commit to stored: "
            f"p50 {stored.get('p50')} p99 {stored.get('p99')} max {stored.get('max')} ms; "
            f"to the consumer: p50 {received.get('p50')} p99 {received.get('p99')} "
            f"max {received.get('max')} ms",
            flush=True,
        )
        rows.append(row)
    return rows


def events_section(
    url: URL,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    tmp: Path,
    profile: Profile,
) -> dict[str, Any]:
    """The three measurements, on one NATS server of this run."""
    recording = recording_cost(url, secret, pool, dataset, tokens, data, profile)
    (tmp / "nats").mkdir(exist_ok=True)
    with nats_server(tmp / "nats" / "jetstream") as nats_url:
        relay = relay_throughput(url, nats_url, dataset, profile.event_backlog, tmp / "relay.log")
        latency = broker_latency(url, secret, pool, dataset, tokens, nats_url, profile, tmp)
    return {"recording": recording, "relay": relay, "latency": latency}
