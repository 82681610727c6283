"""Lists: filters, sort keys, keyset pages, list digests (ETags) and tag counts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Text,
    bindparam,
    collate,
    func,
    literal_column,
    not_,
    or_,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col
from sqlmodel.sql.expression import Select

from todo_api.models import Task
from todo_api.models.columns import due_instant, priority_level
from todo_api.services.lists.query import TaskListQuery
from todo_api.services.statements.columns import (
    _OWNED,
    _PAGE_LIMIT,
    _SEARCH_TEXT,
    _SELECT,
    _TYPES,
    ACTING,
    TaskSelect,
)

# The user's tags with the number of tasks carrying each (a task holds a tag at most once).
_USED_TAGS = Select(func.unnest(col(Task.tags)).label("tag")).where(_OWNED).subquery("used_tags")
_TAG_COUNTS: TaskSelect = (
    Select(_USED_TAGS.c.tag, func.count().label("tasks"))
    .where(ACTING)
    .group_by(_USED_TAGS.c.tag)
    .order_by(collate(_USED_TAGS.c.tag, "C"))
)


# --- Lists: filters, sort keys, keyset pages ------------------------------------------------

# The column each sort key orders by, and (for the cursor) where the last row holds it.
SORT_COLUMNS = {
    "created": "created_at",
    "updated": "updated_at",
    "title": "title",
    "due_date": "due_at",
    "priority": "priority",
}
_KEY_TYPES = {
    **_TYPES,
    "created_at": DateTime(timezone=True),
    "updated_at": DateTime(timezone=True),
}
_INFINITY = literal_column("'infinity'::timestamptz", DateTime(timezone=True))
_MINUS_INFINITY = literal_column("'-infinity'::timestamptz", DateTime(timezone=True))
_NOW = func.now()


def _sort_key(sort: str, direction: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """The expression a list is ordered by, applied to a column or to a cursor's value.

    Titles compare by code point with ASCII case folded (the "C" collation, the same on every
    server); tasks without a deadline sort after the others in either direction.
    """
    if sort == "title":
        return func.lower(collate(value, "C"))
    if sort == "due_date":
        return func.coalesce(value, _INFINITY if direction == "asc" else _MINUS_INFINITY)
    return value


@dataclass(frozen=True, slots=True)
class ListShape:
    """Which filters a list uses and how it is ordered: one statement per shape."""

    status: str
    priorities: bool
    tags: bool
    due_before: bool
    due_after: bool
    overdue: bool | None
    search: bool
    search_spans_lines: bool
    """The search text holds a line break, so it could match across the end of the title
    and the start of the description in SEARCH_TEXT: those candidates are checked again."""
    sort: str
    direction: str
    after: bool


_VERSIONS: TaskSelect = Select(col(Task.id), col(Task.updated_at)).where(ACTING, _OWNED)
# What a list's ETag is computed from: the MD5 of each row's id and `updated_at` in their
# binary forms (8-byte integers: the id, microseconds since 2000-01-01 UTC), in list order.
# services/conditional.py computes the same from rows it has read (cost: see performance.md).
_DIGEST = literal_column(
    "md5(coalesce(string_agg(int8send(page.id) || timestamptz_send(page.updated_at), "
    "''::bytea), ''::bytea))",
    Text,
).label("digest")


@lru_cache(maxsize=512)
def _list(shape: ListShape, versions_only: bool = False) -> TaskSelect:
    """The page statement of a list shape, built on first use and reused after (so the
    compiled cache hits, as with the prebuilt statements above). `versions_only` reads
    just (id, updated_at) of the same rows: what a list's ETag is computed from."""
    statement = _VERSIONS if versions_only else _SELECT
    completed = col(Task.completed)
    due_at = col(Task.due_at)
    if shape.status != "all":
        statement = statement.where(completed if shape.status == "completed" else not_(completed))
    if shape.priorities:
        statement = statement.where(col(Task.priority).in_(bindparam("priorities", expanding=True)))
    if shape.tags:
        statement = statement.where(col(Task.tags).contains(bindparam("tags", type_=ARRAY(Text))))
    if shape.due_before:
        statement = statement.where(
            due_at <= bindparam("due_before", type_=DateTime(timezone=True))
        )
    if shape.due_after:
        statement = statement.where(due_at > bindparam("due_after", type_=DateTime(timezone=True)))
    if shape.overdue is True:
        statement = statement.where(not_(completed), due_at < _NOW)
    elif shape.overdue is False:
        statement = statement.where(or_(completed, due_at.is_(None), due_at >= _NOW))
    if shape.search:
        pattern = bindparam("pattern", type_=Text)
        statement = statement.where(_SEARCH_TEXT.ilike(pattern, escape="\\"))
        if shape.search_spans_lines:
            statement = statement.where(
                or_(
                    col(Task.title).ilike(pattern, escape="\\"),
                    col(Task.description).ilike(pattern, escape="\\"),
                )
            )
    column = SORT_COLUMNS[shape.sort]
    key = _sort_key(shape.sort, shape.direction, getattr(Task, column))
    ids = col(Task.id)
    if shape.after:
        after_key = _sort_key(
            shape.sort, shape.direction, bindparam("after_key", type_=_KEY_TYPES[column])
        )
        after = tuple_(after_key, bindparam("after_id", type_=BigInteger))
        position = tuple_(key, ids)
        statement = statement.where(
            position > after if shape.direction == "asc" else position < after
        )
    if shape.direction == "asc":
        statement = statement.order_by(key.asc(), ids.asc())
    else:
        statement = statement.order_by(key.desc(), ids.desc())
    return statement.limit(_PAGE_LIMIT)


@lru_cache(maxsize=512)
def _list_digest(shape: ListShape) -> TaskSelect:
    """The digest (`_DIGEST`) of the rows the page statement of `shape` returns."""
    return (
        Select(_DIGEST).select_from(_list(shape, versions_only=True).subquery("page")).where(ACTING)
    )


def _like_pattern(text: str) -> str:
    """`%text%` for ILIKE, with the pattern characters of `text` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _list_params(query: TaskListQuery, after: tuple[Any, int] | None) -> dict[str, Any]:
    """The parameters of a list statement: the filters' values and the page's position."""
    params: dict[str, Any] = {}
    if after is not None:
        params["after_key"], params["after_id"] = after
    if query.priority:
        params["priorities"] = sorted({priority_level(name) for name in query.priority})
    if query.tag:
        params["tags"] = sorted(set(query.tag))
    if query.due_before is not None:
        params["due_before"] = due_instant(query.due_before)
    if query.due_after is not None:
        params["due_after"] = due_instant(query.due_after)
    if query.q is not None:
        params["pattern"] = _like_pattern(query.q)
    return params
