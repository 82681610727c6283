"""The whole list (no `limit`): every matching task, read page by page within a lane.

A list that fits in one page (nearly all of them) is answered from its rows, its ETag computed
from them. Longer ones are sent page by page, so memory stays bounded, and every page is read
and encoded in the bulk lane (`lane`: at most two pages at a time per worker, see main.py), so
that long lists share the loop politely with small requests.

A streamed list's ETag must be no newer than any page sent (else a later If-None-Match could
wrongly answer 304 for a page read before a change): the database computes the digest first,
and the pages are read after it. Whether a list is long is known only once its first page is
read, which then is read again after the digest; for a user whose last full list was long
(`LongLists`) the digest comes first at once, and a `digest` the caller already took (for
If-None-Match) is used as it is. The first two pages are read before the answer is returned:
a database error still comes before any byte is sent.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple

from todo_api.services.lists.pages import PAGE_SIZE, digest, pages
from todo_api.services.lists.query import TaskListQuery
from todo_api.services.tasks import TaskRow, TaskService


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


class WholeList(NamedTuple):
    rows: Sequence[TaskRow]
    """The whole list when `chunks` is None; else its first page."""
    digest: str | None
    """A streamed list's digest (taken before its pages were read)."""
    chunks: AsyncIterator[bytes] | None
    """A streamed list: each page as `encode` wrote it, the first one included."""


async def whole_list(
    tasks: TaskService,
    query: TaskListQuery,
    after: tuple[Any, int] | None,
    lane: AbstractAsyncContextManager[Any],
    long_lists: LongLists,
    encode: Callable[[Sequence[TaskRow]], bytes],
    known_digest: str | None = None,
) -> WholeList:
    """Every task matching `query` (after `after`): see the module docstring."""
    user_id = tasks.user_id
    read = pages(tasks, query, after)
    list_digest = known_digest
    if list_digest is None and user_id in long_lists:  # likely long again: the digest first
        async with lane:
            list_digest = await digest(tasks, query, None, after)
            first = await _next_page(read)
    else:
        first = await _next_page(read)
    if len(first) < PAGE_SIZE:  # a shorter page is the last one: no query needed to know
        long_lists.remember(user_id, long=False)
        return WholeList(first, None, None)
    long_lists.remember(user_id, long=True)
    async with lane:
        if list_digest is None:
            list_digest = await digest(tasks, query, None, after)
            read = pages(tasks, query, after)
            first = await _next_page(read)
        second = await _next_page(read)
    if not second:
        return WholeList(first, None, None)

    async def chunks() -> AsyncIterator[bytes]:
        yield encode(first)
        async with lane:
            chunk = encode(second)
        yield chunk
        while True:
            async with lane:
                page = await _next_page(read)
                if not page:
                    return
                chunk = encode(page)
            yield chunk

    return WholeList(first, list_digest, chunks())


async def _next_page(read: AsyncIterator[Sequence[TaskRow]]) -> Sequence[TaskRow]:
    """The next page, or () after the last (pages are never empty). Not `anext(pages, ())`:
    with a default, an exception the generator raises surfaces as a SystemError (3.11)."""
    try:
        return await anext(read)
    except StopAsyncIteration:
        return ()
