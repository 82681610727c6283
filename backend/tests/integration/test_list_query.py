"""The list's query parameters by example: filters, sort, pages, cursors, tags, isolation.

tests/integration/test_list_model.py checks the same rules against a model on random data.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.events_support import seed
from tests.support import QueryValue, bearer, sign
from todo_api.services.lists.cursors import b64decode, b64encode, seal
from todo_api.services.lists.query import CURSOR_MAX, TaskListQuery

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"


async def create(
    client: httpx.AsyncClient, title: str, user: str = "alice", **fields: object
) -> dict[str, Any]:
    response = await client.post(f"/api/{user}/tasks", json={"title": title, **fields})
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def titles(client: httpx.AsyncClient, url: str = TASKS, /, **params: QueryValue) -> list[str]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()]


async def test_filters_combine(client: httpx.AsyncClient) -> None:
    await create(
        client, "Buy milk", priority="high", tags=["home", "errand"], due_date="2026-12-01"
    )
    report = await create(
        client,
        "Write report",
        description="Quarterly MILK figures",
        priority="high",
        tags=["work"],
        due_date="2026-12-02T10:00:00Z",
    )
    await create(client, "Call mum", priority="low", tags=["home"])
    await client.patch(f"{TASKS}/{report['id']}/complete")

    assert await titles(client, q="milk") == ["Write report", "Buy milk"]
    assert await titles(client, q="MILK", status="pending") == ["Buy milk"]
    assert await titles(client, status="completed") == ["Write report"]
    assert await titles(client, priority=["low", "high"], tag="home") == ["Call mum", "Buy milk"]
    assert await titles(client, tag=["home", "errand"]) == ["Buy milk"]
    assert await titles(client, tag="Home") == []  # tags match as spelled
    assert await titles(client, due_before="2026-12-01") == ["Buy milk"]  # by the end of the day
    assert await titles(client, due_after="2026-12-01") == ["Write report"]
    assert await titles(client, due_before="2026-12-02T09:59:59Z") == ["Buy milk"]
    assert await titles(client, q="50%_") == []  # pattern characters are literal
    assert await titles(client, _="1733480000000") == ["Call mum", "Write report", "Buy milk"]


async def test_a_search_never_matches_across_title_and_description(
    client: httpx.AsyncClient,
) -> None:
    """One index covers title, line break, description; a match must lie within one."""
    await create(client, "Ends with milk", description="bread at the start")
    await create(client, "Two\nlines", description="first\nsecond")

    assert await titles(client, q="milk\nbread") == []
    assert await titles(client, q="k\nb") == []
    assert await titles(client, q="milk") == ["Ends with milk"]
    assert await titles(client, q="o\nl") == ["Two\nlines"]  # within the title
    assert await titles(client, q="FIRST\nS") == ["Two\nlines"]  # within the description


# 2,000 tasks crafted so that every trigram of the searches below is in each of them, with
# the longest title and description: the trigram index hands all of them to ILIKE.
CRAFTED = (
    "INSERT INTO tasks (user_id, title, description) SELECT 'alice', repeat('t', 200), "
    "repeat(repeat('t', 197) || 'xy', 5) FROM generate_series(1, 2000)"
)


@pytest.mark.parametrize("q", ["t" * 198 + "xy", "tx" * 100, "T" * 17, "ab" * 40])
async def test_a_search_that_repeats_itself_too_much_is_a_422_naming_the_bound(
    client: httpx.AsyncClient, q: str
) -> None:
    """`t` x 198 + `xy` made ILIKE compare up to 200 characters at each character of each
    crafted task: 0.4-1 s of database CPU for one request."""
    response = await client.get(TASKS, params={"q": q})

    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("q: repeats itself too much")
    assert "at most 16 characters of a repeated pattern" in response.json()["detail"]


async def test_the_costliest_search_allowed_answers_quickly_on_tasks_crafted_against_it(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    await create(client, "First")
    seed(clean_database, CRAFTED)
    clean_database.execute("ANALYZE tasks")

    for q in ["t" * 14 + "xy", "t" * 12 + "xy" + "t" * 186, "tx" * 8, "t" * 16]:
        started = time.perf_counter()
        response = await client.get(TASKS, params={"q": q, "limit": 5})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        assert elapsed < 1.0, (q, elapsed)  # generous: ~0.05-0.1 s on a loaded machine


async def test_overdue_means_pending_and_past_its_deadline(client: httpx.AsyncClient) -> None:
    await create(client, "Past date", due_date="2020-01-01")
    await create(client, "Past time", due_date="2020-01-01T00:00:00Z")
    done = await create(client, "Past but done", due_date="2020-01-01")
    await client.patch(f"{TASKS}/{done['id']}/complete")
    await create(client, "Future", due_date="2999-01-01")
    await create(client, "No deadline")

    assert await titles(client, overdue="true") == ["Past time", "Past date"]
    assert await titles(client, overdue="false") == ["No deadline", "Future", "Past but done"]


async def test_sort_keys_and_their_default_orders(client: httpx.AsyncClient) -> None:
    await create(client, "banana", priority="low", due_date="2026-12-02")
    await create(client, "Apple", priority="high")
    await create(client, "cherry", priority="high", due_date="2026-12-02T23:00:00Z")
    await create(client, "date", due_date="2026-12-01T08:00:00+01:00")

    assert await titles(client) == ["date", "cherry", "Apple", "banana"]
    assert await titles(client, sort="created", order="asc") == [
        "banana",
        "Apple",
        "cherry",
        "date",
    ]
    assert await titles(client, sort="title") == ["Apple", "banana", "cherry", "date"]
    assert await titles(client, sort="title", order="desc") == ["date", "cherry", "banana", "Apple"]
    # A date is due by the end of its day: after every date-time of that day. None: last.
    assert await titles(client, sort="due_date") == ["date", "cherry", "banana", "Apple"]
    assert await titles(client, sort="due_date", order="desc") == [
        "banana",
        "cherry",
        "date",
        "Apple",
    ]
    # High first; ties broken by id in the same direction (newest first).
    assert await titles(client, sort="priority") == ["cherry", "Apple", "date", "banana"]
    assert await titles(client, sort="priority", order="asc") == [
        "banana",
        "date",
        "Apple",
        "cherry",
    ]


async def test_updated_sort_follows_the_last_change(client: httpx.AsyncClient) -> None:
    first = await create(client, "first")
    await create(client, "second")
    await client.put(f"{TASKS}/{first['id']}", json={"priority": "low"})

    assert await titles(client, sort="updated") == ["first", "second"]


async def walk(client: httpx.AsyncClient, url: str, **params: QueryValue) -> tuple[list[str], int]:
    """Every title over all pages, and the number of pages."""
    seen: list[str] = []
    response = await client.get(url, params=params)
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        pages += 1
        seen += [task["title"] for task in response.json()]
        link = response.headers.get("link")
        if link is None:
            return seen, pages
        target, rel = link.split("; ")
        assert rel == 'rel="next"'
        assert target.startswith("</api/alice/tasks?")
        response = await client.get(target.strip("<>"))


async def test_pages_follow_link_headers_to_the_unpaged_answer(client: httpx.AsyncClient) -> None:
    for number in range(7):
        await create(client, f"t{number}", priority=("low", "high")[number % 2])

    for params in [
        {},
        {"sort": "title"},
        {"sort": "priority", "order": "asc"},
        {"sort": "due_date"},
    ]:
        everything = await titles(client, **params)
        paged, pages = await walk(client, TASKS, limit=3, **params)
        assert paged == everything
        assert pages == 3
    assert await walk(client, TASKS, limit=7) == (await titles(client), 1)  # no empty last page


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"limit": 0}, 422, "limit"),
        ({"limit": 1001}, 422, "limit"),
        ({"limit": "ten"}, 422, "limit"),
        ({"status": "done"}, 422, "status"),
        ({"priority": "urgent"}, 422, "priority"),
        ({"sort": "colour"}, 422, "sort"),
        ({"order": "up"}, 422, "order"),
        ({"overdue": "maybe"}, 422, "overdue"),
        ({"due_before": "2026-12-01T10:00:00"}, 422, "due_before"),
        ({"tag": "   "}, 422, "tag"),
        ({"q": ""}, 422, "q"),
        ({"q": "x" * 201}, 422, "q"),
        ({"cursor": "garbage"}, 400, "cursor"),
        ({"cursor": "x" * 2001}, 422, "cursor"),
    ],
)
async def test_bad_parameters_are_a_problem_naming_them(
    client: httpx.AsyncClient, params: dict[str, QueryValue], status: int, detail: str
) -> None:
    response = await client.get(TASKS, params=params)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


def cursor_key(connection: psycopg.Connection) -> AESGCM:
    """The server's cursor key, as an attacker who somehow held it would use it: to show
    that what a cursor opens to is still checked before it reaches a statement."""
    row = connection.execute("SELECT key FROM server_keys WHERE name = 'cursor'").fetchone()
    assert row is not None
    return AESGCM(bytes(row[0]))


def sealed(key: AESGCM, user_id: str, query: TaskListQuery, payload: object) -> str:
    """A cursor sealed with the server's key around any JSON (or raw bytes) payload."""
    associated = orjson.dumps(["list", user_id, query.identity()])
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return seal(key, associated, raw)


