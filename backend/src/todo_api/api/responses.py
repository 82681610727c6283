"""JSON responses built straight from database rows (the rows rendered by
`services/rendering.py`, which the MCP tools share).

Rows leave the service as column tuples in `TASK_FIELDS` order. Serializing them with orjson
instead of validating them again through a Pydantic response model is much faster on large
lists (see performance.md); the OpenAPI document still names `TaskRead` as the response
model, and the tests validate the responses of every operation against it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import Response
from fastapi.responses import StreamingResponse

from todo_api.api.admission import FifoSlots
from todo_api.models.task_query import TaskListQuery
from todo_api.services.conditional import rows_digest, task_etag_of
from todo_api.services.rendering import JSON_OPTIONS, task_dict
from todo_api.services.tasks import PAGE_SIZE, TaskRow, TaskService


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


class LongLists:
    """The users whose last full list took more than one page (at most `size`, the least
    recently seen forgotten first): their next full list most likely will too."""

    def __init__(self, size: int = 10_000) -> None:
        self._users: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, user_id: str) -> bool:
        return user_id in self._users

    def remember(self, user_id: str, long: bool) -> None:
        if not long:
            self._users.pop(user_id, None)
            return
        self._users[user_id] = None
        self._users.move_to_end(user_id)
        if len(self._users) > self._size:
            self._users.popitem(last=False)


async def task_list_response(
    tasks: TaskService,
    query: TaskListQuery,
    after: tuple[Any, int] | None,
    etag: Callable[[str], str],
    bulk_lane: FifoSlots,
    long_lists: LongLists,
    digest: str | None = None,
) -> Response:
    """A JSON array of every task matching `query`, streamed when there is more than one page,
    with the weak ETag `etag(digest)`.

    A list that fits in one page (nearly all of them) is a plain response with a
    Content-Length, its ETag computed from its rows. Longer ones are sent page by page, so
    memory stays bounded, and every page is read and encoded in the bulk lane, at most two
    pages at a time per worker (`FifoSlots(2)`), so that long lists share the loop politely
    with small requests.

    A streamed list's ETag must be no newer than any page sent (else a later If-None-Match
    could wrongly answer 304 for a page read before a change): the database computes the
    digest first, and the pages are read after it. Whether a list is long is known only
    once its first page is read, which then is read again after the digest; for a user
    whose last full list was long (`long_lists`) the digest comes first at once, and a
    `digest` the caller already took (for If-None-Match) is used as it is. The first two
    pages are read before the status line goes out: a database error is still a clean 503.
    """
    user_id = tasks.user_id
    pages = tasks.pages(query, after)
    if digest is None and user_id in long_lists:  # likely long again: the digest first
        async with bulk_lane:
            digest = await tasks.digest(query, None, after)
            first = await _next_page(pages)
    else:
        first = await _next_page(pages)
    if len(first) < PAGE_SIZE:  # a shorter page is the last one: no query needed to know
        long_lists.remember(user_id, long=False)
        return _rows_response(first, etag)
    long_lists.remember(user_id, long=True)
    async with bulk_lane:
        if digest is None:
            digest = await tasks.digest(query, None, after)
            pages = tasks.pages(query, after)
            first = await _next_page(pages)
        second = await _next_page(pages)
    if not second:
        return _rows_response(first, etag)

    async def body() -> AsyncIterator[bytes]:
        yield b"[" + _items(first)
        async with bulk_lane:
            chunk = b"," + _items(second)
        yield chunk
        while True:
            async with bulk_lane:
                page = await _next_page(pages)
                if not page:
                    break
                chunk = b"," + _items(page)
            yield chunk
        yield b"]"

    return StreamingResponse(body(), media_type="application/json", headers={"ETag": etag(digest)})


async def _next_page(pages: AsyncIterator[Sequence[TaskRow]]) -> Sequence[TaskRow]:
    """The next page, or () after the last (pages are never empty). Not `anext(pages, ())`:
    with a default, an exception the generator raises surfaces as a SystemError (3.11)."""
    try:
        return await anext(pages)
    except StopAsyncIteration:
        return ()


def _rows_response(rows: Sequence[Sequence[Any]], etag: Callable[[str], str]) -> Response:
    return json_response(
        [task_dict(row) for row in rows], headers={"ETag": etag(rows_digest(rows))}
    )


def _items(rows: Iterable[Iterable[Any]]) -> bytes:
    """The rows as comma-separated JSON objects (an array without its brackets)."""
    return orjson.dumps([task_dict(row) for row in rows], option=JSON_OPTIONS)[1:-1]
