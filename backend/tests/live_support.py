"""A small Server-Sent Events reader for the live update tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson


@dataclass
class Event:
    event: str
    data: Any
    id: int | None


@dataclass
class Stream:
    """An open stream: `next()` is the next event (comments are kept in `comments`)."""

    response: httpx.Response
    lines: AsyncIterator[str]
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    async def next(self, within: float = 5.0) -> Event:
        return await asyncio.wait_for(self._next(), within)

    async def _next(self) -> Event:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line == "":
                if "event" in fields or "data" in fields:
                    raw_id = fields.get("id")
                    return Event(
                        fields.get("event", "message"),
                        orjson.loads(fields["data"]) if "data" in fields else None,
                        int(raw_id) if raw_id is not None else None,
                    )
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "retry":
                self.retry = int(value)
            else:
                fields[name] = value
        raise EOFError("the stream ended")

    async def events(self, count: int, within: float = 10.0) -> list[Event]:
        return [await self.next(within) for _ in range(count)]

    async def silent_for(self, seconds: float) -> bool:
        """True when no event arrives within `seconds`."""
        try:
            await self.next(seconds)
        except TimeoutError:
            return True
        return False


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Stream]:
    async with http.stream("GET", path, headers=headers, timeout=30) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response, response.aiter_lines())
