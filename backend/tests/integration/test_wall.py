"""The second wall holds alone: row-level security (migration 0011), through the API's own
connection and role (the login `todo_api`, a member of todo_app and todo_worker_access).

Each statement here leaves out the application's user filter on purpose; only the gate
(database/wall.py `ACTING`) names a user. The rows of other users must stay out of reach.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.engine import URL
from sqlmodel import col

from tests.support import libpq_url, make_settings
from todo_api.database.engine import create_engine
from todo_api.database.errors import DRIVER_ERRORS
from todo_api.database.runner import Database
from todo_api.database.wall import ACTING, OWNER, bypasses, worker_rows
from todo_api.models import IdempotencyKey, Task, TaskEvent

pytestmark = pytest.mark.anyio


@pytest.fixture
async def database(migrated_database: URL) -> AsyncIterator[Database]:
    """The app's `Database`, as the app builds it (its login role, its pool)."""
    engine = create_engine(make_settings(migrated_database), migrated_database)
    yield Database(engine, 10.0)
    await engine.dispose()


@pytest.fixture
def two_users(clean_database: psycopg.Connection) -> psycopg.Connection:
    """alice and bob, two tasks each, written as the superuser (outside the wall)."""
    clean_database.execute("INSERT INTO users (id) VALUES ('alice'), ('bob')")
    clean_database.execute(
        "INSERT INTO tasks (user_id, title) VALUES"
        " ('alice', 'a1'), ('alice', 'a2'), ('bob', 'b1'), ('bob', 'b2')"
    )
    return clean_database


def _titles(admin: psycopg.Connection, user: str) -> list[str]:
    rows = admin.execute("SELECT title FROM tasks WHERE user_id = %s ORDER BY id", (user,))
    return [row[0] for row in rows]


async def test_without_the_user_filter_a_read_sees_only_the_acting_users_rows(
    database: Database, two_users: psycopg.Connection
) -> None:
    rows = await database.rows(
        select(col(Task.user_id), col(Task.title)).where(ACTING), {"owner": "alice"}
    )
    assert sorted(rows) == [("alice", "a1"), ("alice", "a2")]
    # An aggregate too.
    count = await database.rows(
        select(func.count()).select_from(Task).where(ACTING), {"owner": "bob"}
    )
    assert count[0][0] == 2


async def test_without_the_user_filter_an_update_changes_only_the_acting_users_rows(
    database: Database, two_users: psycopg.Connection
) -> None:
    changed = await database.rows(
        update(Task).where(ACTING).values(title="taken").returning(col(Task.user_id)),
        {"owner": "mallory"},
    )
    assert changed == []
    changed = await database.rows(
        update(Task).where(ACTING).values(title="mine").returning(col(Task.user_id)),
        {"owner": "alice"},
    )
    assert [row[0] for row in changed] == ["alice", "alice"]
    assert _titles(two_users, "bob") == ["b1", "b2"]
    assert _titles(two_users, "alice") == ["mine", "mine"]


async def test_without_the_user_filter_a_delete_removes_only_the_acting_users_rows(
    database: Database, two_users: psycopg.Connection
) -> None:
    await database.rows(delete(Task).where(ACTING), {"owner": "alice"})
    assert _titles(two_users, "alice") == []
    assert _titles(two_users, "bob") == ["b1", "b2"]


async def test_a_row_of_another_user_cannot_be_written_while_acting_for_one(
    database: Database, two_users: psycopg.Connection
) -> None:
    smuggled = insert(Task).from_select(
        ["user_id", "title"], select(literal("bob"), literal("x")).where(ACTING)
    )
    with pytest.raises(DRIVER_ERRORS, match="row-level security"):
        await database.rows(smuggled, {"owner": "alice"})
    moved = update(Task).where(ACTING).values(user_id="bob")
    with pytest.raises(DRIVER_ERRORS, match="row-level security"):
        await database.rows(moved, {"owner": "alice"})
    assert _titles(two_users, "bob") == ["b1", "b2"]


async def test_a_statement_without_an_acting_user_sees_and_changes_nothing(
    database: Database, two_users: psycopg.Connection
) -> None:
    assert await database.rows(select(col(Task.id))) == []
    assert await database.rows(select(col(TaskEvent.id))) == []
    assert await database.rows(update(Task).values(title="x").returning(col(Task.id))) == []
    assert await database.rows(delete(Task).returning(col(Task.id))) == []
    with pytest.raises(DRIVER_ERRORS, match="row-level security"):
        await database.rows(insert(Task).values(user_id="alice", title="x"))
    with pytest.raises(DRIVER_ERRORS, match="row-level security"):
        await database.rows(
            insert(IdempotencyKey).values(user_id="alice", key="k", fingerprint=b"f")
        )
    assert _titles(two_users, "alice") == ["a1", "a2"]


