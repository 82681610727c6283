"""A list read from the database: page by page in its own order (keyset pagination), one page
of a client's size, and the digest of either (what a list's ETag is computed from)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple

from todo_api.services.lists.query import TaskListQuery
from todo_api.services.statements.lists import SORT_COLUMNS
from todo_api.services.tasks import TaskRow, TaskService

# Lists are read in pages of this many rows (keyset pagination in the list's own order), so
# memory stays bounded and no single step holds the event loop for long, whatever the size.
PAGE_SIZE = 1000


class Page(NamedTuple):
    rows: Sequence[TaskRow]
    next_after: tuple[Any, int] | None
    """Where the next page starts ((sort key, id) of the last row), None on the last page."""
    read: Sequence[TaskRow]
    """What the statement read: `rows` and, if there is one, the first row after them
    (which tells whether a next page exists: a list's ETag covers it)."""


def sort_position(row: TaskRow, sort: str) -> tuple[Any, int]:
    """Where `row` stands in a list sorted by `sort`: (key, id)."""
    return getattr(row, SORT_COLUMNS[sort]), row.id


async def pages(
    tasks: TaskService,
    query: TaskListQuery,
    after: tuple[Any, int] | None = None,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[Sequence[TaskRow]]:
    """Every task matching `query` (after the position `after`), in its order, as
    non-empty pages (no silent cap).

    Each page is its own statement starting after the last row of the one before, so a
    task created or deleted meanwhile never makes another appear twice.
    """
    while True:
        rows = await tasks.store.rows(tasks.scope.page(query, page_size, after))
        if rows:
            yield rows
        if len(rows) < page_size:
            return
        after = sort_position(rows[-1], query.sort)


async def read_page(
    tasks: TaskService, query: TaskListQuery, limit: int, after: tuple[Any, int] | None = None
) -> Page:
    """At most `limit` tasks matching `query` after the position `after`."""
    read = await tasks.store.rows(tasks.scope.page(query, limit + 1, after))
    if len(read) <= limit:
        return Page(read, None, read)
    rows = read[:limit]
    return Page(rows, sort_position(rows[-1], query.sort), read)


async def digest(
    tasks: TaskService,
    query: TaskListQuery,
    limit: int | None,
    after: tuple[Any, int] | None = None,
) -> str:
    """The digest of what `read_page` (or, with no limit, `pages`) would return now: see
    services/conditional.py. Reads two columns and returns one row, however long the list."""
    (row,) = await tasks.store.rows(tasks.scope.digest(query, limit, after))
    return str(row.digest)


async def answer_digest(
    tasks: TaskService, query: TaskListQuery, after: tuple[Any, int] | None
) -> str:
    """The digest of the answer to `query` (from `after`): with `limit`, of one row more, as
    the page reads (whether a next page exists); without, of the whole list."""
    read = None if query.limit is None else query.limit + 1
    return await digest(tasks, query, read, after)
