"""JSON responses built straight from database rows (the rows rendered by
`services/rendering.py`, which the MCP tools share).

Rows leave the service as column tuples in `TASK_FIELDS` order. Serializing them with orjson
instead of validating them again through a Pydantic response model is much faster on large
lists (see performance.md); the OpenAPI document still names `TaskRead` as the response
model, and the tests validate the responses of every operation against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import Response
from fastapi.responses import StreamingResponse

from todo_api.api.admission import FifoSlots
from todo_api.services.conditional import rows_digest, task_etag_of
from todo_api.services.lists.query import TaskListQuery
from todo_api.services.lists.whole import LongLists, whole_list
from todo_api.services.rendering import JSON_OPTIONS, task_dict
from todo_api.services.tasks import TaskRow, TaskService


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content, option=JSON_OPTIONS),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def task_response(
    row: TaskRow, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """The task as JSON, with its ETag."""
    return json_response(
        task_dict(row), status_code, {"ETag": task_etag_of(row), **(headers or {})}
    )


async def task_list_response(
    tasks: TaskService,
    query: TaskListQuery,
    after: tuple[Any, int] | None,
    etag: Callable[[str], str],
    bulk_lane: FifoSlots,
    long_lists: LongLists,
    digest: str | None = None,
) -> Response:
    """A JSON array of every task matching `query` (services/lists/whole.py reads it), with the
    weak ETag `etag(digest)`: a plain response with a Content-Length when it fits in one page,
    else streamed page by page, each page encoded in the bulk lane."""
    answer = await whole_list(tasks, query, after, bulk_lane, long_lists, _items, digest)
    if answer.chunks is None:
        return _rows_response(answer.rows, etag)
    chunks = answer.chunks

    async def body() -> AsyncIterator[bytes]:
        separator = b"["
        async for chunk in chunks:
            yield separator + chunk
            separator = b","
        yield b"]"

    assert answer.digest is not None  # a streamed list's digest is taken before its pages
    return StreamingResponse(
        body(), media_type="application/json", headers={"ETag": etag(answer.digest)}
    )


def _rows_response(rows: Sequence[TaskRow], etag: Callable[[str], str]) -> Response:
    return json_response(
        [task_dict(row) for row in rows], headers={"ETag": etag(rows_digest(rows))}
    )


def _items(rows: Iterable[Iterable[Any]]) -> bytes:
    """The rows as comma-separated JSON objects (an array without its brackets)."""
    return orjson.dumps([task_dict(row) for row in rows], option=JSON_OPTIONS)[1:-1]
