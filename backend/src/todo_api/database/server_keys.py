"""The server's cursor key, read from the `server_keys` table once per process.

Lazily, on the first request that needs it (one with a cursor, or a page that hands one
out): the app starts while the database is down, and requests without cursors never wait
for it. Single flight: concurrent first requests share one read; a failed read (503 for
the requests that waited) is tried again by the next request.
"""

from __future__ import annotations

import asyncio

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from todo_api.database.runner import Database
from todo_api.models.server_key import CURSOR_KEY_NAME

_READ_KEY = text("SELECT key FROM server_keys WHERE name = :name")


class MissingServerKeyError(RuntimeError):
    """The `server_keys` table has no cursor key: the database was not migrated."""


class ServerKeys:
    """Holds the cursor key's AEAD once read; one per app (`app.state.server_keys`)."""

    def __init__(self) -> None:
        self.cursor_aead: AESGCM | None = None
        """Set once the key is read: the fast path needs no await."""
        self._reading: asyncio.Future[AESGCM] | None = None

    async def cursor_key(self, database: Database) -> AESGCM:
        """The AEAD that seals and opens cursors, reading its key on first use."""
        if self.cursor_aead is not None:
            return self.cursor_aead
        reading = self._reading
        if reading is None or reading.done():  # none yet, or the last read failed
            reading = self._reading = asyncio.ensure_future(self._read(database))
        # Shielded: a waiter whose request is cancelled does not cancel the others' read.
        return await asyncio.shield(reading)

    async def _read(self, database: Database) -> AESGCM:
        rows = await database.rows(_READ_KEY, {"name": CURSOR_KEY_NAME})
        if not rows:
            raise MissingServerKeyError("server_keys has no cursor key: run the migrations")
        self.cursor_aead = AESGCM(bytes(rows[0].key))
        return self.cursor_aead
