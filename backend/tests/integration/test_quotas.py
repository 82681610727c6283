"""Per-user quotas: MAX_TASKS_PER_USER and MAX_IDEMPOTENCY_KEYS_PER_DAY, checked in the write.

Small limits here, so a test reaches them in a few requests; the defaults are far above real
use (a 10,000-task user keeps working).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from tests.events_support import seed
from tests.support import owner_client
from todo_api.config import Settings
from todo_api.main import create_app
from todo_api.services.quotas import COUNT_EVERY, QuotaChecks

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Alice (and everyone) may keep 3 tasks and make 2 keyed creates a day."""
    app = create_app(
        settings.model_copy(update={"max_tasks_per_user": 3, "max_idempotency_keys_per_day": 2})
    )
    async with owner_client(app) as http:
        yield http


def count(admin: psycopg.Connection, table: str, user: str = "alice") -> int:
    row = admin.execute(f"SELECT count(*) FROM {table} WHERE user_id = %s", (user,)).fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


async def test_a_create_beyond_the_task_limit_is_a_403_naming_it_and_writes_nothing(
    limited: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    created = [await limited.post(TASKS, json={"title": f"t{n}"}) for n in range(3)]
    assert [response.status_code for response in created] == [201, 201, 201]

    refused = await limited.post(TASKS, json={"title": "one too many"})
    keyed = await limited.post(TASKS, json={"title": "keyed"}, headers={"Idempotency-Key": "k1"})

    for response in (refused, keyed):
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert "MAX_TASKS_PER_USER = 3" in response.json()["detail"]
    assert count(clean_database, "tasks") == 3
    assert count(clean_database, "idempotency_keys") == 0
    # Another user has room of their own; a deleted task makes room again.
    assert (await limited.post("/api/bob/tasks", json={"title": "b"})).status_code == 201
    task_id = created[0].json()["id"]
    assert (await limited.delete(f"{TASKS}/{task_id}")).status_code == 204
    assert (await limited.post(TASKS, json={"title": "room again"})).status_code == 201


async def test_a_replayed_key_still_answers_when_the_user_is_at_the_limit(
    limited: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    key = {"Idempotency-Key": "replay-me"}
    first = await limited.post(TASKS, json={"title": "keyed"}, headers=key)
    for n in range(2):
        await limited.post(TASKS, json={"title": f"t{n}"})
    replayed = await limited.post(TASKS, json={"title": "keyed"}, headers=key)
    assert replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["id"] == first.json()["id"]
    assert count(clean_database, "tasks") == 3


async def test_keyed_creates_beyond_the_daily_limit_get_429_with_retry_after(
    limited: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    for key in ("k1", "k2"):
        response = await limited.post(TASKS, json={"title": key}, headers={"Idempotency-Key": key})
        assert response.status_code == 201

    refused = await limited.post(TASKS, json={"title": "k3"}, headers={"Idempotency-Key": "k3"})

    assert refused.status_code == 429
    assert "MAX_IDEMPOTENCY_KEYS_PER_DAY = 2" in refused.json()["detail"]
    assert 86_000 < int(refused.headers["retry-after"]) <= 86_400  # when the oldest key ages out
    assert count(clean_database, "tasks") == 2
    assert count(clean_database, "idempotency_keys") == 2
    # Keys older than a day no longer count.
    clean_database.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    again = await limited.post(TASKS, json={"title": "k3"}, headers={"Idempotency-Key": "k3"})
    assert again.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/complete", None),
        ("PATCH", "/complete", {"completed": True}),
        ("PUT", "", {"completed": True}),
    ],
)
async def test_completing_a_recurring_task_with_no_room_for_its_next_is_a_403_writing_nothing(
    limited: httpx.AsyncClient,
    clean_database: psycopg.Connection,
    method: str,
    path: str,
    body: dict[str, bool] | None,
) -> None:
    weekly = {"title": "water", "due_date": "2026-12-01", "recurrence": "weekly"}
    task = (await limited.post(TASKS, json=weekly)).json()
    for n in range(2):
        await limited.post(TASKS, json={"title": f"t{n}"})

    response = await limited.request(method, f"{TASKS}/{task['id']}{path}", json=body)

    assert response.status_code == 403
    assert "MAX_TASKS_PER_USER = 3" in response.json()["detail"]
    assert count(clean_database, "tasks") == 3
    stored = (await limited.get(f"{TASKS}/{task['id']}")).json()
    assert stored["completed"] is False
    assert stored["updated_at"] == task["updated_at"]


async def test_completing_a_recurring_task_whose_next_exists_needs_no_room(
    limited: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    weekly = {"title": "water", "due_date": "2026-12-01", "recurrence": "weekly"}
    task_id = (await limited.post(TASKS, json=weekly)).json()["id"]
    assert (await limited.patch(f"{TASKS}/{task_id}/complete")).status_code == 200
    await limited.post(TASKS, json={"title": "third"})
    assert (await limited.patch(f"{TASKS}/{task_id}/complete")).status_code == 200  # reopened
    completed = await limited.patch(f"{TASKS}/{task_id}/complete")
    assert completed.status_code == 200
    assert "next-occurrence" in completed.headers["link"]
    assert count(clean_database, "tasks") == 3


async def test_a_10000_task_user_keeps_working_under_the_default_limits(
    client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    clean_database.execute("INSERT INTO users (id) VALUES ('alice')")
    seed(
        clean_database,
        "INSERT INTO tasks (user_id, title) SELECT 'alice', 'bulk ' || n "
        "FROM generate_series(1, 10000) AS n",
    )
    created = await client.post(TASKS, json={"title": "one more"})
    keyed = await client.post(TASKS, json={"title": "keyed"}, headers={"Idempotency-Key": "k"})
    assert (created.status_code, keyed.status_code) == (201, 201)
    assert count(clean_database, "tasks") == 10_002


async def test_a_user_far_from_the_limit_is_counted_on_one_create_in_sixteen_and_no_more_over(
    settings: Settings, clean_database: psycopg.Connection
) -> None:
    """Counting reads every row of the user, so a user with room is counted on one create in
    COUNT_EVERY; whatever happens behind the process's back (here: rows written directly),
    the user ends at most COUNT_EVERY - 1 tasks over the limit, then every create is counted
    and refused until the user is under it again."""
    app = create_app(settings.model_copy(update={"max_tasks_per_user": 2000}))
    async with owner_client(app) as http:
        assert (await http.post(TASKS, json={"title": "first"})).status_code == 201
        seed(
            clean_database,
            "INSERT INTO tasks (user_id, title) "
            "SELECT 'alice', 'bulk' FROM generate_series(1, 2050)",
        )
        answers = [(await http.post(TASKS, json={"title": f"t{n}"})).status_code for n in range(40)]
        over = answers.index(403)
        assert 0 < over <= COUNT_EVERY - 1
        assert set(answers[over:]) == {403}
        assert count(clean_database, "tasks") == 2051 + over
        clean_database.execute("DELETE FROM tasks WHERE title = 'bulk'")
        assert (await http.post(TASKS, json={"title": "room again"})).status_code == 201


def test_quota_checks_count_one_create_in_every_while_room_remains() -> None:
    checks = QuotaChecks(every=4)
    checks.configure(max_tasks=200, max_keys=100)  # a new user may skip min(3, 1 %) counts
    assert [checks.due("bob", keyed=False) for _ in range(3)] == [False, False, True]
    assert [checks.due("carol", keyed=True) for _ in range(2)] == [False, True]
    checks.configure(max_tasks=3, max_keys=2)  # small limits: every create is counted
    assert checks.due("alice", keyed=False)
    checks.counted("alice", tasks_room=100)
    assert [checks.due("alice", keyed=False) for _ in range(4)] == [False, False, False, True]
    checks.counted("alice", tasks_room=1)  # near the limit: one create, then count again
    assert [checks.due("alice", keyed=False) for _ in range(2)] == [False, True]
    checks.counted("alice", tasks_room=100)
    assert checks.due("alice", keyed=True)  # keys were never counted
    checks.counted("alice", tasks_room=100, keys_room=100)
    assert not checks.due("alice", keyed=True)
    checks.refused("alice")
    assert checks.due("alice", keyed=False)
