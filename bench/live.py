"""`--live`: what open live streams (issue 25) cost one worker, and how fast a change reaches
them.

Against the production server command, one worker, default settings (`LIVE_MAX_STREAMS`
5,000 per worker, `LIVE_MAX_STREAMS_PER_USER` 10: the streams are spread ten to a user):

1. Memory: the server's RSS (its processes together) before and after `live_streams` (5,000)
   streams are opened, divided by their number; before is taken after 50 streams were opened
   and closed, so first-use allocations do not count. Target < 50 KB a stream.
2. Delivery: one user's 3 streams among them (httpx, parsed as `EventSource` would), while a
   paced writer (open loop) creates `live_rate` (200) of that user's tasks a second for
   `live_seconds` (20, after 2 s of warm-up): per event and stream, its receipt minus the task's
   `updated_at` (the server's clock inside the writing transaction; the same machine), and
   minus the moment the create's answer arrived. Target p99 < 250 ms.
3. Get one (wrk, like the rest of the benchmark) with the streams open and without,
   alternated (with, without, without, with, ...). Target >= 0.9 x.

The idle streams are raw sockets of one asyncio loop in a thread of this process, opened 50
at a time; nothing reads them (a heartbeat every 15 s fits in the socket buffers).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Coroutine
from contextlib import AsyncExitStack, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
import psutil
from sqlalchemy.engine import URL

from dataset import Profile, prime
from events import _percentiles
from harness import rate, server, wrk
from seed import Dataset

T = TypeVar("T")
PER_USER = 10
MEASURED = 3


class Streams:
    """Idle streams held open by an asyncio loop of their own (in a daemon thread)."""

    def __init__(self, base: str) -> None:
        address = urlsplit(base)
        self.host, self.port = address.hostname or "127.0.0.1", address.port or 80
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coroutine: Coroutine[Any, Any, T], within: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(within)

    async def _one(self, user: str, token: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), 10
            )
            writer.write(
                f"GET /api/{user}/events HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            if not head.startswith(b"HTTP/1.1 200"):
                writer.close()
                raise RuntimeError(f"a stream was refused: {head.decode(errors='replace')}")
            await asyncio.wait_for(reader.readuntil(b"\n\n"), 30)  # its `retry:` line
            self.writers.append(writer)

    def open(self, owners: list[tuple[str, str]]) -> float:
        """One stream per (user, token); the seconds it took."""
        started = time.monotonic()

        async def all_of() -> None:
            limit = asyncio.Semaphore(50)
            await asyncio.gather(*(self._one(user, token, limit) for user, token in owners))

        self.run(all_of())
        return time.monotonic() - started

    def close(self) -> None:
        async def all_of() -> None:
            for writer in self.writers:
                writer.close()
            self.writers.clear()

        self.run(all_of())
        time.sleep(1)  # the server notices and lets go of them


def _rss(process: psutil.Process) -> int:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


async def _read(stream: httpx.Response, got: dict[str, float], updated: dict[str, float]) -> None:
    """Each `task.created` event of `stream`: its title's receipt time (and `updated_at`)."""
    kind = ""
    async for line in stream.aiter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind == "task.created":
            received = time.time()
            task = orjson.loads(line.removeprefix("data: "))
            got[task["title"]] = received
            updated[task["title"]] = datetime.fromisoformat(task["updated_at"]).timestamp()


async def _delivery(
    base: str, user: str, token: str, per_second: int, seconds: int
) -> dict[str, Any]:
    """The paced writer and `MEASURED` streams of `user` (see the module docstring)."""
    headers = {"Authorization": f"Bearer {token}"}
    answered: dict[str, float] = {}
    updated: dict[str, float] = {}
    got: list[dict[str, float]] = [{} for _ in range(MEASURED)]
    failures = 0
    limit = asyncio.Semaphore(500)  # a stalled server cannot pile up requests

    async def create(http: httpx.AsyncClient, number: int) -> None:
        nonlocal failures
        title = f"Live task {number}"
        try:
            answer = await http.post(f"/api/{user}/tasks", json={"title": title}, headers=headers)
            if answer.status_code == 201:
                answered[title] = time.time()
            else:
                failures += 1
        except httpx.HTTPError:
            failures += 1
        finally:
            limit.release()

    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=10))
        readers = []
        for n in range(MEASURED):
            path = f"/api/{user}/events"
            response = await stack.enter_async_context(
                http.stream("GET", path, headers=headers, timeout=60)
            )
            if response.status_code != 200:
                raise RuntimeError(f"a measured stream was refused: {response.status_code}")
            readers.append(asyncio.create_task(_read(response, got[n], updated)))
        loop = asyncio.get_running_loop()
        warmup, total = 2 * per_second, (2 + seconds) * per_second
        start, sending = loop.time(), []
        for number in range(total):
            await asyncio.sleep(max(0.0, start + number / per_second - loop.time()))
            await limit.acquire()
            sending.append(asyncio.create_task(create(http, number)))
        sent_in = loop.time() - start
        await asyncio.gather(*sending)
        measured = [f"Live task {n}" for n in range(warmup, total) if f"Live task {n}" in answered]
        for _ in range(300):  # 30 s at most for the last deliveries
            if all(t in g for g in got for t in measured):
                break
            await asyncio.sleep(0.1)
        for reader in readers:
            reader.cancel()
            with suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader
    from_write = [g[t] - updated[t] for g in got for t in measured if t in g]
    from_answer = [g[t] - answered[t] for g in got for t in measured if t in g]
    return {
        "sent_per_s": round(total / sent_in, 1),
        "measured_creates": len(measured),
        "failures": failures,
        "missing": MEASURED * len(measured) - len(from_write),
        "from_updated_at_ms": _percentiles(from_write),
        "from_answer_ms": _percentiles(from_answer),
    }


