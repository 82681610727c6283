"""The second wall holds alone: row-level security (migrations 0011 and 0016), through the API's
own connection and role (the login `todo_api`, a member of todo_app only; cross-user work has
the login `todo_api_worker`, also a member of todo_worker_access).

Each statement here leaves out the application's user filter on purpose; only the gate
(database/wall.py `ACTING`) names a user. The rows of other users must stay out of reach.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy import column, delete, func, insert, literal, select, table, text, update
from sqlalchemy.engine import URL
from sqlmodel import col

from tests.support import libpq_url, make_settings, worker_login_url
from todo_api.database.engine import create_engine
from todo_api.database.errors import DRIVER_ERRORS
from todo_api.database.runner import Database
from todo_api.database.wall import (
    ACTING,
    OWNER,
    bypasses,
    can_become_worker,
    warn_if_bypassing,
    worker_rows,
)
from todo_api.models import IdempotencyKey, Task, TaskEvent

pytestmark = pytest.mark.anyio


@pytest.fixture
async def database(migrated_database: URL) -> AsyncIterator[Database]:
    """The app's `Database`, as the app builds it (its login role, its pool)."""
    engine = create_engine(make_settings(migrated_database), migrated_database)
    yield Database(engine, 10.0)
    await engine.dispose()


@pytest.fixture
async def worker_database(migrated_database: URL) -> AsyncIterator[Database]:
    """The `Database` of cross-user work, on the worker's own login (WORKER_DATABASE_URL)."""
    url = worker_login_url(migrated_database)
    assert url is not None
    engine = create_engine(make_settings(url), url)
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


# Every table of user data (the catalogue test below finds a table missing here), with the
# column naming its user.
OWNER_COLUMNS = {
    "users": "id",
    "tasks": "user_id",
    "task_tombstones": "user_id",
    "idempotency_keys": "user_id",
    "task_events": "user_id",
    "task_reminders": "user_id",
    "stream_tickets": "user_id",
    "conversations": "user_id",
    "chat_messages": "user_id",
    "event_sequences": "user_id",
}


@pytest.fixture
def rows_everywhere(two_users: psycopg.Connection) -> psycopg.Connection:
    """A row of alice and one of bob in every table of user data (the tasks' events come
    from the recording trigger)."""
    admin = two_users
    for user, task in (("alice", 1), ("bob", 3)):
        admin.execute(
            "INSERT INTO task_tombstones (task_id, user_id) VALUES (%s + 100, %s)", (task, user)
        )
        admin.execute(
            "INSERT INTO idempotency_keys (user_id, key, fingerprint, task_id)"
            " VALUES (%s, 'k', %s, %s)",
            (user, bytes(32), task),
        )
        admin.execute(
            "INSERT INTO task_reminders (task_id, user_id, reminder, fire_at)"
            " VALUES (%s, %s, '{}', now() + interval '1 day')",
            (task, user),
        )
        admin.execute(
            "INSERT INTO stream_tickets (ticket_hash, user_id, expires_at, token_expires_at)"
            " VALUES (%s, %s, now() + interval '1 minute', now() + interval '1 hour')",
            (user.encode().ljust(32, b"-"), user),
        )
        admin.execute(
            "WITH c AS (INSERT INTO conversations (user_id, title) VALUES (%s, 't') RETURNING id)"
            " INSERT INTO chat_messages (conversation_id, user_id, role, content)"
            " SELECT id, %s, 'user', 'hi' FROM c",
            (user, user),
        )
    return admin


def _owners(admin: psycopg.Connection, name: str) -> list[str]:
    owner = OWNER_COLUMNS[name]
    query = sql.SQL("SELECT {} FROM {}").format(sql.Identifier(owner), sql.Identifier(name))
    return sorted(row[0] for row in admin.execute(query))


