"""N requests of one scenario through the app's ASGI interface, in this process (bench/count.py
runs it under valgrind, with the PYTHONPATH of the version it counts).

Usage: python bench/inprocess.py OP N, with DATABASE_URL, BETTER_AUTH_SECRET and BENCH_USERS (a
file of lines "user_id lo hi token"). The requests are those of tasks.lua's scenarios, users
and task ids drawn by a seeded generator so both versions get the same sequence; any answer
that is not a success stops the run. The client (httpx) is counted too, alike on both sides.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import Awaitable
from pathlib import Path

import httpx

from todo_api.main import create_app

BODY_CREATE = {"title": "Benchmark task", "description": "Created by wrk"}
BODY_UPDATE = {"title": "Benchmark task, updated", "completed": True}


def request(
    client: httpx.AsyncClient, op: str, user: list[str], rng: random.Random
) -> Awaitable[httpx.Response]:
    """One request of `op` as `user` (id, lo, hi, token)."""
    user_id, lo, hi, token = user
    headers = {"Authorization": f"Bearer {token}"}
    tasks = f"/api/{user_id}/tasks"
    one = f"{tasks}/{rng.randint(int(lo), int(hi))}"
    if op == "list":
        return client.get(tasks, headers=headers)
    if op == "get":
        return client.get(one, headers=headers)
    if op == "create":
        return client.post(tasks, headers=headers, json=BODY_CREATE)
    if op == "update":
        return client.put(one, headers=headers, json=BODY_UPDATE)
    if op == "toggle":
        return client.patch(f"{one}/complete", headers=headers)
    raise SystemExit(f"unknown scenario {op}")


async def run(op: str, count: int, users: list[list[str]]) -> None:
    rng = random.Random(7)  # noqa: S311 (the same sequence on both sides, not a secret)
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(count):
                response = await request(client, op, rng.choice(users), rng)
                if response.status_code >= 300:
                    raise SystemExit(f"{op}: {response.status_code} {response.text[:200]}")


if __name__ == "__main__":
    lines = Path(os.environ["BENCH_USERS"]).read_text().splitlines()
    asyncio.run(run(sys.argv[1], int(sys.argv[2]), [line.split() for line in lines]))