def unkeyed_v1(query: TaskListQuery, user_id: str, payload: object) -> str:
    """A cursor in the old, unkeyed format: anyone could compute its check."""
    raw = orjson.dumps(payload)
    identity = orjson.dumps([user_id, query.identity()])
    check = hashlib.sha256(identity + b"\0" + raw).digest()[:16]
    return f"{b64encode(raw)}.{b64encode(check)}"


def edited(cursor: str, index: int) -> str:
    raw = bytearray(b64decode(cursor))
    raw[index] ^= 1
    return b64encode(bytes(raw))


async def test_cursors_are_bound_to_user_filters_and_sort(client: httpx.AsyncClient) -> None:
    for number in range(3):
        await create(client, f"alice {number}")
        await create(client, f"bob {number}", user="bob")
    link = (await client.get(TASKS, params={"limit": 1})).headers["link"]
    cursor = link.split("cursor=")[1].split(">")[0]

    refused: list[tuple[str, dict[str, QueryValue]]] = [
        ("/api/bob/tasks", {"limit": 1, "cursor": cursor}),  # another user's list
        (TASKS, {"limit": 1, "cursor": cursor, "sort": "title"}),  # another sort
        (TASKS, {"limit": 1, "cursor": cursor, "status": "pending"}),  # another filter
        (TASKS, {"limit": 1, "cursor": edited(cursor, 0)}),  # the nonce
        (TASKS, {"limit": 1, "cursor": edited(cursor, 20)}),  # the ciphertext
        (TASKS, {"limit": 1, "cursor": edited(cursor, -1)}),  # the tag
        (TASKS, {"limit": 1, "cursor": cursor[:-4]}),  # truncated
        (TASKS, {"limit": 1, "cursor": cursor + "AAAA"}),  # extended
        (TASKS, {"limit": 1, "cursor": "e30.e30"}),
        (TASKS, {"limit": 1, "cursor": "AAAA"}),
    ]
    for url, params in refused:
        response = await client.get(url, params=params)
        assert response.status_code == 400, (params, response.text)
        assert "cursor is not valid" in response.json()["detail"]
    # The same cursor with another page size is fine: the size is not part of the query.
    response = await client.get(TASKS, params={"limit": 5, "cursor": cursor})
    assert [task["title"] for task in response.json()] == ["alice 1", "alice 0"]