@pytest.mark.parametrize("name", sorted(OWNER_COLUMNS))
async def test_every_table_without_the_user_filter_holds_other_users_rows(
    database: Database, rows_everywhere: psycopg.Connection, name: str
) -> None:
    """Read, update and delete with no filter but the gate: only the acting user's rows;
    with no acting user, none."""
    admin = rows_everywhere
    owner = OWNER_COLUMNS[name]
    rows = table(name, column(owner))
    before = _owners(admin, name)
    assert {"alice", "bob"} <= set(before)
    read = await database.rows(select(rows.c[owner]).where(ACTING), {"owner": "alice"})
    assert read
    assert {row[0] for row in read} == {"alice"}
    assert await database.rows(select(rows.c[owner])) == []
    touched = update(rows).where(ACTING).values({owner: rows.c[owner]}).returning(rows.c[owner])
    assert await database.rows(touched, {"owner": "mallory"}) == []
    changed = await database.rows(touched, {"owner": "alice"})
    assert changed
    assert {row[0] for row in changed} == {"alice"}
    await database.rows(delete(rows).where(ACTING), {"owner": "mallory"})
    assert await database.rows(delete(rows).returning(rows.c[owner])) == []
    assert _owners(admin, name) == before
    await database.rows(delete(rows).where(ACTING), {"owner": "bob"})
    assert "bob" not in _owners(admin, name)
    assert "alice" in _owners(admin, name)


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
    worker_database: Database, two_users: psycopg.Connection
) -> None:
    rows = await worker_rows(worker_database, select(col(Task.user_id)))
    assert sorted(row[0] for row in rows) == ["alice", "alice", "bob", "bob"]
    # The worker's login has the worker's privileges only after SET ROLE (todo_worker_access
    # is NOINHERIT): outside that transaction, it sees nothing again.
    assert await worker_database.rows(select(col(Task.user_id))) == []


async def test_the_apps_own_login_cannot_take_the_worker_role(
    database: Database, two_users: psycopg.Connection
) -> None:
    """DATABASE_URL's login is a member of todo_app only: injected SQL on the API's
    connection cannot `SET ROLE todo_worker` (cross-user work has a login of its own)."""
    with pytest.raises(DRIVER_ERRORS, match="permission denied"):
        await worker_rows(database, select(col(Task.user_id)))
    with pytest.raises(DRIVER_ERRORS, match="permission denied"):
        await database.rows(text("SET ROLE todo_worker"))


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


async def test_the_startup_check_tells_a_role_that_bypasses_from_one_that_does_not(
    database: Database, owner_database: URL
) -> None:
    assert await bypasses(database) == []
    assert await bypasses(database, worker_apart=True) == []
    assert not await can_become_worker(database)
    engine = create_engine(make_settings(owner_database), owner_database)
    try:
        reasons = await bypasses(Database(engine, 10.0))
    finally:
        await engine.dispose()
    assert "is a superuser" in reasons


