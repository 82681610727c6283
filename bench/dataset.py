"""The benchmark's profiles, its seeded users, their tokens, and the data file wrk's Lua reads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import URL

from seed import Dataset, SeededUser, seed
from todo_api.config import Settings
from todo_api.security.issuer import issue_token


@dataclass(frozen=True)
class Profile:
    """How much is seeded, and how long and how often each scenario runs."""

    small_users: int
    small_tasks: int
    big_users: int
    big_tasks: int
    duration: int
    warmup: int
    connections: int
    threads: int = 2
    # Alternations of the sections judged by ratios (query pages, floor).
    rounds: int = 2
    # Get one with the request log and metrics on and off: four more servers and scenarios.
    observability: bool = False
    # The events section (--events): alternations of the trigger on and off (short runs, many
    # of them: the drift of a shared machine cancels out better), the backlog the relay
    # drains, and the paced writer of the commit-to-broker latency (creates/s, seconds, the
    # relay's poll intervals).
    event_rounds: int = 6
    event_seconds: int = 4
    event_backlog: int = 100_000
    paced_rate: int = 200
    paced_seconds: int = 20
    polls: tuple[float, ...] = (0.1, 0.02)
    # --reminders: pending reminders far ahead, a burst due in the same second (alone, then
    # beside get one in `reminders_rounds` alternations with idle: about 13 s each), a steady
    # rate for some seconds.
    reminders_pending: int = 100_000
    reminders_burst: int = 1_000
    reminders_rounds: int = 6
    reminders_rate: int = 50
    reminders_seconds: int = 20
    reminders_window: int = 4
    # --live: open streams on one worker, and writes/s (for `live_seconds`) to a user with 3.
    live_streams: int = 5_000
    live_rate: int = 200
    live_seconds: int = 20


# `make bench`: every scenario once, short runs, fits in 10 minutes.
DEFAULT = Profile(2000, 50, 20, 10_000, duration=8, warmup=2, connections=100)
# `--full`: the same dataset, the longer runs and rounds the recorded figures of performance.md use.
FULL = Profile(
    2000, 50, 20, 10_000, duration=25, warmup=3, connections=100, rounds=3, observability=True
)
# Deletes use each seeded small-user task once: 2 s of deletes need more of them than a
# fast server deletes in that time (60 users ran out at ~2,000 deletes/s). The events
# section, which the smoke run always includes so it cannot rot, drains 5,000 events and paces
# creates for 3 s at one poll interval.
SMOKE = Profile(
    300,
    50,
    2,
    2_000,
    duration=2,
    warmup=1,
    connections=20,
    event_rounds=2,
    event_seconds=2,
    event_backlog=5_000,
    paced_seconds=3,
    polls=(0.1,),
    reminders_pending=2_000,
    reminders_burst=100,
    reminders_rounds=2,
    reminders_rate=10,
    reminders_seconds=3,
    reminders_window=2,
    live_streams=100,
    live_rate=50,
    live_seconds=3,
)


def seed_profile(url: URL, profile: Profile) -> Dataset:
    return seed(
        url,
        small_users=profile.small_users,
        small_tasks=profile.small_tasks,
        big_users=profile.big_users,
        big_tasks=profile.big_tasks,
    )


def lua_data(directory: Path, dataset: Dataset, settings: Settings) -> tuple[Path, dict[str, str]]:
    """The users, their task ids and a token each, as the Lua file tasks.lua reads."""
    tokens = {
        user.id: issue_token(settings, user.id, ttl_seconds=7200)
        for user in dataset.small + dataset.big
    }
    path = directory / "data.lua"
    write_lua_data(path, dataset, tokens)
    return path, tokens


def write_lua_data(
    path: Path, dataset: Dataset, tokens: dict[str, str], etags: dict[str, str] | None = None
) -> None:
    """The Lua data file; with `etags`, each user's list ETag too (for the 304 scenarios)."""

    def entries(users: list[SeededUser]) -> str:
        return ",\n".join(
            f'{{id="{u.id}", token="{tokens[u.id]}", lo={u.lo}, hi={u.hi}'
            + (f", etag=[[{etags[u.id]}]]" if etags and u.id in etags else "")
            + "}"
            for u in users
        )

    small, big = entries(dataset.small), entries(dataset.big)
    path.write_text(f"return {{\nsmall = {{\n{small}\n}},\nbig = {{\n{big}\n}}\n}}\n")


def prime(base: str, dataset: Dataset, tokens: dict[str, str]) -> None:
    """One request per user, so no scenario measures first-sight work (token signature check,
    user row upsert) that a long-running server does once per user."""

    async def run() -> None:
        users = dataset.small + dataset.big
        limit = asyncio.Semaphore(20)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def one(user: SeededUser) -> None:
                async with limit:
                    headers = {"Authorization": f"Bearer {tokens[user.id]}"}
                    await client.get(f"/api/{user.id}/tasks/{user.lo}", headers=headers)

            await asyncio.gather(*(one(user) for user in users))

    asyncio.run(run())


def list_etags(base: str, dataset: Dataset, tokens: dict[str, str]) -> dict[str, str]:
    """The current ETag of each user's full list, for the If-None-Match scenarios."""

    async def run() -> dict[str, str]:
        limit = asyncio.Semaphore(20)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def one(user: SeededUser) -> tuple[str, str]:
                async with limit:
                    headers = {"Authorization": f"Bearer {tokens[user.id]}"}
                    response = await client.get(f"/api/{user.id}/tasks", headers=headers)
                    return user.id, response.headers["etag"]

            users = dataset.small + dataset.big
            return dict(await asyncio.gather(*(one(user) for user in users)))

    return asyncio.run(run())
