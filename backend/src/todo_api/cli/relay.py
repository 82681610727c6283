"""The relay command: `python -m todo_api relay`, for a deployment of its own.

`serve` runs the relay in-process when `EVENTS_URL` is set; this runs it alone (plus the
outbox pruning), with only the database and event settings. SIGTERM or SIGINT stops it; an
unfinished batch is delivered again by whichever relay takes the next turn.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress

from todo_api.config import EventSettings
from todo_api.database.engine import create_engine
from todo_api.database.runner import Database
from todo_api.database.timeouts import client_deadline
from todo_api.database.url import resolve_database_url
from todo_api.events.outbox import pruning
from todo_api.events.relay import relay_for
from todo_api.services.housekeeping import Housekeeping


def run_relay() -> int:
    """Deliver events until stopped; 2 when `EVENTS_URL` is unset."""
    settings = EventSettings()
    if settings.events_url is None:
        print("python -m todo_api relay: EVENTS_URL is not set")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_relay(settings))
    return 0


async def _relay(settings: EventSettings) -> None:
    engine = create_engine(settings, resolve_database_url(settings))
    database = Database(engine, client_deadline(settings.db_statement_timeout))
    relay = relay_for(database, settings)
    assert relay is not None
    work = asyncio.gather(
        relay.run(), Housekeeping(database, {"task events": pruning(settings)}).run()
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, work.cancel)
    try:
        with suppress(asyncio.CancelledError):
            await work
    finally:
        await engine.dispose()