def live_section(
    url: URL,
    secret: str,
    pool: int,
    dataset: Dataset,
    tokens: dict[str, str],
    data: Path,
    profile: Profile,
) -> dict[str, Any]:
    count = profile.live_streams
    measured_user = dataset.small[0].id
    others = dataset.small[1:]
    owners = [
        (user.id, tokens[user.id])
        for n in range(count - MEASURED)
        for user in [others[n // PER_USER]]
    ]
    result: dict[str, Any] = {"streams": count}
    with server(url, secret, 1, pool) as (base, process):
        prime(base, dataset, tokens)
        streams = Streams(base)
        streams.open(owners[:50])
        streams.close()
        before = _rss(process)
        seconds = streams.open(owners)
        time.sleep(2)
        after = _rss(process)
        per_stream = (after - before) / len(owners)
        result["memory"] = {
            "rss_before_mb": round(before / 2**20, 1),
            "rss_after_mb": round(after / 2**20, 1),
            "per_stream_kb": round(per_stream / 1024, 1),
            "open_seconds": round(seconds, 1),
        }
        print(
            f"1 worker, live: {len(owners):,} streams opened in {seconds:.1f} s; server RSS "
            f"{before / 2**20:.1f} -> {after / 2**20:.1f} MB: {per_stream / 1024:.1f} KB a stream",
            flush=True,
        )
        print(
            f"1 worker, live: {profile.live_rate} creates/s for {profile.live_seconds} s to a "
            f"user with {MEASURED} streams, beside the {len(owners):,} others"
        )
        delivery = streams.run(
            _delivery(
                base, measured_user, tokens[measured_user], profile.live_rate, profile.live_seconds
            )
        )
        result["delivery"] = delivery
        written, answer = delivery["from_updated_at_ms"], delivery["from_answer_ms"]
        print(
            f"  sent {delivery['sent_per_s']}/s, {delivery['measured_creates']} measured, "
            f"{delivery['failures']} failed, {delivery['missing']} deliveries missing; from the "
            f"write: p50 {written.get('p50')} p99 {written.get('p99')} max {written.get('max')} "
            f"ms; from its answer: p50 {answer.get('p50')} p99 {answer.get('p99')} ms",
            flush=True,
        )
        result["get_one"] = _alternated(base, data, profile, streams, owners)
    return result


def _alternated(
    base: str, data: Path, profile: Profile, streams: Streams, owners: list[tuple[str, str]]
) -> dict[str, Any]:
    """Get one with the streams open and without: with, without, without, with, ..."""
    print(f"1 worker, live: get one with {len(owners):,} streams open and without, alternated")
    runs: dict[str, list[float]] = {"with": [], "without": []}
    for round_ in range(profile.rounds):
        for side in ("with", "without") if round_ % 2 == 0 else ("without", "with"):
            if side == "with" and not streams.writers:
                streams.open(owners)
            elif side == "without" and streams.writers:
                streams.close()
            options = {"connections": profile.connections, "threads": profile.threads}
            wrk(base, data, "get", seconds=1, **options)
            stats = wrk(base, data, "get", seconds=profile.duration, **options)
            if stats["errors"]["status"]:
                raise RuntimeError("get one: non-2xx answers beside the live streams")
            runs[side].append(round(rate(stats), 1))
            print(
                f"  round {round_ + 1} {side:<7} streams: {rate(stats):7.0f} req/s "
                f"p99 {stats['latency_ms']['p99']:6.1f} ms",
                flush=True,
            )
    streams.close()
    ratio = statistics.median(runs["with"]) / statistics.median(runs["without"])
    print(f"  get one with / without the streams (medians): {ratio:.2f} x")
    return {**runs, "ratio": round(ratio, 3)}


def live_checks(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Issue 25's targets."""
    if not result:
        return []
    per_stream = result["memory"]["per_stream_kb"]
    delivery = result["delivery"]
    p99 = delivery["from_updated_at_ms"].get("p99", 1e9)
    ratio = result["get_one"]["ratio"]
    streams = f"{result['streams']:,}"
    return [
        (f"live: memory per stream ({streams} open) < 50 KB", f"{per_stream} KB", per_stream < 50),
        ("live: delivery to 3 streams p99 < 250 ms", f"{p99} ms",
         p99 < 250 and delivery["missing"] == 0),
        (f"live: get one with {streams} streams >= 0.9 x", f"{ratio} x", ratio >= 0.9),
    ]  # fmt: skip
