"""Isolation is structural: every task statement comes from the user-scoped `UserTasks`."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from todo_api.models import TaskRead
from todo_api.services.conversations import ChatScoped, Turn, UserConversations
from todo_api.services.lists.query import TaskListQuery
from todo_api.services.scope import Scoped, UserTasks
from todo_api.services.statements.columns import TASK_FIELDS

SOURCE = Path(__file__).resolve().parents[2] / "src" / "todo_api"

EVERY_FILTER = TaskListQuery.model_validate(
    {
        "status": "pending",
        "priority": ["high"],
        "tag": ["work"],
        "due_before": "2026-12-01",
        "due_after": "2026-11-01",
        "overdue": True,
        "q": "milk",
        "sort": "title",
    }
)

SCOPED_STATEMENTS: list[Callable[[UserTasks], Scoped]] = [
    lambda tasks: tasks.page(TaskListQuery(), 10, None),
    lambda tasks: tasks.page(TaskListQuery(), 10, (datetime.now(UTC), 5)),
    lambda tasks: tasks.page(EVERY_FILTER, 10, ("x", 5)),
    lambda tasks: tasks.tag_counts(),
    lambda tasks: tasks.get(1),
    lambda tasks: tasks.insert({"title": "title"}),
    lambda tasks: tasks.next_occurrence(1, datetime.now(UTC), []),
    lambda tasks: tasks.next_occurrence_id(1),
    lambda tasks: tasks.update(1, {"title": "x"}),
    lambda tasks: tasks.update(1, {"title": "x", "description": None, "completed": True}),
    lambda tasks: tasks.toggle(1),
    lambda tasks: tasks.delete(1),
    lambda tasks: tasks.insert({"title": "title"}, ("key", b"f" * 32)),
    lambda tasks: tasks.insert({"title": "title"}, counted=False),
    lambda tasks: tasks.insert({"title": "title"}, ("key", b"f" * 32), counted=False),
    lambda tasks: tasks.key_record("key"),
    lambda tasks: tasks.quota_state(),
    lambda tasks: tasks.digest(EVERY_FILTER, None, ("x", 5)),
    lambda tasks: tasks.changes(None, None, 10),
    lambda tasks: tasks.changes("5:9:6", 7, 10),
    lambda tasks: tasks.update(1, {"title": "x"}, versions=[datetime.now(UTC)]),
    lambda tasks: tasks.toggle(1, unless_recurring=True, versions=[datetime.now(UTC)]),
    lambda tasks: tasks.delete(1, [datetime.now(UTC)]),
]
CONVERSATION_STATEMENTS: list[Callable[[UserConversations], ChatScoped]] = [
    lambda chats: chats.new_turn("title", timedelta(minutes=1), "hi", "key", 20),
    lambda chats: chats.user_turn(1, "hi", "key", 10, 20),
    lambda chats: chats.claim(1, timedelta(minutes=1)),
    lambda chats: chats.exists(1),
    lambda chats: chats.release(1, datetime.now(UTC)),
    lambda chats: chats.delete(1),
    lambda chats: chats.page(10, None),
    lambda chats: chats.page(10, 5),
    lambda chats: chats.finish(Turn(1, 2, None, (), datetime.now(UTC)), "hello", []),
    lambda chats: chats.keyed("key"),
    lambda chats: chats.answer_to(1),
    lambda chats: chats.history(1, 10, 5),
    lambda chats: chats.messages(1, 10, None),
    lambda chats: chats.messages(1, 10, 5),
]
# Tables holding rows of one user each, and how a statement may legitimately write one: the
# owner itself, or the user_id of a row the same statement read through its owner filter.
USER_TABLES = (
    "tasks",
    "task_tombstones",
    "idempotency_keys",
    "users",
    "conversations",
    "chat_messages",
)
_OWNER_VALUE = re.compile(
    r"^\(?(?:VALUES \()?(?:SELECT )?(%\(owner\)s|tasks\.user_id|deleted\.user_id)"
)


@pytest.mark.parametrize(
    "build",
    [
        *(lambda build=build: build(UserTasks("alice")) for build in SCOPED_STATEMENTS),
        *(
            lambda build=build: build(UserConversations("alice"))
            for build in CONVERSATION_STATEMENTS
        ),
    ],
)
def test_every_statement_is_bound_to_its_user(build: Callable[[], Scoped | ChatScoped]) -> None:
    scoped = build()
    # SQLAlchemy's dialect constructors take unannotated **kwargs.
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    statement = scoped.statement
    assert isinstance(statement, ClauseElement)
    sql = str(statement.compile(dialect=dialect))

    assert scoped.params["owner"] == "alice"
    # Every read, update or delete of a user table filters on the owner before the next one.
    # (A table read under an alias, as the quota counts are, filters on the alias.)
    tables = "|".join(USER_TABLES)
    reads = list(re.finditer(rf"\b(?:FROM|UPDATE) ({tables})\b(?: AS (\w+))?", sql))
    assert reads or "INSERT INTO" in sql, sql
    for read, following in zip(reads, [*reads[1:], None][: len(reads)], strict=True):
        segment = sql[read.end() : following.start() if following else None]
        owner_column = "id" if read[1] == "users" else "user_id"
        assert f"{read[2] or read[1]}.{owner_column} = %(owner)s" in segment, sql
    # Every insert into a user table writes the owner (or the owner of a row read so).
    for insert in re.finditer(rf"INSERT INTO ({'|'.join(USER_TABLES)}) \((\w+)[^)]*\) ", sql):
        column = "id" if insert[1] == "users" else "user_id"
        assert insert[2] in (column, "task_id"), sql
        values = sql[insert.end() :]
        if insert[2] == "task_id":  # a tombstone: (id, user_id) of the rows just deleted
            values = values.replace("deleted.id, ", "", 1)
        assert _OWNER_VALUE.match(values), sql


def test_updates_refuse_columns_outside_the_updatable_set() -> None:
    for changes in ({}, {"user_id": "mallory"}, {"title": "x", "id": 5}):
        with pytest.raises(ValueError, match="non-empty subset"):
            UserTasks("alice").update(1, changes)


# The tables of user data and the only modules that may name them: the one scoped source of
# statements, and housekeeping, whose deletes of expired keys and tombstones span users by
# design (models/ defines them; migrations/ builds them, as the schema's owner, never per request).
TABLE_CLASSES = {
    "Task",
    "TaskTombstone",
    "IdempotencyKey",
    "TaskEvent",
    "TaskReminder",
    "StreamTicket",
    "Conversation",
    "ChatMessage",
}
STATEMENTS = {
    f"services/statements/{job}.py"
    for job in ("columns", "creates", "writes", "lists", "changes", "reminders")
}
MAY_NAME = {
    "Task": STATEMENTS,
    "TaskTombstone": STATEMENTS | {"services/housekeeping.py"},
    "IdempotencyKey": STATEMENTS | {"services/housekeeping.py"},
    # The outbox: the relay's statements span users by design (they deliver everybody's).
    "TaskEvent": {"events/outbox.py", "live/reads.py"},  # live/: one user's, by `:owner`
    "TaskReminder": {"services/statements/reminders.py"},
    "StreamTicket": {"live/tickets.py"},
    "Conversation": {"services/statements/conversations.py"},
    "ChatMessage": {"services/statements/conversations.py"},
    # The announcer reads the ids and user ids of everybody's new events (never their content)
    # on its own LISTEN connection, to wake those users' streams: it hands no row to anyone.
    "raw SQL": {"live/announcer.py"},
}
_RAW_SQL = re.compile(
    r"\b(from|into|update|join|table)\s+"
    r"(tasks|task_tombstones|idempotency_keys|task_events|task_reminders|stream_tickets"
    r"|conversations|chat_messages)\b",
    re.I,
)


def _names_of_tables(path: Path) -> set[str]:
    """The table classes a module reaches, whatever the idiom: imported by name from the
    models, or read as an attribute of the models package (`models.Task`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("todo_api.models"):
            found |= {alias.name for alias in node.names} & TABLE_CLASSES
        elif isinstance(node, ast.Attribute) and node.attr in TABLE_CLASSES:
            found.add(node.attr)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _RAW_SQL.search(node.value)
        ):
            found.add("raw SQL")
    return found