async def test_the_startup_check_tells_a_login_that_may_take_the_worker_role(
    worker_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's login as DATABASE_URL: a warning either way (beside a worker login of
    its own, it should not have the role; as the one login for everything, it needs it, and
    the API's statements could take it too); as the worker's own login: no warning."""
    assert await can_become_worker(worker_database)
    assert await bypasses(worker_database) == [
        "may SET ROLE todo_worker for the cross-user work it also does"
        " (WORKER_DATABASE_URL unset: give that work a login of its own)"
    ]
    assert await bypasses(worker_database, worker_apart=True) == [
        "may SET ROLE todo_worker, which WORKER_DATABASE_URL's login is for"
    ]
    with caplog.at_level(logging.WARNING, logger="todo_api.database.wall"):
        await warn_if_bypassing(worker_database, worker_database)
    assert "may SET ROLE todo_worker" in caplog.text
    assert "WORKER_DATABASE_URL cannot" not in caplog.text


async def test_the_startup_check_tells_a_login_that_may_take_a_role_that_bypasses(
    server_url: URL, admin_connection: psycopg.Connection
) -> None:
    """A login that is a member of a role with BYPASSRLS (as Neon's Console makes them, in
    neon_superuser): it does not bypass by itself (attributes are not inherited), but SET ROLE
    does. Straight to the server (a pooler's user list knows only the suite's roles)."""
    admin_connection.execute(
        "DO $$ BEGIN"
        " IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_test_bypass') THEN"
        "  CREATE ROLE todo_test_bypass NOLOGIN BYPASSRLS; END IF;"
        " IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_api_console') THEN"
        "  CREATE ROLE todo_api_console LOGIN IN ROLE todo_app, todo_test_bypass; END IF;"
        " END $$"
    )
    url = server_url.set(username="todo_api_console", database=admin_connection.info.dbname)
    engine = create_engine(make_settings(url), url)
    try:
        reasons = await bypasses(Database(engine, 10.0), worker_apart=True)
    finally:
        await engine.dispose()
    assert reasons == ["may SET ROLE todo_test_bypass, which bypasses it"]


async def test_the_startup_check_tells_a_worker_login_that_cannot_do_its_work(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="todo_api.database.wall"):
        await warn_if_bypassing(database, database)
    assert "WORKER_DATABASE_URL cannot SET ROLE todo_worker" in caplog.text
    caplog.clear()
    # One login for everything, and it cannot take the role: said as well.
    with caplog.at_level(logging.WARNING, logger="todo_api.database.wall"):
        await warn_if_bypassing(database)
    assert "DATABASE_URL (WORKER_DATABASE_URL unset) cannot SET ROLE" in caplog.text


async def test_the_apps_background_work_connects_as_the_workers_login(
    running_app: FastAPI, clean_database: psycopg.Connection
) -> None:
    """Housekeeping, the relay and the scheduler get the worker's `Database` (the API's
    login could not do their work)."""
    state = running_app.state
    rows = await state.worker_database.rows(text("SELECT current_user"))
    assert rows[0][0] == "todo_api_worker"
    rows = await state.database.rows(text("SELECT current_user"))
    assert rows[0][0] == "todo_api"


def test_every_table_of_user_rows_is_behind_the_wall(admin_connection: psycopg.Connection) -> None:
    """`users` and each table with a `user_id` column has row-level security enabled and
    forced, with both policies, and is in OWNER_COLUMNS: a table added later without them
    fails here."""
    rows = admin_connection.execute(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " array(SELECT polname::text FROM pg_policy p WHERE p.polrelid = c.oid ORDER BY 1)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        " AND (c.relname = 'users' OR EXISTS (SELECT FROM pg_attribute a"
        " WHERE a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped))"
        " ORDER BY 1"
    ).fetchall()
    assert {row[0] for row in rows} == set(OWNER_COLUMNS)
    for name, enabled, forced, policies in rows:
        assert (name, enabled, forced, policies) == (name, True, True, ["acting_user", "worker"])


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


def test_functions_that_run_as_the_owner_fix_their_path_and_are_the_apps_alone(
    admin_connection: psycopg.Connection,
) -> None:
    """SECURITY DEFINER functions pass the wall for whoever calls them: each has its search
    path fixed to the schema with pg_temp last (a session's temporary table cannot stand in
    for one of the schema's), and each that can be called (all but trigger functions) is
    executable by todo_app, not by PUBLIC."""
    rows = admin_connection.execute(
        "SELECT p.oid::regprocedure::text, p.prorettype = 'trigger'::regtype,"
        " EXISTS (SELECT FROM unnest(p.proconfig) AS c"
        "  WHERE c = format('search_path=%I, pg_temp', current_schema())),"
        " EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a"
        "  WHERE a.grantee = 0),"
        " has_function_privilege('todo_app', p.oid, 'EXECUTE')"
        " FROM pg_proc p WHERE p.prosecdef AND p.pronamespace = current_schema()::regnamespace"
        " ORDER BY 1"
    ).fetchall()
    callable_ones = {row[0] for row in rows if not row[1]}
    assert callable_ones == {
        "announced_events(bigint,integer,bigint[])",
        "event_sequence_heads(text[])",
        "newest_event_id()",
        "use_stream_ticket(bytea)",
    }
    for name, trigger, fixed_path, public, app in rows:
        assert fixed_path, name
        if not trigger:
            assert (name, public, app) == (name, False, True)


async def test_the_live_functions_tell_ids_users_and_sequence_numbers_only(
    database: Database, two_users: psycopg.Connection
) -> None:
    """Through the API's login acting for nobody: the outbox ids and their users (what the
    announcer wakes streams with), and nothing of an event's content; the hubs' poll."""
    newest = await database.rows(text("SELECT newest_event_id()"))
    assert newest[0][0] == 4
    added = await database.rows(text("SELECT * FROM announced_events(1, 2, ARRAY[1]::bigint[])"))
    assert [tuple(row) for row in added] == [(2, "alice"), (3, "bob"), (1, "alice")]
    assert await database.rows(select(col(TaskEvent.id))) == []
    # What a hub polls: the last sequence number of each user asked about, and no other's.
    heads = await database.rows(text("SELECT * FROM event_sequence_heads(ARRAY['alice'])"))
    assert [tuple(row) for row in heads] == [("alice", 2)]
    assert await database.rows(text("SELECT user_id FROM event_sequences")) == []
