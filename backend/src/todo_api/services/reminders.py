"""Reading reminders and the time zone they count in: the upcoming list and the user's setting.

The plan itself is kept by the database (migration 0006) and fired by `reminders/scheduler`;
this module only reads it, a keyset page at a time, and changes the user's zone (which moves
the all-day reminders, in PostgreSQL, in the same transaction).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from todo_api.database.errors import RefusedValueError
from todo_api.database.runner import Database
from todo_api.errors import InvalidCursorError, UnknownTimeZoneError
from todo_api.services.lists.cursors import aware_instant, seal, unseal
from todo_api.services.statements import reminders as statements
from todo_api.services.store import TaskStore

_CURSOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class UpcomingPage:
    """One page of upcoming reminders and the cursor of the next (None on the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class UserReminders:
    """The reminders and time zone of one user."""

    def __init__(self, database: Database, user_id: str) -> None:
        self._database = database
        self._store = TaskStore(database)
        self._user_id = user_id

    async def upcoming(
        self, key: AESGCM, before: datetime, limit: int, cursor: str | None
    ) -> UpcomingPage:
        """Reminders firing before `before`, soonest first, `limit` at a time."""
        associated = self._associated(before)
        params: dict[str, Any] = {"owner": self._user_id, "before": before, "limit": limit}
        if cursor is not None:
            params["after_at"], params["after_id"] = _open(key, associated, cursor)
        statement = statements.upcoming(after=cursor is not None)
        rows = await self._database.rows(statement, params)
        items = [
            {
                "task_id": row.task_id,
                "title": row.title,
                "at": row.fire_at,
                "reminder": row.reminder,
            }
            for row in rows
        ]
        last = rows[-1] if len(rows) == limit else None
        next_cursor = None
        if last is not None:
            payload = orjson.dumps([_CURSOR_VERSION, last.fire_at.isoformat(), last.task_id])
            next_cursor = seal(key, associated, payload)
        return UpcomingPage(items, next_cursor)

    async def time_zone(self) -> str:
        rows = await self._database.rows(statements.TIME_ZONE, {"owner": self._user_id})
        return str(rows[0].time_zone) if rows else "UTC"

    async def set_time_zone(self, zone: str) -> str:
        """Make `zone` (an IANA name) the user's; UnknownTimeZoneError for any other."""
        if zone not in iana_zones():
            raise UnknownTimeZoneError(zone)
        try:
            await self._database.rows(statements.ZONE_KNOWN, {"time_zone": zone})
        except RefusedValueError:
            raise UnknownTimeZoneError(zone) from None
        await self._database.rows(
            statements.SET_TIME_ZONE, {"owner": self._user_id, "time_zone": zone}
        )
        return zone

    def _associated(self, before: datetime) -> bytes:
        return orjson.dumps(["reminders", self._user_id, before.isoformat()])


def _open(key: AESGCM, associated: bytes, cursor: str) -> tuple[datetime, int]:
    try:
        version, at, task_id = orjson.loads(unseal(key, associated, cursor))
        if version != _CURSOR_VERSION or not isinstance(task_id, int):
            raise ValueError
        return aware_instant(at), task_id
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidCursorError from None


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """The IANA zone names this machine's zone data knows (no abbreviations, no offsets)."""
    return frozenset(zoneinfo.available_timezones())
