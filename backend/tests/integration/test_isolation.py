"""User B can neither see, change, toggle nor delete user A's tasks."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_other_users_tasks_are_invisible_and_untouchable(client: httpx.AsyncClient) -> None:
    alice_task = (await client.post("/api/alice/tasks", json={"title": "alice's"})).json()
    bob_task = (await client.post("/api/bob/tasks", json={"title": "bob's"})).json()
    as_bob = f"/api/bob/tasks/{alice_task['id']}"
    missing = "/api/bob/tasks/987654321"

    # Bob's view of Alice's task is exactly his view of a task that does not exist.
    for method, suffix, body in [
        ("GET", "", None),
        ("PUT", "", {"title": "hijacked", "completed": True}),
        ("PATCH", "/complete", None),
        ("DELETE", "", None),
    ]:
        foreign = await client.request(method, as_bob + suffix, json=body)
        absent = await client.request(method, missing + suffix, json=body)
        assert foreign.status_code == absent.status_code == 404
        assert foreign.json()["detail"] == f"Task {alice_task['id']} not found"
        assert absent.json()["detail"] == "Task 987654321 not found"

    assert (await client.get("/api/bob/tasks")).json() == [bob_task]
    assert (await client.get("/api/alice/tasks")).json() == [alice_task]
    assert (await client.get(f"/api/alice/tasks/{alice_task['id']}")).json() == alice_task


async def test_similar_user_ids_do_not_share_tasks(client: httpx.AsyncClient) -> None:
    for user in ["carol", "Carol", "carol ", "carol%25", "%"]:
        await client.post(f"/api/{user}/tasks", json={"title": user})
    tasks = (await client.get("/api/carol/tasks")).json()
    assert [task["title"] for task in tasks] == ["carol"]
    assert [task["title"] for task in (await client.get("/api/%25/tasks")).json()] == ["%"]
