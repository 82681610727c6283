"""`UserTasks`: the only place task statements come from, each bound to one user.

The service never writes `select(Task)`, `update(Task)` or `delete(Task)` itself; it asks the
scope for a `Scoped` statement, whose SQL already filters on `tasks.user_id = :owner` and
whose parameters already carry the user. A new endpoint therefore cannot forget the user
filter: there is no unfiltered statement to start from, and a scoped statement executed
without its parameters fails instead of matching other users. A test checks that no other
module builds task statements.

The statements are built once, at import, with bind parameters. Reusing the same statement
objects lets SQLAlchemy's compiled cache hit without re-adapting result columns to a freshly
built statement, which costs CPU on every query (see performance.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeAlias

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    collate,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert, ReturningUpdate
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import NullType
from sqlmodel import col
from sqlmodel.sql.expression import Select

from todo_api.models import IdempotencyKey, Task, TaskTombstone, User
from todo_api.models.columns import due_instant, priority_level
from todo_api.models.task import DEFAULT_PRIORITY_LEVEL, SEARCH_TEXT
from todo_api.models.task_query import TaskListQuery
from todo_api.models.xid8 import CURRENT_XID, PgSnapshot
from todo_api.services.quotas import Quotas

# The columns of a task as the service reads them. Selecting columns (not ORM objects) keeps
# the hot path free of identity-map bookkeeping; api/responses.py turns them into the wire
# fields (`priority` and `due_at`/`due_all_day` are stored differently, see models/columns.py).
TASK_FIELDS = (
    "id",
    "user_id",
    "title",
    "description",
    "completed",
    "created_at",
    "updated_at",
    "priority",
    "due_at",
    "due_all_day",
    "tags",
    "recurrence",
)
# `tags` comes back as psycopg decodes it (a list of str): SQLAlchemy's ARRAY result
# processing would copy every array again in Python, row by row (see performance.md).
TASK_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(
    type_coerce(col(Task.tags), NullType).label("tags") if name == "tags" else getattr(Task, name)
    for name in TASK_FIELDS
)

# Statement types returning task rows (column tuples of any length).
TaskSelect: TypeAlias = Select[*tuple[Any, ...]]
TaskUpdate: TypeAlias = ReturningUpdate[*tuple[Any, ...]]
TaskDelete: TypeAlias = ReturningDelete[*tuple[Any, ...]]
TaskInsert: TypeAlias = ReturningInsert[*tuple[Any, ...]]
TaskStatement: TypeAlias = TaskSelect | TaskUpdate | TaskDelete | TaskInsert

_OWNER = bindparam("owner", type_=Text)
_TASK_ID = bindparam("task_id", type_=BigInteger)
_OWNED = col(Task.user_id) == _OWNER
_THIS_TASK = col(Task.id) == _TASK_ID


# Every change moves `updated_at` strictly forward, even if the clock does not: it is the
# task's version (its ETag), so two versions never share it. And every change records its
# transaction (`change_xid`, for the changes feed).
_TOUCH = {
    "updated_at": func.greatest(
        func.clock_timestamp(), col(Task.updated_at) + timedelta(microseconds=1)
    ),
    "change_xid": CURRENT_XID,
}
# `If-Match`: the write happens only if the task is still at one of the versions given, in
# the same statement (no window between the check and the write).
_AT_VERSION = col(Task.updated_at) == any_(
    bindparam("versions", type_=ARRAY(DateTime(timezone=True)))
)

_SELECT: TaskSelect = Select(*TASK_COLUMNS).where(_OWNED)
_GET = _SELECT.where(_THIS_TASK)
_PAGE_LIMIT = bindparam("limit", type_=Integer)
_SEARCH_TEXT = literal_column(SEARCH_TEXT, Text)  # spelled as the search index is
_TOGGLE: TaskUpdate = (
    update(Task)
    .where(_OWNED, _THIS_TASK)
    .values(completed=not_(col(Task.completed)), **_TOUCH)
    .returning(*TASK_COLUMNS)
)
# Completions that cannot create a next occurrence, as one autocommit statement: the guards
# leave a recurring task that would become completed alone (no row: take the transaction).
_NOT_RECURRING = col(Task.recurrence).is_(None)
_TOGGLE_UNLESS_RECURRING: TaskUpdate = _TOGGLE.where(or_(_NOT_RECURRING, col(Task.completed)))


@lru_cache(maxsize=4)
def _toggle(unless_recurring: bool, if_match: bool) -> TaskUpdate:
    statement = _TOGGLE_UNLESS_RECURRING if unless_recurring else _TOGGLE
    return statement.where(_AT_VERSION) if if_match else statement


@lru_cache(maxsize=2)
def _delete(if_match: bool) -> TaskInsert:
    """DELETE of one task that leaves a tombstone (for the changes feed), in one statement."""
    deleted = delete(Task).where(_OWNED, _THIS_TASK)
    if if_match:
        deleted = deleted.where(_AT_VERSION)
    gone = deleted.returning(col(Task.id), col(Task.user_id)).cte("deleted")
    return (
        insert(TaskTombstone)
        .add_cte(gone)
        .from_select(["task_id", "user_id"], select(gone.c.id, gone.c.user_id))
        .returning(col(TaskTombstone.task_id))
    )


# The user row is upserted in a CTE, so a user's first write needs no extra round trip, and
# concurrent first writes cannot fail: ON CONFLICT waits for the other insert.
# The columns a client writes (see models/columns.py for how wire fields map to them).
WRITABLE = (
    "title",
    "description",
    "completed",
    "priority",
    "due_at",
    "due_all_day",
    "tags",
    "recurrence",
)
_TYPES: dict[str, Any] = {
    "title": Text,
    "description": Text,
    "completed": Boolean,
    "priority": SmallInteger,
    "due_at": DateTime(timezone=True),
    "due_all_day": Boolean,
    "tags": ARRAY(Text),
    "recurrence": Text,
}
# The columns a new task's values are given for (it starts not completed).
_INSERTED = tuple(name for name in WRITABLE if name != "completed")
_ENSURE_USER = pg_insert(User).values(id=_OWNER).on_conflict_do_nothing().cte("ensure_user")


def _fewer_than(rows: TaskSelect, limit: BindParameter[int]) -> ColumnElement[bool]:
    """`rows` holds fewer than `limit` rows, counting at most `limit` of them (quotas)."""
    bounded = rows.limit(limit).subquery()
    return Select(func.count()).select_from(bounded).scalar_subquery() < limit


# Quotas (services/quotas.py), checked in the WHERE of the insert itself: no extra round trip,
# and counting stops at the limit. An alias, so the count never correlates with an outer tasks.
_MAX_TASKS = bindparam("max_tasks", type_=Integer)
_MAX_KEYS = bindparam("max_keys", type_=Integer)
_KEY_DAY = timedelta(days=1)
_COUNTED_TASKS = aliased(Task, name="counted_task")
_COUNTED_KEYS = aliased(IdempotencyKey, name="counted_key")
_USER_TASKS: TaskSelect = Select(literal_column("1")).where(col(_COUNTED_TASKS.user_id) == _OWNER)
_USER_KEYS_TODAY: TaskSelect = Select(literal_column("1")).where(
    col(_COUNTED_KEYS.user_id) == _OWNER, col(_COUNTED_KEYS.created_at) > func.now() - _KEY_DAY
)
_ROOM_FOR_TASK = _fewer_than(_USER_TASKS.select_from(_COUNTED_TASKS), _MAX_TASKS)
_ROOM_FOR_KEY = _fewer_than(_USER_KEYS_TODAY.select_from(_COUNTED_KEYS), _MAX_KEYS)
# Why a create wrote nothing (read only then): tasks full, keys full, and the seconds until
# the oldest key of the last 24 hours leaves the window.
_QUOTA_STATE: TaskSelect = Select(
    not_(_ROOM_FOR_TASK),
    not_(_ROOM_FOR_KEY),
    Select(
        func.ceil(
            func.extract("epoch", func.min(col(_COUNTED_KEYS.created_at)) + _KEY_DAY - func.now())
        )
    )
    .where(
        col(_COUNTED_KEYS.user_id) == _OWNER, col(_COUNTED_KEYS.created_at) > func.now() - _KEY_DAY
    )
    .scalar_subquery(),
)
_INSERT: TaskInsert = (
    insert(Task)
    .from_select(
        ["user_id", *_INSERTED],
        select(_OWNER, *(bindparam(name, type_=_TYPES[name]) for name in _INSERTED)).where(
            _ROOM_FOR_TASK
        ),
    )
    .add_cte(_ENSURE_USER)
    .returning(*TASK_COLUMNS)
)
# A create with an `Idempotency-Key`: the task and the key row in one statement. A key the
# user already has (committed) stops the task insert; a concurrent create with the same key
# passes that check but then waits on the key's primary key and fails with a unique
# violation when the first commits, which rolls its task back: never two tasks for one key.
_KEY = bindparam("key", type_=Text)
_KEY_OWNED = and_(col(IdempotencyKey.user_id) == _OWNER, col(IdempotencyKey.key) == _KEY)
_NEW_TASK = (
    pg_insert(Task)
    .from_select(
        ["user_id", *_INSERTED],
        select(
            _OWNER,
            *(bindparam(name, type_=_TYPES[name]) for name in _INSERTED),
        ).where(~exists().where(_KEY_OWNED), _ROOM_FOR_TASK, _ROOM_FOR_KEY),
    )
    .returning(*TASK_COLUMNS)
    .cte("new_task")
)
_INSERT_ONCE: TaskSelect = (
    Select(*(_NEW_TASK.c[name] for name in TASK_FIELDS))
    .add_cte(_ENSURE_USER)
    .add_cte(
        insert(IdempotencyKey)
        .from_select(
            ["user_id", "key", "fingerprint", "task_id"],
            select(_OWNER, _KEY, bindparam("fingerprint", type_=LargeBinary), _NEW_TASK.c.id),
        )
        .cte("claimed_key")
    )
)
_KEY_RECORD: TaskSelect = Select(
    col(IdempotencyKey.fingerprint), col(IdempotencyKey.task_id)
).where(_KEY_OWNED)
# The next occurrence of a recurring task: a copy of it with the next deadline, created at
# most once per task (ON CONFLICT on the unique `previous_occurrence_id`), and only while
# the user has room for another task.
_COPIED = ("title", "description", "priority", "tags", "recurrence", "due_all_day")
_NEXT_OCCURRENCE: TaskInsert = (
    pg_insert(Task)
    .from_select(
        ["user_id", *_COPIED, "due_at", "previous_occurrence_id"],
        select(
            col(Task.user_id),
            *(getattr(Task, name) for name in _COPIED),
            bindparam("next_due_at", type_=DateTime(timezone=True)),
            col(Task.id),
        ).where(_OWNED, _THIS_TASK, _ROOM_FOR_TASK),
    )
    .on_conflict_do_nothing(index_elements=["previous_occurrence_id"])
    .returning(col(Task.id))
)
_NEXT_OCCURRENCE_ID: TaskSelect = Select(col(Task.id)).where(
    _OWNED, col(Task.previous_occurrence_id) == _TASK_ID
)
# The user's tags with the number of tasks carrying each (a task holds a tag at most once).
_USED_TAGS = Select(func.unnest(col(Task.tags)).label("tag")).where(_OWNED).subquery("used_tags")
_TAG_COUNTS: TaskSelect = (
    Select(_USED_TAGS.c.tag, func.count().label("count"))
    .group_by(_USED_TAGS.c.tag)
    .order_by(collate(_USED_TAGS.c.tag, "C"))
)


@lru_cache(maxsize=512)
def _update(columns: tuple[str, ...], unless_recurring: bool, if_match: bool) -> TaskUpdate:
    """UPDATE of exactly `columns` (one statement per combination, built on first use),
    optionally only of a task without a recurrence, optionally only at given versions."""
    assignments: dict[str, Any] = {
        name: bindparam(f"new_{name}", type_=_TYPES[name]) for name in columns
    }
    statement = (update(Task).where(_OWNED, _THIS_TASK).values(**assignments, **_TOUCH)).returning(
        *TASK_COLUMNS
    )
    if unless_recurring:
        statement = statement.where(_NOT_RECURRING)
    return statement.where(_AT_VERSION) if if_match else statement


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


_VERSIONS: TaskSelect = Select(col(Task.id), col(Task.updated_at)).where(_OWNED)
# What a list's ETag is computed from: the MD5 of each row's id and `updated_at` in their
# binary forms (8-byte integers: the id, microseconds since 2000-01-01 UTC), in list order.
# api/etags.py computes the same from rows it has read (cost: see performance.md).
_DIGEST = literal_column(
    "md5(coalesce(string_agg(int8send(page.id) || timestamptz_send(page.updated_at), "
    "''::bytea), ''::bytea))",
    Text,
)


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
    return Select(_DIGEST).select_from(_list(shape, versions_only=True).subquery("page"))


# --- The changes feed ----------------------------------------------------------------------

# A sync cursor holds a snapshot (`pg_current_snapshot()` as text). "Changed since" is "written
# by a transaction that snapshot did not see": that includes a transaction that was still
# running when the snapshot was taken and committed later, which a timestamp would miss.
# Transactions older than the snapshot's xmin were all seen, so the index range starts there.
_SINCE = cast(bindparam("since", type_=Text), PgSnapshot())
_AFTER_ID = bindparam("after_id", type_=BigInteger)


def _written_since(xid: Any) -> ColumnElement[bool]:
    return and_(
        xid >= func.pg_snapshot_xmin(_SINCE), not_(func.pg_visible_in_snapshot(xid, _SINCE))
    )


@lru_cache(maxsize=4)
def _changes(since: bool, after: bool) -> TaskSelect:
    """One page of the changes feed, in one statement (so one snapshot): the snapshot itself
    and the time (the next cursor), then up to `limit` tasks written and tasks deleted since
    the `since` snapshot (everything alive without one), by id, after `after_id`.

    Rows: (snapshot, now, *TASK_FIELDS, deleted); a deleted task has only id and user_id,
    and a page without changes is one row of the first two columns and nulls."""
    changed: TaskSelect = Select(*TASK_COLUMNS, false().label("deleted")).where(_OWNED)
    if after:
        changed = changed.where(col(Task.id) > _AFTER_ID)
    if not since:
        page = changed.subquery("page")
    else:
        deleted: TaskSelect = Select(
            col(TaskTombstone.task_id).label("id"),
            col(TaskTombstone.user_id),
            *(null() for _ in TASK_FIELDS[2:]),
            true().label("deleted"),
        ).where(col(TaskTombstone.user_id) == _OWNER, _written_since(col(TaskTombstone.change_xid)))
        if after:
            deleted = deleted.where(col(TaskTombstone.task_id) > _AFTER_ID)
        changed = changed.where(_written_since(col(Task.change_xid)))
        page = union_all(changed, deleted).subquery("page")
    page_rows = Select(page).order_by(page.c.id).limit(_PAGE_LIMIT).subquery("page_rows")
    point = Select(
        cast(func.pg_current_snapshot(), Text).label("snapshot"), func.now().label("at")
    ).subquery("sync_point")
    return (
        Select(point, page_rows)
        .select_from(point.outerjoin(page_rows, true()))
        .order_by(page_rows.c.id)
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


def sort_position(row: Any, sort: str) -> tuple[Any, int]:
    """Where `row` (in TASK_FIELDS order) stands in a list sorted by `sort`: (key, id)."""
    return row[TASK_FIELDS.index(SORT_COLUMNS[sort])], row[0]


@dataclass(frozen=True, slots=True)
class Scoped:
    """A task statement and the parameters that bind it to its user."""

    statement: TaskStatement
    params: Mapping[str, Any]


class UserTasks:
    """Statements over the tasks of one user."""

    def __init__(self, user_id: str, quotas: Quotas = Quotas()) -> None:  # noqa: B008  (frozen)
        self.user_id = user_id
        self.quotas = quotas

    def _scoped(self, statement: TaskStatement, **params: Any) -> Scoped:
        return Scoped(statement, {"owner": self.user_id, **params})

    def page(self, query: TaskListQuery, limit: int, after: tuple[Any, int] | None) -> Scoped:
        """Up to `limit` tasks matching `query`, in its order, after the position `after`
        ((sort key value, id) of the last task seen; None for the first page)."""
        params = _list_params(query, after)
        return self._scoped(_list(self._shape(query, after)), limit=limit, **params)

    @staticmethod
    def _shape(query: TaskListQuery, after: tuple[Any, int] | None) -> ListShape:
        return ListShape(
            status=query.status,
            priorities=bool(query.priority),
            tags=bool(query.tag),
            due_before=query.due_before is not None,
            due_after=query.due_after is not None,
            overdue=query.overdue,
            search=query.q is not None,
            search_spans_lines=query.q is not None and "\n" in query.q,
            sort=query.sort,
            direction=query.direction,
            after=after is not None,
        )

    def digest(
        self, query: TaskListQuery, limit: int | None, after: tuple[Any, int] | None
    ) -> Scoped:
        """The digest of (id, updated_at) of exactly the tasks `page` would return (every
        match when `limit` is None), in the same order: one row, one column."""
        params = _list_params(query, after)
        return self._scoped(_list_digest(self._shape(query, after)), limit=limit, **params)

    def changes(self, since: str | None, after_id: int | None, limit: int) -> Scoped:
        """Up to `limit` tasks written or deleted since the snapshot `since` (all tasks
        without it), by id after `after_id`; see `_changes`."""
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if after_id is not None:
            params["after_id"] = after_id
        return self._scoped(_changes(since is not None, after_id is not None), **params)

    def tag_counts(self) -> Scoped:
        """(tag, number of tasks) of every tag the user's tasks carry, by tag."""
        return self._scoped(_TAG_COUNTS)

    def get(self, task_id: int) -> Scoped:
        return self._scoped(_GET, task_id=task_id)

    def insert(self, columns: Mapping[str, Any], once: tuple[str, bytes] | None = None) -> Scoped:
        """A new task with the given column values (see `WRITABLE`; `completed` excluded).
        With `once` (an idempotency key and the request's fingerprint), the key is recorded
        with the task, and no task is made when the user has the key already (no row).
        No row either when the user is at a quota (see `quota_state`)."""
        defaults = {"priority": DEFAULT_PRIORITY_LEVEL, "due_at": None, "due_all_day": False}
        values = {**defaults, "tags": [], "recurrence": None, "description": None, **columns}
        max_tasks = self.quotas.max_tasks
        if once is None:
            return self._scoped(_INSERT, max_tasks=max_tasks, **values)
        key, fingerprint = once
        return self._scoped(
            _INSERT_ONCE,
            key=key,
            fingerprint=fingerprint,
            max_tasks=max_tasks,
            max_keys=self.quotas.max_keys_per_day,
            **values,
        )

    def quota_state(self) -> Scoped:
        """(tasks full, keys of the last 24 hours full, seconds until a key leaves that
        window): why an insert under the quotas wrote nothing."""
        return self._scoped(
            _QUOTA_STATE, max_tasks=self.quotas.max_tasks, max_keys=self.quotas.max_keys_per_day
        )

    def key_record(self, key: str) -> Scoped:
        """(fingerprint, task_id) of the user's idempotency key `key`, if recorded."""
        return self._scoped(_KEY_RECORD, key=key)

    def next_occurrence(self, task_id: int, due_at: datetime) -> Scoped:
        """Insert the next occurrence of recurring task `task_id`, due at `due_at`, unless it
        has one already or the user is at MAX_TASKS_PER_USER (then no row comes back)."""
        return self._scoped(
            _NEXT_OCCURRENCE,
            task_id=task_id,
            next_due_at=due_at,
            max_tasks=self.quotas.max_tasks,
        )

    def next_occurrence_id(self, task_id: int) -> Scoped:
        """The id of the task created when `task_id` was completed, if any."""
        return self._scoped(_NEXT_OCCURRENCE_ID, task_id=task_id)

    def update(
        self,
        task_id: int,
        changes: Mapping[str, Any],
        *,
        unless_recurring: bool = False,
        versions: Sequence[datetime] | None = None,
    ) -> Scoped:
        """Set the given columns (a subset of `WRITABLE`) and touch `updated_at`; with
        `unless_recurring`, only when the stored task has no recurrence; with `versions`,
        only when its `updated_at` is one of them."""
        columns = tuple(name for name in WRITABLE if name in changes)
        if not columns or len(columns) != len(changes):
            raise ValueError(f"changes must be a non-empty subset of {WRITABLE}")
        values = {f"new_{name}": changes[name] for name in columns}
        statement = _update(columns, unless_recurring, versions is not None)
        return self._versioned(statement, versions, task_id=task_id, **values)

    def toggle(
        self,
        task_id: int,
        *,
        unless_recurring: bool = False,
        versions: Sequence[datetime] | None = None,
    ) -> Scoped:
        """Flip `completed` in the database (`completed = NOT completed`): no lost toggles.
        With `unless_recurring`, a pending recurring task is left alone (no row comes back):
        completing it needs the transaction that creates its next occurrence. With
        `versions`, only a task at one of those versions."""
        statement = _toggle(unless_recurring, versions is not None)
        return self._versioned(statement, versions, task_id=task_id)

    def delete(self, task_id: int, versions: Sequence[datetime] | None = None) -> Scoped:
        """Delete the task (leaving a tombstone); with `versions`, only at one of them."""
        return self._versioned(_delete(versions is not None), versions, task_id=task_id)

    def _versioned(
        self, statement: TaskStatement, versions: Sequence[datetime] | None, **params: Any
    ) -> Scoped:
        if versions is not None:
            params["versions"] = list(versions)
        return self._scoped(statement, **params)