async def test_the_acting_user_ends_with_the_statement(
    database: Database, two_users: psycopg.Connection
) -> None:
    """Transaction-local: the next statement on the same pooled connection has no user (so
    a transaction pooler cannot hand one request's user to another's statement)."""
    engine = database.engine
    async with engine.connect() as connection:
        gated = await connection.execute(select(col(Task.id)).where(ACTING), {"owner": "alice"})
        assert len(gated.all()) == 2
        after = await connection.execute(select(col(Task.id)))
        assert after.all() == []


async def test_the_gate_runs_before_a_count_that_follows_it_and_not_after_one_before_it(
    database: Database, two_users: psycopg.Connection
) -> None:
    """The gate and a quota-like count (an InitPlan) share the One-Time Filter above the scan,
    evaluated in the order written: after the gate, the count sees the user's two tasks; put
    first, it runs with no user set and counts none (why the gate must come first)."""
    counted = select(func.count()).select_from(Task).scalar_subquery()
    owned = col(Task.user_id) == OWNER
    after = select(col(Task.title)).where(ACTING, counted == 2, owned).order_by(col(Task.id))
    rows = await database.rows(after, {"owner": "alice"})
    assert [row[0] for row in rows] == ["a1", "a2"]
    before = select(col(Task.title)).where(counted == 0, ACTING, owned)
    rows = await database.rows(before, {"owner": "alice"})
    assert [row[0] for row in rows] == ["a1", "a2"]


async def test_the_worker_role_spans_users_only_when_taken(
    database: Database, two_users: psycopg.Connection
) -> None:
    rows = await worker_rows(database, select(col(Task.user_id)))
    assert sorted(row[0] for row in rows) == ["alice", "alice", "bob", "bob"]
    # The login has the worker's privileges only after SET ROLE (todo_worker_access is
    # NOINHERIT): outside that transaction, it sees nothing again.
    assert await database.rows(select(col(Task.user_id))) == []


def test_the_apps_login_cannot_leave_the_wall(
    migrated_database: URL, admin_connection: psycopg.Connection
) -> None:
    owner = admin_connection.execute("SELECT current_user").fetchone()
    assert owner is not None
    with psycopg.connect(libpq_url(migrated_database), autocommit=True) as login:
        for attempt in (
            f'SET ROLE "{owner[0]}"',
            "ALTER TABLE tasks DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY",
            "DROP POLICY acting_user ON tasks",
            "SET ROLE todo_app; ALTER TABLE tasks DISABLE ROW LEVEL SECURITY",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                login.execute(attempt)
            login.execute("RESET ROLE")


def test_a_login_without_worker_access_cannot_become_the_worker(
    server_url: URL, admin_connection: psycopg.Connection
) -> None:
    """A login that is a member of todo_app only (a deployment whose cross-user work runs
    elsewhere): `SET ROLE todo_worker` is refused. Straight to the server (a pooler's user
    list knows only the suite's two roles)."""
    admin_connection.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_api_plain')"
        " THEN CREATE ROLE todo_api_plain LOGIN IN ROLE todo_app; END IF; END $$"
    )
    database = admin_connection.info.dbname
    plain = server_url.set(username="todo_api_plain", password=None, database=database)
    with (
        psycopg.connect(libpq_url(plain), autocommit=True) as login,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        login.execute("SET ROLE todo_worker")


async def test_the_startup_check_tells_a_role_that_bypasses_from_one_that_does_not(
    database: Database, owner_database: URL
) -> None:
    assert await bypasses(database) == []
    engine = create_engine(make_settings(owner_database), owner_database)
    try:
        reasons = await bypasses(Database(engine, 10.0))
    finally:
        await engine.dispose()
    assert "is a superuser" in reasons


def test_every_table_of_user_rows_is_behind_the_wall(admin_connection: psycopg.Connection) -> None:
    """Each table with a `user_id` column (but `users` itself, and `event_sequences`, the
    users' event counters split out of `users` by migration 0013, which the live hubs poll
    for many users at once) has row-level security enabled and forced, with both policies: a
    table added later without them fails here."""
    rows = admin_connection.execute(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " array(SELECT polname::text FROM pg_policy p WHERE p.polrelid = c.oid ORDER BY 1)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        " AND c.relname NOT IN ('users', 'event_sequences')"
        " AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid"
        " AND a.attname = 'user_id' AND NOT a.attisdropped)"
        " ORDER BY 1"
    ).fetchall()
    assert {row[0] for row in rows} >= {"tasks", "conversations", "chat_messages"}
    for table, enabled, forced, policies in rows:
        assert (table, enabled, forced, policies) == (table, True, True, ["acting_user", "worker"])


def test_the_gate_function_is_stable_parallel_unsafe_and_runs_as_its_caller(
    admin_connection: psycopg.Connection,
) -> None:
    """STABLE: evaluated once before any row (VOLATILE: a per-row filter after the policy's
    condition, so nothing would pass); PARALLEL UNSAFE like set_config; SECURITY INVOKER."""
    row = admin_connection.execute(
        "SELECT provolatile, proparallel, prosecdef FROM pg_proc"
        " WHERE oid = 'set_acting_user(text)'::regprocedure"
    ).fetchone()
    assert row == ("s", "u", False)