# The kinds of the 21 forged cursors of issue 21 (7 of which reached the database and
# failed there with a 500), by sort: (sort, payload after the version).
FORGED_POSITIONS: list[tuple[str, list[object]]] = [
    ("title", ["a\u0000b", 1]),  # NUL in a text key
    ("title", ["x" * 201, 1]),  # longer than any title
    ("title", [7, 1]),  # wrong key type
    ("title", [None, 1]),
    ("priority", [32768, 1]),  # outside smallint
    ("priority", [99, 1]),  # no such priority
    ("priority", [True, 1]),
    ("priority", ["high", 1]),
    ("priority", [2.5, 1]),
    ("created", ["2026-12-01T00:00:00+00:00", 2**63]),  # id beyond bigint
    ("created", ["2026-12-01T00:00:00+00:00", 0]),
    ("created", ["2026-12-01T00:00:00+00:00", -1]),
    ("created", ["2026-12-01T00:00:00+00:00", "7"]),
    ("created", ["2026-12-01T00:00:00+00:00", 1.0]),
    ("created", ["2026-12-01T00:00:00", 1]),  # no offset
    ("created", ["not a date", 1]),
    ("created", [None, 1]),
    ("updated", [[1], 1]),
    ("updated", [{"a": 1}, 1]),
    ("due_date", ["10000-01-01T00:00:00+00:00", 1]),
    ("due_date", [1, 1]),
]


@pytest.mark.parametrize(("sort", "position"), FORGED_POSITIONS)
async def test_a_cursor_the_server_did_not_issue_is_a_400_before_any_query(
    client: httpx.AsyncClient,
    admin_connection: psycopg.Connection,
    sort: str,
    position: list[object],
) -> None:
    query = TaskListQuery(sort=sort)
    # Without the key: the old unkeyed format, which anyone could make.
    forged = unkeyed_v1(query, "alice", [1, *position])
    # With the key (if it ever leaked): the position is still checked before binding.
    leaked = sealed(cursor_key(admin_connection), "alice", query, [2, *position])
    for cursor in (forged, leaked):
        response = await client.get(TASKS, params={"sort": sort, "limit": 1, "cursor": cursor})
        assert response.status_code == 400, (position, response.text)
        assert "cursor is not valid" in response.json()["detail"]


async def test_a_sealed_cursor_of_another_shape_is_a_400(
    client: httpx.AsyncClient, admin_connection: psycopg.Connection
) -> None:
    key, query = cursor_key(admin_connection), TaskListQuery()
    payloads: list[object] = [
        b"not json",
        [2, "2026-12-01T00:00:00+00:00"],
        [1, None, 1],
        {},
        [],
        b"",
    ]
    for payload in payloads:
        cursor = sealed(key, "alice", query, payload)
        response = await client.get(TASKS, params={"limit": 1, "cursor": cursor})
        assert response.status_code == 400, (payload, response.text)


