"""The floor `make bench` measures the service against: what this stack can do at all.

The same three requests as the service's get one, list (a 50-task user's whole list) and
create, through FastAPI and a raw psycopg pool, with nothing else: no auth, no admission,
no service layer, no SQLAlchemy, no middleware, no request log or metrics. Same database,
same data, same server settings (uvicorn, uvloop, httptools, no access log, one worker) and
the same connection settings as the service's defaults (autocommit, results in binary, no
server-side prepared statements, pool of DB_POOL_SIZE), and the same JSON answers (the
service's own `task_dict` and `json_response`).
The service's ratio to this is what its speed targets are stated in (performance.md).

Run by bench/run.py: `python bench/floor.py PORT` with DATABASE_URL (a libpq URL) and
DB_POOL_SIZE in the environment. Not part of the application.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Path, Request, Response
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from todo_api.api.responses import json_response
from todo_api.services.rendering import task_dict

# Spelled out: the columns the service reads (statements/columns.py TASK_FIELDS), in its order.
GET = (
    "SELECT id, user_id, title, description, completed, created_at, updated_at, priority,"
    " due_at, due_all_day, tags, recurrence, reminders FROM tasks WHERE user_id = %s AND id = %s"
)
LIST = (
    "SELECT id, user_id, title, description, completed, created_at, updated_at, priority,"
    " due_at, due_all_day, tags, recurrence, reminders FROM tasks WHERE user_id = %s"
    " ORDER BY created_at DESC, id DESC"
)
INSERT = (
    "INSERT INTO tasks (user_id, title, description) VALUES (%s, %s, %s) RETURNING id,"
    " user_id, title, description, completed, created_at, updated_at, priority, due_at,"
    " due_all_day, tags, recurrence, reminders"
)


class NewTask(BaseModel):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str | None, Field(max_length=1000)] = None


async def configure(connection: AsyncConnection[Any]) -> None:
    connection.prepare_threshold = None
    await connection.execute("SET TIME ZONE 'UTC'")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    size = int(os.environ.get("DB_POOL_SIZE", "10"))
    async with AsyncConnectionPool(
        os.environ["DATABASE_URL"],
        min_size=size,
        max_size=size,
        kwargs={"autocommit": True},
        configure=configure,
        open=False,
    ) as pool:
        await pool.open(wait=True)
        app.state.pool = pool
        yield


app = FastAPI(lifespan=lifespan)
UserId = Annotated[str, Path(max_length=255)]


async def rows(request: Request, sql: str, params: Sequence[Any]) -> list[Any]:
    pool: AsyncConnectionPool[Any] = request.app.state.pool
    async with pool.connection() as connection:
        cursor = connection.cursor(binary=True)
        await cursor.execute(sql, params)
        found: list[Any] = await cursor.fetchall()
        return found


@app.get("/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.get("/api/{user_id}/tasks/{task_id}")
async def get_task(request: Request, user_id: UserId, task_id: int) -> Response:
    found = await rows(request, GET, (user_id, task_id))
    if not found:
        return json_response({"detail": "Task not found"}, 404)
    return json_response(task_dict(found[0]))


@app.get("/api/{user_id}/tasks")
async def list_tasks(request: Request, user_id: UserId) -> Response:
    return json_response([task_dict(row) for row in await rows(request, LIST, (user_id,))])


@app.post("/api/{user_id}/tasks", status_code=201)
async def create_task(request: Request, user_id: UserId, body: NewTask) -> Response:
    (row,) = await rows(request, INSERT, (user_id, body.title, body.description))
    return json_response(task_dict(row), 201)


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
