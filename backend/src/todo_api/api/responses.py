"""JSON responses built straight from database rows.

Rows leave the service as column tuples in `TASK_FIELDS` order. Serializing them with orjson
instead of validating them again through a Pydantic response model is several times faster
on large lists; the OpenAPI document still names `TaskRead` as the response model, and the
tests validate the responses of every operation against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import Response
from fastapi.responses import StreamingResponse

from todo_api.api.admission import FifoSlots
from todo_api.models.fields import PRIORITIES
from todo_api.services.tasks import PAGE_SIZE

JSON_OPTIONS = orjson.OPT_UTC_Z


def task_dict(row: Iterable[Any]) -> dict[str, Any]:
    """The row (columns in `TASK_FIELDS` order) as the JSON object `TaskRead` documents.
    Written out (not a loop over the fields): it is called once per task of a list, and
    the literal is nearly three times faster."""
    (
        id_,
        user_id,
        title,
        description,
        completed,
        created_at,
        updated_at,
        priority,
        due_at,
        due_all_day,
        tags,
        recurrence,
    ) = row
    return {
        "id": id_,
        "user_id": user_id,
        "title": title,
        "description": description,
        "completed": completed,
        "created_at": created_at,
        "updated_at": updated_at,
        "priority": PRIORITIES[priority - 1],
        "due_date": due_at.date() if due_all_day else due_at,
        "tags": tags,
        "recurrence": recurrence,
    }


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
    row: Iterable[Any], status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return json_response(task_dict(row), status_code, headers)


async def task_list_response(
    pages: AsyncIterator[Sequence[Iterable[Any]]], bulk_lane: FifoSlots
) -> Response:
    """A JSON array of every task the pages hold, streamed when there is more than one page.

    A list that fits in one page (nearly all of them) is a plain response with a
    Content-Length. Longer ones are sent page by page, so memory stays bounded, and every
    page after the first is read and encoded in the bulk lane, one page at a time per
    worker, so that long lists share the loop politely with small requests. The first two
    pages are read before the status line goes out: a database error is still a clean 503.
    """
    first = await anext(pages, None) or ()
    second = None
    if len(first) == PAGE_SIZE:  # a shorter page is the last one: no query needed to know
        async with bulk_lane:
            second = await anext(pages, None)
    if second is None:
        return json_response([task_dict(row) for row in first])

    async def body() -> AsyncIterator[bytes]:
        yield b"[" + _items(first)
        async with bulk_lane:
            chunk = b"," + _items(second)
        yield chunk
        while True:
            async with bulk_lane:
                page = await anext(pages, None)
                if page is None:
                    break
                chunk = b"," + _items(page)
            yield chunk
        yield b"]"

    return StreamingResponse(body(), media_type="application/json")


def _items(rows: Iterable[Iterable[Any]]) -> bytes:
    """The rows as comma-separated JSON objects (an array without its brackets)."""
    return orjson.dumps([task_dict(row) for row in rows], option=JSON_OPTIONS)[1:-1]