def test_no_module_outside_the_statement_source_touches_the_task_tables() -> None:
    """Routers and services must ask `UserTasks`: no other module may start a statement from
    the task tables, by any idiom (`select(Task)`, `select(col(Task.id))`, raw SQL...)."""
    offenders = {}
    for path in SOURCE.rglob("*.py"):
        where = str(path.relative_to(SOURCE))
        if where.startswith(("models/", "migrations/")):
            continue
        reached = {
            name for name in _names_of_tables(path) if where not in MAY_NAME.get(name, set())
        }
        if reached:
            offenders[where] = reached
    assert offenders == {}
    allowed = set().union(*MAY_NAME.values())
    reached = set().union(*(_names_of_tables(SOURCE / where) for where in allowed))
    assert reached >= TABLE_CLASSES  # the allow-list is in use, not stale


def test_the_table_check_sees_the_projects_own_idioms(tmp_path: Path) -> None:
    module = tmp_path / "sneaky.py"
    for idiom in (
        "from todo_api.models import Task\nq = select(col(Task.id))",
        "from todo_api.models.task import Task as T\nq = select(T)",
        "import todo_api.models as m\nq = update(m.Task)",
        "q = text('DELETE FROM tasks WHERE true')",
    ):
        module.write_text(idiom)
        assert _names_of_tables(module), idiom


def test_task_dict_writes_every_field_of_the_response_model_in_order() -> None:
    from todo_api.services.rendering import task_dict

    due = datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)
    columns = dict.fromkeys(TASK_FIELDS, "x") | {"priority": 3, "due_at": due, "due_all_day": True}
    task = task_dict(columns[name] for name in TASK_FIELDS)

    assert tuple(task) == tuple(TaskRead.model_fields)
    assert task["priority"] == "high"
    assert task["due_date"] == due.date()
    assert [task[name] for name in ("id", "title", "tags", "recurrence")] == ["x"] * 4
