"""The announcer (live/announcer.py) against a real server: each look names the users with new
outbox events once, finds an event that committed after a later one, and one connection per
database holds the turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.support import libpq_url
from todo_api.live.announcer import CHANNEL, take_turn

pytestmark = pytest.mark.anyio

_USERS = "INSERT INTO users (id) VALUES ('alice'), ('bob'), ('carol'), ('dave')"


def _write(connection: psycopg.Connection, user: str) -> None:
    connection.execute("INSERT INTO tasks (user_id, title) VALUES (%s, 'x')", [user])


@pytest.fixture
async def direct(
    server_url: URL, clean_database: psycopg.Connection
) -> AsyncIterator[psycopg.AsyncConnection]:
    """A direct autocommit connection, as a hub's LISTEN connection is."""
    clean_database.execute(_USERS)
    async with await psycopg.AsyncConnection.connect(
        libpq_url(server_url), autocommit=True
    ) as connection:
        yield connection


async def test_each_look_names_the_users_with_news_once_and_notifies_them_in_one_payload(
    direct: psycopg.AsyncConnection, clean_database: psycopg.Connection, server_url: URL
) -> None:
    _write(clean_database, "alice")  # before the turn: the hubs' wake-up at LISTEN covers it
    announcer = await take_turn(direct)
    assert announcer is not None
    with psycopg.connect(libpq_url(server_url), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        for user in ("bob", "alice", "bob"):
            _write(clean_database, user)
        with clean_database.transaction(force_rollback=True):
            _write(clean_database, "carol")  # rolled back: never announced
        assert await announcer.look(direct) == {"alice", "bob"}
        heard = [orjson.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=1)]
        assert heard == [["alice", "bob"]]
        assert await announcer.look(direct) == set()
        assert list(listener.notifies(timeout=0.3)) == []  # nothing new: no NOTIFY


async def test_an_event_that_commits_after_a_later_one_is_announced_at_the_next_look(
    direct: psycopg.AsyncConnection, clean_database: psycopg.Connection, server_url: URL
) -> None:
    """Outbox ids are handed out at insert and committed in any order: the id passed over is
    looked for again, so a slow transaction's event is not left to the hubs' poll."""
    announcer = await take_turn(direct)
    assert announcer is not None
    with psycopg.connect(libpq_url(server_url)) as slow:
        _write(slow, "carol")  # takes the next id, commits later
        _write(clean_database, "dave")
        assert await announcer.look(direct) == {"dave"}
        assert len(announcer.gaps) == 1
        slow.commit()
    assert await announcer.look(direct) == {"carol"}
    assert announcer.gaps == {}


async def test_one_announcer_per_database_until_its_connection_ends(
    direct: psycopg.AsyncConnection, server_url: URL
) -> None:
    async with await psycopg.AsyncConnection.connect(
        libpq_url(server_url), autocommit=True
    ) as first:
        assert await take_turn(first) is not None
        assert await take_turn(direct) is None
    # The lock goes with the server process, which ends a moment after the client closed.
    for _ in range(50):
        if await take_turn(direct) is not None:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the announcer's turn was not free after its connection ended")
