"""Background processes of their own: `python -m todo_api relay` and `... scheduler`.

`serve` runs both in every worker (the relay when `EVENTS_URL` is set, the scheduler unless
`REMINDERS_IN_PROCESS=false`); these run one alone, for a deployment of its own, with only the
database, event and reminder settings. SIGTERM or SIGINT stops it: an unfinished relay batch
is delivered again by whichever relay takes the next turn; an unfinished round of reminders
rolls back and is fired by the next round.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any

from todo_api.config import ReminderSettings
from todo_api.database.embedded import release_embedded_server
from todo_api.database.engine import create_engine
from todo_api.database.runner import Database
from todo_api.database.timeouts import client_deadline
from todo_api.database.url import resolve_worker_database_url
from todo_api.database.wall import warn_unless_worker
from todo_api.events.outbox import pruning
from todo_api.events.relay import relay_for
from todo_api.reminders.scheduler import Scheduler
from todo_api.services.housekeeping import Housekeeping

Work = Callable[[Database, ReminderSettings], list[Coroutine[Any, Any, None]]]


def run_relay() -> int:
    """Deliver events until stopped (with the outbox pruning); 2 when `EVENTS_URL` is unset."""
    settings = ReminderSettings()
    if settings.events_url is None:
        print("python -m todo_api relay: EVENTS_URL is not set")
        return 2
    return _run(settings, _relay)


def run_scheduler() -> int:
    """Fire due reminders until stopped."""
    return _run(ReminderSettings(), _scheduler)


def _relay(database: Database, settings: ReminderSettings) -> list[Coroutine[Any, Any, None]]:
    relay = relay_for(database, settings)
    assert relay is not None
    return [relay.run(), Housekeeping(database, {"task events": pruning(settings)}).run()]


def _scheduler(database: Database, settings: ReminderSettings) -> list[Coroutine[Any, Any, None]]:
    return [Scheduler(database, settings).run()]


def _run(settings: ReminderSettings, work: Work) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_until_stopped(settings, work))
    return 0


async def _until_stopped(settings: ReminderSettings, work: Work) -> None:
    # Cross-user work: the worker's login (WORKER_DATABASE_URL; unset: DATABASE_URL).
    engine = create_engine(settings, resolve_worker_database_url(settings))
    database = Database(engine, client_deadline(settings.db_statement_timeout))
    await warn_unless_worker(database, apart=settings.worker_database_url is not None)
    running = asyncio.gather(*work(database, settings))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, running.cancel)
    try:
        with suppress(asyncio.CancelledError):
            await running
    finally:
        await engine.dispose()
        if settings.database_url is None:
            release_embedded_server(settings.embedded_data_dir)
