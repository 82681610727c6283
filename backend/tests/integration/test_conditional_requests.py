"""Conditional requests: task ETags, If-Match on writes (412), If-None-Match (304)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from tests.events_support import seed
from tests.support import QueryValue
from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    # Enough connections that concurrent writes really meet in PostgreSQL.
    return create_app(settings.model_copy(update={"db_pool_size": 20}))


async def _task(client: httpx.AsyncClient, **fields: object) -> httpx.Response:
    response = await client.post("/api/alice/tasks", json={"title": "Draft", **fields})
    assert response.status_code == 201
    return response


async def test_every_task_response_carries_the_same_strong_etag_for_the_same_version(
    client: httpx.AsyncClient,
) -> None:
    created = await _task(client)
    url = f"/api/alice/tasks/{created.json()['id']}"
    etag = created.headers["etag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")
    assert (await client.get(url)).headers["etag"] == etag

    updated = await client.put(url, json={"title": "Final"})
    toggled = await client.patch(f"{url}/complete")
    etags = {etag, updated.headers["etag"], toggled.headers["etag"]}
    assert len(etags) == 3  # every write is a new version
    assert (await client.get(url)).headers["etag"] == toggled.headers["etag"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_a_write_with_a_stale_if_match_gets_412_and_writes_nothing(
    client: httpx.AsyncClient, method: str
) -> None:
    created = await _task(client)
    url = f"/api/alice/tasks/{created.json()['id']}"
    stale = created.headers["etag"]
    newer = await client.put(url, json={"title": "Edited in another tab"})

    target = f"{url}/complete" if method == "PATCH" else url
    body = {"title": "Overwrite"} if method == "PUT" else None
    response = await client.request(method, target, json=body, headers={"If-Match": stale})

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert "changed" in response.json()["detail"]
    assert response.headers["etag"] == newer.headers["etag"]  # the current version
    after = await client.get(url)
    assert after.json() == newer.json()
    assert after.headers["etag"] == newer.headers["etag"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_a_write_with_the_current_etag_succeeds(
    client: httpx.AsyncClient, method: str
) -> None:
    created = await _task(client)
    url = f"/api/alice/tasks/{created.json()['id']}"
    target = f"{url}/complete" if method == "PATCH" else url
    body = {"title": "Overwrite"} if method == "PUT" else None
    # Any of several tags may match; weak or malformed ones never do.
    if_match = f'W/{created.headers["etag"]}, "zz", {created.headers["etag"]}'

    response = await client.request(method, target, json=body, headers={"If-Match": if_match})

    assert response.status_code == (204 if method == "DELETE" else 200)


@pytest.mark.parametrize(
    "if_match", ['W/"{etag}"', '"0x{bare}"', '"{bare}0"', "garbage", '"ffffffffffffffff"']
)
async def test_if_match_compares_strongly_and_exactly(
    client: httpx.AsyncClient, if_match: str
) -> None:
    created = await _task(client)
    bare = created.headers["etag"].strip('"')
    url = f"/api/alice/tasks/{created.json()['id']}"
    header = if_match.format(etag=bare, bare=bare)

    response = await client.put(url, json={"title": "x"}, headers={"If-Match": header})

    assert response.status_code == 412
    assert (await client.get(url)).json()["title"] == "Draft"


async def test_if_match_star_and_unknown_tasks(client: httpx.AsyncClient) -> None:
    created = await _task(client)
    url = f"/api/alice/tasks/{created.json()['id']}"
    assert (
        await client.put(url, json={"title": "x"}, headers={"If-Match": "*"})
    ).status_code == 200
    missing = await client.put(
        "/api/alice/tasks/999999",
        json={"title": "x"},
        headers={"If-Match": created.headers["etag"]},
    )
    assert missing.status_code == 404
    # Another user's task is "not found" too, never "changed".
    bob = await client.delete(url.replace("alice", "bob"), headers={"If-Match": '"1"'})
    assert bob.status_code == 404


async def test_of_50_concurrent_puts_with_one_if_match_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    created = await _task(client)
    url = f"/api/alice/tasks/{created.json()['id']}"
    etag = created.headers["etag"]

    responses = await asyncio.gather(
        *(
            client.put(url, json={"title": f"writer {n}"}, headers={"If-Match": etag})
            for n in range(50)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 49
    (winner,) = [response for response in responses if response.status_code == 200]
    assert (await client.get(url)).json()["title"] == winner.json()["title"]
    assert {r.headers["etag"] for r in responses if r.status_code == 412} == {
        winner.headers["etag"]
    }


async def test_completing_a_recurring_task_with_a_stale_etag_creates_no_occurrence(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    created = await _task(client, due_date="2026-12-01", recurrence="daily")
    url = f"/api/alice/tasks/{created.json()['id']}"
    await client.put(url, json={"priority": "high"})

    stale = await client.patch(f"{url}/complete", headers={"If-Match": created.headers["etag"]})

    assert stale.status_code == 412
    assert clean_database.execute("SELECT count(*) FROM tasks").fetchone() == (1,)
    current = (await client.get(url)).headers["etag"]
    fresh = await client.patch(f"{url}/complete", headers={"If-Match": current})
    assert fresh.status_code == 200
    assert 'rel="next-occurrence"' in fresh.headers["link"]


async def test_get_with_a_current_if_none_match_is_304_without_a_body(
    client: httpx.AsyncClient,
) -> None:
    created = await _task(client)
    url = f"/api/alice/tasks/{created.json()['id']}"
    etag = created.headers["etag"]

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(url, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag

    await client.put(url, json={"title": "changed"})
    response = await client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json()["title"] == "changed"


async def test_a_list_has_a_weak_etag_of_its_exact_answer(client: httpx.AsyncClient) -> None:
    first = await _task(client, tags=["home"])
    await _task(client, tags=["work"])
    lists = {
        query: await client.get("/api/alice/tasks", params=query)
        for query in ("", "tag=home", "tag=work", "limit=1")
    }
    etags = {query: response.headers["etag"] for query, response in lists.items()}
    assert all(etag.startswith('W/"') for etag in etags.values())
    assert len(set(etags.values())) == 4  # another query is another answer
    assert (await client.get("/api/alice/tasks")).headers["etag"] == etags[""]
    # The same tasks for another user... are another user's list.
    assert (await client.get("/api/bob/tasks")).headers["etag"] != etags[""]

    unchanged = await client.get("/api/alice/tasks", headers={"If-None-Match": etags[""]})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etags[""]

    # A write to a listed task, a new task, a deletion: each changes the answer.
    url = f"/api/alice/tasks/{first.json()['id']}"
    previous = etags[""]
    changes: list[Callable[[], Awaitable[httpx.Response]]] = [
        lambda: client.patch(f"{url}/complete"),
        lambda: _task(client, title="New"),
        lambda: client.delete(url),
    ]
    for change in changes:
        await change()
        response = await client.get("/api/alice/tasks", headers={"If-None-Match": previous})
        assert response.status_code == 200
        assert response.headers["etag"] != previous
        previous = response.headers["etag"]
    # A write to a task outside the filter leaves the filtered answer as it was.
    work = await client.get("/api/alice/tasks", params={"tag": "work"})
    await _task(client, title="Elsewhere", tags=["home"])
    again = await client.get(
        "/api/alice/tasks", params={"tag": "work"}, headers={"If-None-Match": work.headers["etag"]}
    )
    assert again.status_code == 304


async def test_a_long_streamed_list_has_the_etag_its_304_checks(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    await _task(client)  # creates the user
    seed(
        clean_database,
        "INSERT INTO tasks (user_id, title) SELECT 'alice', 'bulk ' || n "
        "FROM generate_series(1, 2500) AS n",
    )
    listed = await client.get("/api/alice/tasks")
    assert "content-length" not in listed.headers  # streamed
    assert len(listed.json()) == 2501
    etag = listed.headers["etag"]

    response = await client.get("/api/alice/tasks", headers={"If-None-Match": etag})
    assert response.status_code == 304
    clean_database.execute(
        "UPDATE tasks SET updated_at = updated_at + interval '1 us' WHERE id = 7"
    )
    response = await client.get("/api/alice/tasks", headers={"If-None-Match": etag})
    assert response.status_code == 200


async def test_a_page_etag_changes_when_a_next_page_appears(client: httpx.AsyncClient) -> None:
    """Oldest first, a new task lands after the first page: the page's tasks are the same,
    but now a `Link: rel="next"` goes with them, so the answer (and its ETag) changed."""
    await _task(client, title="first")
    query: dict[str, QueryValue] = {"sort": "created", "order": "asc", "limit": 1}
    page = await client.get("/api/alice/tasks", params=query)
    assert "link" not in page.headers
    await _task(client, title="second")

    again = await client.get(
        "/api/alice/tasks", params=query, headers={"If-None-Match": page.headers["etag"]}
    )
    assert again.status_code == 200
    assert again.json() == page.json()
    assert 'rel="next"' in again.headers["link"]
    assert again.headers["etag"] != page.headers["etag"]
    unchanged = await client.get(
        "/api/alice/tasks", params=query, headers={"If-None-Match": again.headers["etag"]}
    )
    assert unchanged.status_code == 304