async def test_a_cursor_shows_nothing_of_the_task_it_continues_after(
    client: httpx.AsyncClient,
) -> None:
    secret = "HIV test results - call Dr. Smith"
    await create(client, secret)
    await create(client, "zzz")
    response = await client.get(TASKS, params={"sort": "title", "limit": 1})
    cursor = response.headers["link"].split("cursor=")[1].split(">")[0]
    raw = b64decode(cursor)
    for fragment in ("HIV", "Smith", "test results"):
        assert fragment.encode() not in raw
        assert fragment not in cursor
    following = await client.get(TASKS, params={"sort": "title", "limit": 1, "cursor": cursor})
    assert [task["title"] for task in following.json()] == ["zzz"]


async def test_a_cursor_after_the_longest_title_fits_the_cursor_limit(
    client: httpx.AsyncClient,
) -> None:
    widest = "\x01" * 100 + "\U0001f600" * 100  # 6-byte JSON escapes and 4-byte UTF-8
    await create(client, widest)
    await create(client, "~")
    response = await client.get(TASKS, params={"sort": "title", "limit": 1})
    target = response.headers["link"].removeprefix("<").split(">", 1)[0]
    assert len(target.split("cursor=")[1]) <= CURSOR_MAX
    assert [task["title"] for task in (await client.get(target)).json()] == ["~"]


async def test_tags_lists_each_tag_with_its_task_count(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/alice/tags")).json() == []
    await create(client, "a", tags=["work", "Home"])
    await create(client, "b", tags=["work"])
    await create(client, "c", user="bob", tags=["work", "secret"])

    assert (await client.get("/api/alice/tags")).json() == [
        {"tag": "Home", "count": 1},
        {"tag": "work", "count": 2},
    ]
    assert (await client.get("/api/bob/tags")).json() == [
        {"tag": "secret", "count": 1},
        {"tag": "work", "count": 1},
    ]


async def test_no_parameter_reaches_another_users_tasks(client: httpx.AsyncClient) -> None:
    await create(client, "mine", tags=["shared"], due_date="2020-01-01", priority="high")
    await create(
        client, "theirs", user="bob", tags=["shared"], due_date="2020-01-01", priority="high"
    )

    queries: list[dict[str, QueryValue]] = [
        {},
        {"tag": "shared"},
        {"q": "theirs"},
        {"q": "i"},
        {"overdue": "true"},
        {"priority": "high"},
        {"due_before": "2030-01-01"},
        {"sort": "due_date", "limit": 1},
    ]
    for params in queries:
        seen = await titles(client, **params)
        assert "theirs" not in seen, params
    # A token for alice cannot read bob's list or tags at all.
    for url in ("/api/bob/tags", "/api/bob/tasks?tag=shared&limit=1"):
        assert (await client.get(url, headers=bearer(sign("alice")))).status_code == 403


async def test_another_users_recurring_task_cannot_be_completed_or_copied(
    client: httpx.AsyncClient,
) -> None:
    theirs = await create(client, "theirs", user="bob", due_date="2026-12-01", recurrence="daily")

    for method, body in [("PATCH", None), ("PATCH", {"completed": True})]:
        url = f"{TASKS}/{theirs['id']}/complete"
        assert (await client.request(method, url, json=body)).status_code == 404
    put = await client.put(f"{TASKS}/{theirs['id']}", json={"completed": True})
    assert put.status_code == 404
    assert (await client.get(TASKS)).json() == []
    assert [task["completed"] for task in (await client.get("/api/bob/tasks")).json()] == [False]


async def test_a_hostile_query_string_cannot_point_the_next_link_at_another_site(
    client: httpx.AsyncClient,
) -> None:
    for title in ("one", "two"):
        await create(client, title)
    attack = '>;rel="evil",<https://evil.example/'
    # An unknown parameter carrying it is refused outright, naming the parameter.
    refused = await client.get(f"{TASKS}?limit=1&x={attack}")
    assert refused.status_code == 422
    assert "link" not in refused.headers
    # `_`, the accepted cache-buster, carrying it: the link is built from the known
    # parameters only, re-encoded, and stays on this server.
    response = await client.get(f"{TASKS}?limit=1&_={attack}")
    assert response.status_code == 200
    target = response.headers["link"].removeprefix("<").split(">", 1)[0]
    assert target.startswith(f"{TASKS}?limit=1&cursor=")
    assert "evil" not in response.headers["link"]
    following = await client.get(target)
    assert [task["title"] for task in following.json()] == ["one"]
