"""Creates: a task, or a task and its idempotency key in one statement, under the
per-user quotas (services/quotas.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    LargeBinary,
    Text,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    not_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import col
from sqlmodel.sql.expression import Select

from todo_api.models import IdempotencyKey, Task, User
from todo_api.services.statements.columns import (
    _INSERTED,
    _OWNER,
    _TYPES,
    ACTING,
    TASK_COLUMNS,
    TASK_FIELDS,
    TaskInsert,
    TaskSelect,
)

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
# A counted create (services/quotas.py `QuotaChecks`) counts in a CTE, once, and returns the
# count after the task's columns, so the service learns the room left.
_HELD_TASKS = (
    Select(func.count().label("held"))
    .select_from(_USER_TASKS.select_from(_COUNTED_TASKS).limit(_MAX_TASKS).subquery())
    .cte("held_tasks")
)
_HELD_KEYS = (
    Select(func.count().label("held"))
    .select_from(_USER_KEYS_TODAY.select_from(_COUNTED_KEYS).limit(_MAX_KEYS).subquery())
    .cte("held_keys")
)
_TASKS_HELD = Select(_HELD_TASKS.c.held).scalar_subquery().label("tasks_held")
_KEYS_HELD = Select(_HELD_KEYS.c.held).scalar_subquery().label("keys_held")
# Why a create wrote nothing (read only then): tasks full, keys full, and the seconds until
# the oldest key of the last 24 hours leaves the window.
_QUOTA_STATE: TaskSelect = Select(
    not_(_ROOM_FOR_TASK).label("tasks_full"),
    not_(_ROOM_FOR_KEY).label("keys_full"),
    Select(
        func.ceil(
            func.extract("epoch", func.min(col(_COUNTED_KEYS.created_at)) + _KEY_DAY - func.now())
        )
    )
    .where(
        col(_COUNTED_KEYS.user_id) == _OWNER, col(_COUNTED_KEYS.created_at) > func.now() - _KEY_DAY
    )
    .scalar_subquery()
    .label("key_frees_in"),
).where(ACTING)
_NEW_VALUES = (_OWNER, *(bindparam(name, type_=_TYPES[name]) for name in _INSERTED))
_INSERT: TaskInsert = (
    insert(Task)
    .from_select(["user_id", *_INSERTED], select(*_NEW_VALUES).where(ACTING))
    .add_cte(_ENSURE_USER)
    .returning(*TASK_COLUMNS)
)
_INSERT_COUNTED: TaskInsert = (
    insert(Task)
    .from_select(
        ["user_id", *_INSERTED],
        select(*_NEW_VALUES)
        .select_from(_HELD_TASKS)
        .where(ACTING, _HELD_TASKS.c.held < _MAX_TASKS),
    )
    .add_cte(_ENSURE_USER)
    .add_cte(_HELD_TASKS)
    .returning(*TASK_COLUMNS, _TASKS_HELD)
)
# A create with an `Idempotency-Key`: the task and the key row in one statement. A key the
# user already has (committed) stops the task insert; a concurrent create with the same key
# passes that check but then waits on the key's primary key and fails with a unique
# violation when the first commits, which rolls its task back: never two tasks for one key.
_KEY = bindparam("key", type_=Text)
_KEY_OWNED = and_(col(IdempotencyKey.user_id) == _OWNER, col(IdempotencyKey.key) == _KEY)


def _insert_once(counted: bool) -> TaskSelect:
    """The keyed create: the task and its key row in one statement (see above); counted,
    also under both quotas, returning the two counts after the task's columns."""
    values = select(*_NEW_VALUES).where(~exists().where(_KEY_OWNED))
    if counted:
        values = values.select_from(_HELD_TASKS.join(_HELD_KEYS, true())).where(
            _HELD_TASKS.c.held < _MAX_TASKS, _HELD_KEYS.c.held < _MAX_KEYS
        )
    new_task = (
        pg_insert(Task)
        .from_select(["user_id", *_INSERTED], values)
        .returning(*TASK_COLUMNS)
        .cte("new_task")
    )
    columns: list[ColumnElement[Any]] = [new_task.c[name] for name in TASK_FIELDS]
    if counted:
        columns += [_TASKS_HELD, _KEYS_HELD]
    statement: TaskSelect = (
        Select(*columns)
        .where(ACTING)
        .add_cte(_ENSURE_USER)
        .add_cte(
            insert(IdempotencyKey)
            .from_select(
                ["user_id", "key", "fingerprint", "task_id"],
                select(_OWNER, _KEY, bindparam("fingerprint", type_=LargeBinary), new_task.c.id),
            )
            .cte("claimed_key")
        )
    )
    return statement.add_cte(_HELD_TASKS, _HELD_KEYS) if counted else statement


_INSERT_ONCE = _insert_once(counted=False)
_INSERT_ONCE_COUNTED = _insert_once(counted=True)
_KEY_RECORD: TaskSelect = Select(
    col(IdempotencyKey.fingerprint), col(IdempotencyKey.task_id)
).where(ACTING, _KEY_OWNED)
