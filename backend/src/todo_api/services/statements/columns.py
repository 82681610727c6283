"""The columns of a task as the service reads them, and the pieces every task statement
shares: the owner filter, the version touch, the writable columns and their types."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeAlias

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Integer,
    Row,
    SmallInteger,
    Text,
    any_,
    bindparam,
    func,
    literal_column,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert, ReturningUpdate
from sqlalchemy.types import NullType
from sqlmodel import col
from sqlmodel.sql.expression import Select

from todo_api.database.wall import ACTING, OWNER
from todo_api.models import Task
from todo_api.models.task import SEARCH_TEXT
from todo_api.models.xid8 import CURRENT_XID

__all__ = ["ACTING"]


class TaskTuple(NamedTuple):
    """The columns of a task as the service reads them, in this order. Selecting columns (not
    ORM objects) keeps the hot path free of identity-map bookkeeping; services/rendering.py
    turns them into the wire fields (`priority` and `due_at`/`due_all_day` are stored
    differently, see models/columns.py). A statement's rows (SQLAlchemy `Row`s) carry the same
    names; this tuple names a task cut out of a wider row."""

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime
    priority: int
    due_at: datetime | None
    due_all_day: bool
    tags: list[str]
    recurrence: str | None
    reminders: list[dict[str, str]]


TASK_FIELDS: tuple[str, ...] = TaskTuple._fields
# A task as the service returns it: read by name (`row.id`, `row.updated_at`), or unpacked in
# TASK_FIELDS order where every row of a list counts (services/rendering.py `task_dict`).
TaskRow: TypeAlias = Row[Any] | TaskTuple
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

_OWNER = OWNER
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

# Every statement of one user begins its top-level WHERE with the gate `ACTING` (database/
# wall.py): the acting user for row-level security, set before any row is read.
_SELECT: TaskSelect = Select(*TASK_COLUMNS).where(ACTING, _OWNED)
_GET = _SELECT.where(_THIS_TASK)
_PAGE_LIMIT = bindparam("limit", type_=Integer)
_SEARCH_TEXT = literal_column(SEARCH_TEXT, Text)  # spelled as the search index is
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
    "reminders",
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
    "reminders": JSONB,
}
# The columns a new task's values are given for (it starts not completed).
_INSERTED = tuple(name for name in WRITABLE if name != "completed")
