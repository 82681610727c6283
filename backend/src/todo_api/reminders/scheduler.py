"""The reminder scheduler: fires due reminders, each once, across workers and replicas.

Each round is one statement, `fire_due_reminders` (migration 0006), in its own transaction
(as `todo_worker`, database/wall.py: it spans users):
it claims up to a batch of due rows (`FOR UPDATE SKIP LOCKED`: concurrent schedulers take
different rows), records a `reminder.due` event in the outbox for each (or counts it missed
when later than the allowed lateness), and deletes the rows, all or nothing. The relay then
delivers the events like any other. A full batch is followed at once by the next; otherwise
the scheduler waits `REMINDERS_POLL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, Interval, bindparam, text

from todo_api import metrics
from todo_api.config import ReminderSettings
from todo_api.database.errors import describe
from todo_api.database.runner import Database
from todo_api.database.wall import worker_rows

logger = logging.getLogger(__name__)

FIRE_DUE = text(
    "SELECT scheduled_for, sent FROM fire_due_reminders(:batch, :max_lateness)"
).bindparams(bindparam("batch", type_=Integer), bindparam("max_lateness", type_=Interval))


class Scheduler:
    """Fires the due reminders of `database` (see the module docstring)."""

    def __init__(self, database: Database, settings: ReminderSettings) -> None:
        self._database = database
        self._params = {
            "batch": settings.reminders_batch_size,
            "max_lateness": settings.reminders_max_lateness,
        }
        self._batch = settings.reminders_batch_size
        self._poll = settings.reminders_poll_seconds
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the current round, then return from `run` (no statement cut midway)."""
        self._stopping.set()

    async def fire_due(self) -> tuple[int, int]:
        """One round: how many reminders were sent, and how many were missed."""
        rows: Any = await worker_rows(self._database, FIRE_DUE, self._params)
        now = datetime.now(UTC)
        sent = missed = 0
        for scheduled_for, was_sent in rows:
            if was_sent:
                sent += 1
                metrics.REMINDERS_FIRED.inc()
                metrics.REMINDER_LAG.observe(max(0.0, (now - scheduled_for).total_seconds()))
            else:
                missed += 1
                metrics.REMINDERS_MISSED.inc()
        if missed:
            logger.warning("%d reminders were found too late and not sent", missed)
        return sent, missed

    async def run(self) -> None:
        """Fire due reminders until cancelled."""
        while not self._stopping.is_set():
            try:
                sent, missed = await self.fire_due()
            except Exception as error:  # the database is unreachable: try again next round
                logger.warning("firing reminders failed, will retry: %s", describe(error))
                sent = missed = 0
            if sent + missed < self._batch:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll)
