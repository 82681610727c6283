"""Live updates: `GET /api/{user_id}/events` over real HTTP (uvicorn in this event loop)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.live_support import open_stream
from tests.support import bearer, free_port, running_server, serving, sign
from todo_api.config import Settings
from todo_api.live.announcer import ANNOUNCER_LOCK_KEY
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(
        settings.model_copy(
            update={
                "live_poll_seconds": 0.2,
                "live_heartbeat_seconds": 0.5,
                "live_max_streams_per_user": 3,
                "jwt_leeway_seconds": 0,
            }
        )
    )


@pytest.fixture
async def base(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as url:
        yield url


@pytest.fixture
async def http(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base) as client:
        yield client


def auth(user: str, **claims: Any) -> dict[str, str]:
    return bearer(sign(user, **claims))


async def _create(http: httpx.AsyncClient, user: str, title: str) -> dict[str, object]:
    response = await http.post(f"/api/{user}/tasks", json={"title": title}, headers=auth(user))
    assert response.status_code == 201
    return dict(response.json())


async def test_each_change_arrives_as_it_commits_with_the_task_as_rest_renders_it(
    http: httpx.AsyncClient,
) -> None:
    async with open_stream(http, "/api/alice/events", auth("alice")) as stream:
        task = await _create(http, "alice", "Buy milk")
        path = f"/api/alice/tasks/{task['id']}"
        done = (await http.patch(f"{path}/complete", headers=auth("alice"))).json()
        await http.delete(path, headers=auth("alice"))
        events = await stream.events(3)
    assert [(e.event, e.id) for e in events] == [
        ("task.created", 1),
        ("task.completed", 2),
        ("task.deleted", 3),
    ]
    assert events[0].data == task
    assert events[1].data == done
    assert events[2].data == {"id": task["id"], "user_id": "alice"}
    assert stream.retry is not None


async def test_another_users_stream_hears_nothing_and_no_token_or_ticket_crosses_users(
    http: httpx.AsyncClient,
) -> None:
    async with open_stream(http, "/api/bob/events", auth("bob")) as bobs:
        await _create(http, "alice", "secret")
        assert await bobs.silent_for(1.0)
    assert (await http.get("/api/alice/events", headers=auth("bob"))).status_code == 403
    ticket = (await http.post("/api/alice/events/tickets", headers=auth("alice"))).json()["ticket"]
    assert (await http.get("/api/bob/events", params={"ticket": ticket})).status_code == 401
    # ... and the attempt used it up.
    assert (await http.get("/api/alice/events", params={"ticket": ticket})).status_code == 401
    assert (await http.post("/api/alice/events/tickets", headers=auth("bob"))).status_code == 403
    assert (await http.get("/api/alice/events")).status_code == 401


async def test_a_ticket_opens_one_stream_once_and_never_after_it_expires(
    http: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    minted = await http.post("/api/alice/events/tickets", headers=auth("alice"))
    assert minted.status_code == 201
    assert minted.headers["cache-control"] == "no-store"
    ticket = minted.json()["ticket"]
    async with open_stream(http, f"/api/alice/events?ticket={ticket}") as stream:
        await _create(http, "alice", "via ticket")
        assert (await stream.next()).event == "task.created"
    assert (await http.get("/api/alice/events", params={"ticket": ticket})).status_code == 401
    late = (await http.post("/api/alice/events/tickets", headers=auth("alice"))).json()["ticket"]
    clean_database.execute("UPDATE stream_tickets SET expires_at = now() - interval '1 second'")
    assert (await http.get("/api/alice/events", params={"ticket": late})).status_code == 401
    assert (await http.get("/api/alice/events", params={"ticket": "x" * 65})).status_code == 422


async def test_reconnecting_with_last_event_id_delivers_what_was_missed_once(
    http: httpx.AsyncClient,
) -> None:
    async with open_stream(http, "/api/alice/events", auth("alice")) as stream:
        for title in ("a", "b"):
            await _create(http, "alice", title)
        seen = await stream.events(2)
    for title in ("c", "d", "e"):  # while disconnected
        await _create(http, "alice", title)
    resume = {**auth("alice"), "Last-Event-ID": str(seen[-1].id)}
    async with open_stream(http, "/api/alice/events", resume) as stream:
        missed = await stream.events(3)
        assert await stream.silent_for(0.6)
    assert [e.data["title"] for e in missed] == ["c", "d", "e"]
    assert [e.id for e in missed] == [3, 4, 5]


async def test_a_cursor_older_than_the_outbox_gets_a_resync_event(
    http: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    for title in ("a", "b", "c"):
        await _create(http, "alice", title)
    clean_database.execute("DELETE FROM task_events WHERE seq <= 2")
    for last in ("1", "99"):  # pruned since; or from another database
        headers = {**auth("alice"), "Last-Event-ID": last}
        async with open_stream(http, "/api/alice/events", headers) as stream:
            event = await stream.next()
        assert (event.event, event.id) == ("resync", 3)
    bad = await http.get("/api/alice/events", headers={**auth("alice"), "Last-Event-ID": "x"})
    assert bad.status_code == 422


async def test_idle_streams_get_heartbeats_and_end_when_the_token_expires(
    http: httpx.AsyncClient,
) -> None:
    short = auth("alice", exp=int(time.time()) + 2)
    async with open_stream(http, "/api/alice/events", short) as stream:
        event = await stream.next(within=5)
    assert event.event == "token-expired"
    assert ": keepalive" in stream.comments


async def test_a_change_after_heartbeats_still_arrives(http: httpx.AsyncClient) -> None:
    """A heartbeat reads nothing (the stream keeps waiting for its wake-up): the change made
    after a few of them must still arrive, once."""
    async with open_stream(http, "/api/alice/events", auth("alice")) as stream:
        await asyncio.sleep(1.2)  # two heartbeats at 0.5 s
        task = await _create(http, "alice", "After the heartbeats")
        event = await stream.next(within=3)
        assert (event.event, event.data["id"]) == ("task.created", task["id"])
        assert stream.comments.count(": keepalive") >= 2  # read before the event
        assert await stream.silent_for(0.7)


async def test_a_user_has_at_most_the_configured_streams_open(http: httpx.AsyncClient) -> None:
    async with (
        open_stream(http, "/api/alice/events", auth("alice")),
        open_stream(http, "/api/alice/events", auth("alice")),
        open_stream(http, "/api/alice/events", auth("alice")),
    ):
        refused = await http.get("/api/alice/events", headers=auth("alice"))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "5"
        async with open_stream(http, "/api/bob/events", auth("bob")):
            pass  # another user still gets one
    async with open_stream(http, "/api/alice/events", auth("alice")):
        pass  # closed streams give their room back


async def test_a_client_that_leaves_before_the_first_byte_gives_its_stream_back(
    app: FastAPI, base: str
) -> None:
    """Clients that send their request and hang up at once: each stream is given back (the
    response is cut short as it starts, api/live.py `_LiveStream`), so none counts against
    the limits for ever (3 per user here: a fourth would get 429)."""
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"GET /api/alice/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {auth('alice')['Authorization']}\r\n\r\n"
    ).encode()
    hub = app.state.live_hub
    for _ in range(5):
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    deadline = time.monotonic() + 5
    while hub.open_streams:
        assert time.monotonic() < deadline, f"{hub.open_streams} streams of gone clients held"
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=base) as http, AsyncExitStack() as streams:
        for _ in range(3):  # the user's whole allowance is free again
            await streams.enter_async_context(open_stream(http, "/api/alice/events", auth("alice")))


async def test_shutdown_ends_streams_with_a_retry_hint(app: FastAPI, base: str) -> None:
    async with (
        httpx.AsyncClient(base_url=base) as http,
        open_stream(http, "/api/alice/events", auth("alice")) as stream,
    ):
        await asyncio.sleep(0.2)
        app.state.live_hub.close()
        event = await stream.next()
    assert event.event == "shutdown"
    assert stream.retry == 1000


async def test_a_stream_follows_concurrent_writers_across_a_server_restart_missing_nothing(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> None:
    """Writers keep writing through server two while the stream's server one is stopped
    (SIGTERM: its stream ends with a retry hint, the process exits at once) and the client
    resumes on server two with Last-Event-ID: it sees every change exactly once, in order."""
    env = {"LIVE_POLL_SECONDS": "0.2"}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    received: list[int] = []
    with running_server(migrated_database, tmp_path / "two", serve=True, env=env) as (two, _):
        async with httpx.AsyncClient(base_url=two) as writer_http:

            async def writer(count: int) -> None:
                for index in range(count):
                    await _create(writer_http, "alice", f"w{index}")
                    await asyncio.sleep(0.01)

            writing = asyncio.gather(writer(60), writer(60))
            with running_server(migrated_database, tmp_path / "one", serve=True, env=env) as (
                one,
                process,
            ):
                async with (
                    httpx.AsyncClient(base_url=one) as http,
                    open_stream(http, "/api/alice/events", auth("alice")) as stream,
                ):
                    while len(received) < 30:
                        received.append((await stream.next()).id or 0)
                    stopped_at = time.monotonic()
                    process.terminate()
                    while (event := await stream.next()).event != "shutdown":
                        received.append(event.id or 0)
                # uvicorn exits by the signal it handled, after its graceful shutdown.
                assert process.wait(timeout=10) in (0, -15)
                log = (tmp_path / "one" / "server.log").read_text()
                assert "Application shutdown complete" in log
                assert time.monotonic() - stopped_at < 10
            resume = {**auth("alice"), "Last-Event-ID": str(received[-1])}
            async with (
                httpx.AsyncClient(base_url=two) as http,
                open_stream(http, "/api/alice/events", resume) as stream,
            ):
                await writing
                while len(received) < 120:
                    received.append((await stream.next()).id or 0)
                assert await stream.silent_for(0.5)
    assert received == list(range(1, 121))


async def test_an_eventsource_resumes_with_its_ticket_and_last_event_id_in_the_url(
    http: httpx.AsyncClient,
) -> None:
    for title in ("a", "b", "c"):
        await _create(http, "alice", title)
    ticket = (await http.post("/api/alice/events/tickets", headers=auth("alice"))).json()["ticket"]
    async with open_stream(http, f"/api/alice/events?ticket={ticket}&last_event_id=1") as stream:
        missed = await stream.events(2)
    assert [(e.id, e.data["title"]) for e in missed] == [(2, "b"), (3, "c")]


async def test_two_workers_hubs_are_woken_by_the_announcer_without_polling(
    settings: Settings, admin_connection: psycopg.Connection
) -> None:
    """Two servers (two hubs) on one database: one holds the announcer's turn and NOTIFYs the
    other (live/announcer.py); writers NOTIFY nobody. With polling a minute apart, each stream
    can only hear of the change from the announcer, whichever server took the write."""
    slow_poll = settings.model_copy(update={"live_poll_seconds": 60})
    async with (
        serving(create_app(slow_poll)) as one,
        serving(create_app(slow_poll)) as two,
        httpx.AsyncClient(base_url=one) as http_one,
        httpx.AsyncClient(base_url=two) as http_two,
        open_stream(http_one, "/api/alice/events", auth("alice")) as first,
        open_stream(http_two, "/api/alice/events", auth("alice")) as second,
    ):
        deadline = time.monotonic() + 5
        while admin_connection.execute(_ANNOUNCERS, [ANNOUNCER_LOCK_KEY]).fetchone() != (1,):
            assert time.monotonic() < deadline, "no hub took the announcer's turn"
            await asyncio.sleep(0.05)
        for http in (http_one, http_two, http_one):
            task = await _create(http, "alice", "Heard at once")
            assert (await first.events(1, within=3))[0].data == task
            assert (await second.events(1, within=3))[0].data == task
    deadline = time.monotonic() + 5
    while admin_connection.execute(_ANNOUNCERS, [ANNOUNCER_LOCK_KEY]).fetchone() != (0,):
        assert time.monotonic() < deadline, "the announcer's connection outlived its server"
        await asyncio.sleep(0.05)


async def test_when_the_announcers_connection_dies_another_hub_announces_within_seconds(
    settings: Settings, admin_connection: psycopg.Connection
) -> None:
    """The turn ends with its session; another hub takes it within a second and looks back
    over the handover, so a change written meanwhile still reaches both servers' streams
    long before their poll (a minute here)."""
    slow_poll = settings.model_copy(update={"live_poll_seconds": 60})
    async with (
        serving(create_app(slow_poll)) as one,
        serving(create_app(slow_poll)) as two,
        httpx.AsyncClient(base_url=one) as http_one,
        httpx.AsyncClient(base_url=two) as http_two,
        open_stream(http_one, "/api/alice/events", auth("alice")) as first,
        open_stream(http_two, "/api/alice/events", auth("alice")) as second,
    ):
        for _ in range(2):
            announcer = await _announcer_pid(admin_connection)
            admin_connection.execute("SELECT pg_terminate_backend(%s)", [announcer])
            task = await _create(http_one, "alice", "Written during the handover")
            assert (await first.events(1, within=6))[0].data == task
            assert (await second.events(1, within=6))[0].data == task
            assert await _announcer_pid(admin_connection) != announcer


async def test_a_worker_lets_go_of_listen_and_the_turn_once_its_streams_are_gone(
    settings: Settings, admin_connection: psycopg.Connection
) -> None:
    """An idle hub would keep its LISTEN connection, and as announcer look 20 times a second
    for ever: `LIVE_RELEASE_SECONDS` after its last stream it closes both; its next stream
    opens them again and still hears of a change at once (polling a minute apart)."""
    quick_release = settings.model_copy(
        update={"live_poll_seconds": 60, "live_release_seconds": 0.3, "live_heartbeat_seconds": 0.2}
    )
    async with serving(create_app(quick_release)) as base, httpx.AsyncClient(base_url=base) as http:
        for round_ in range(2):
            async with open_stream(http, "/api/alice/events", auth("alice")) as stream:
                announcer = await _announcer_pid(admin_connection)
                task = await _create(http, "alice", f"Heard in round {round_}")
                assert (await stream.events(1, within=3))[0].data == task
            deadline = time.monotonic() + 5
            while admin_connection.execute(_BACKENDS, [announcer]).fetchone() != (0,):
                assert time.monotonic() < deadline, "the idle worker kept its LISTEN connection"
                await asyncio.sleep(0.05)
            assert admin_connection.execute(_ANNOUNCERS, [ANNOUNCER_LOCK_KEY]).fetchone() == (0,)


async def test_a_worker_without_streams_stops_retrying_a_listen_that_fails(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """LISTEN on a port where nothing answers: while a stream is open the worker retries
    (every 2 s, a warning each time); once its last stream has closed it stops, instead of
    retrying for ever."""
    unreachable = settings.model_copy(
        update={
            "live_listen_url": f"postgresql://todo@127.0.0.1:{free_port()}/todo",
            "live_heartbeat_seconds": 0.2,
        }
    )
    failures = "live updates: LISTEN failed"
    with caplog.at_level(logging.WARNING, logger="todo_api.live.hub"):
        async with (
            serving(create_app(unreachable)) as base,
            httpx.AsyncClient(base_url=base) as http,
        ):
            async with open_stream(http, "/api/alice/events", auth("alice")):
                deadline = time.monotonic() + 5
                while caplog.text.count(failures) < 2:  # retried while the stream is open
                    assert time.monotonic() < deadline, "the worker did not retry LISTEN"
                    await asyncio.sleep(0.05)
            await asyncio.sleep(2.5)  # the stream's end noticed, the retry pause passed
            settled = caplog.text.count(failures)
            await asyncio.sleep(4.5)  # two more retries if it went on
            assert caplog.text.count(failures) == settled


_BACKENDS = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"


async def _announcer_pid(admin_connection: psycopg.Connection) -> int:
    deadline = time.monotonic() + 5
    while True:
        row = admin_connection.execute(_ANNOUNCER_PID, [ANNOUNCER_LOCK_KEY]).fetchone()
        if row is not None:
            return int(row[0])
        assert time.monotonic() < deadline, "no hub holds the announcer's turn"
        await asyncio.sleep(0.05)


_ANNOUNCER_PID = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = %s::bigint"
)
_ANNOUNCERS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = %s::bigint"
)
