"""`make bench-chat`: what a chat turn costs the service itself (issue 28).

Usage: python bench/chat.py [--smoke] [--turns N]

The production server command with `CHAT_MODEL_URL` pointing at the scripted stand-in of the
tests (tests/chat_model.py, served from this process on a local port), which answers at once:
each turn is "add a task, list the tasks, then say so", so three model calls and two tool
calls, in a conversation of its own. Turns are sent one at a time. Reported: the turn's time
from request to answer (p50/p99), our own time (the turn's time less the time the stand-in held
its three requests, from the start of each to the end of its answer: what is left is the
service's own work and its waits on PostgreSQL and on the network), and CPU per turn, of the
server alone (the stand-in runs in this process) and with PostgreSQL's. Target: our own time
p50 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, cpu_seconds, database, free_port, server, stop_on_signals
from seed import migrate_fresh
from todo_api.config import Settings
from todo_api.security.issuer import issue_token

sys.path.insert(0, str(ROOT / "backend"))

from tests.chat_model import StandInModel, call, plan, say

TARGET_P50_MS = 20.0


class _Held:
    """An ASGI app timed: the seconds its requests were held, from call to last byte sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds += time.perf_counter() - started


def _stand_in() -> tuple[str, _Held]:
    """The stand-in model on a free port, in a daemon thread: its base URL and its timer."""
    model = StandInModel(
        plan(call("add_task", title="Pay rent"), call("list_tasks"), say("Added; 1 task left."))
    )
    held = _Held(model.app)
    port = free_port()
    config = uvicorn.Config(held, host="127.0.0.1", port=port, log_level="warning")
    stand_in = uvicorn.Server(config)
    threading.Thread(target=lambda: asyncio.run(stand_in.serve()), daemon=True).start()
    deadline = time.monotonic() + 10
    while not stand_in.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the stand-in model did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1", held


def _own_cpu(process: psutil.Process) -> float:
    """CPU seconds of the server and its workers (not PostgreSQL's, not the stand-in's)."""
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        times = each.cpu_times()
        total += times.user + times.system
    return total


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few turns")
    parser.add_argument("--turns", type=int, default=300, help="measured turns")
    args = parser.parse_args()
    stop_on_signals()
    turns, warm_up = (20, 5) if args.smoke else (args.turns, 30)
    secret = secrets.token_urlsafe(48)
    settings = Settings(
        _env_file=None, database_url="postgresql://unused/x", better_auth_secret=secret
    )
    model_url, held = _stand_in()
    env = {
        "CHAT_MODEL_URL": model_url,
        "CHAT_MODEL": "stand-in",
        "CHAT_MODEL_API_KEY": "unused",
        "CHAT_TURNS_PER_MINUTE": "1000",
    }
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp, database(Path(tmp)) as url:
        migrate_fresh(url, str(ROOT / "alembic.ini"))
        with (
            server(url, secret, 1, 10, env=env) as (base, process),
            httpx.Client(base_url=base, timeout=30) as http,
        ):
            seconds: list[float] = []
            own: list[float] = []
            before = (0.0, 0.0)
            for turn in range(warm_up + turns):
                if turn == warm_up:
                    before = (_own_cpu(process), cpu_seconds(process))
                user = f"chat-{turn % 50}"  # 50 users: the per-user turn limit stays out of it
                token = issue_token(settings, user, ttl_seconds=3600)
                held_before = held.seconds
                started = time.perf_counter()
                answer = http.post(
                    f"/api/{user}/chat",
                    json={"message": "Remind me to pay rent"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                elapsed = time.perf_counter() - started
                if answer.status_code != 200 or len(answer.json()["tool_calls"]) != 2:
                    raise RuntimeError(f"turn {turn}: {answer.status_code} {answer.text[:300]}")
                if turn >= warm_up:
                    seconds.append(elapsed)
                    own.append(elapsed - (held.seconds - held_before))
            own_ms = 1000 * (_own_cpu(process) - before[0]) / turns
            all_ms = 1000 * (cpu_seconds(process) - before[1]) / turns
    p50, p99 = (1000 * _percentile(seconds, share) for share in (0.5, 0.99))
    own_p50, own_p99 = (1000 * _percentile(own, share) for share in (0.5, 0.99))
    print(
        f"chat: {turns} turns (two tool calls each), one at a time: p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, mean {1000 * statistics.mean(seconds):.1f} ms; our own time "
        f"p50 {own_p50:.1f} ms, p99 {own_p99:.1f} ms; "
        f"CPU a turn: server {own_ms:.1f} ms, with PostgreSQL {all_ms:.1f} ms"
    )
    met = own_p50 < TARGET_P50_MS
    print(f"target: our own time p50 < {TARGET_P50_MS:.0f} ms: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
