"""row-level security: a second wall, so even a faulty statement cannot cross users

Issue 27. Every table of user data is under row-level security, FORCEd (so its owner is held
too), with one policy for everybody: a row is visible and writable only when its `user_id` is
the user the transaction acts for, `current_setting('todo.user_id', true)`. Each statement
run for one user sets that itself (the gate of database/wall.py, transaction-local). Without
it a statement sees and changes nothing.

Roles (cluster-wide, so created only when missing; privileges are per database):
- `todo_app` (NOLOGIN): what the API's login role is a member of. Plain DML on every table,
  sequences and functions of the schema, also on the tables of later migrations (default
  privileges of the role that migrates). It owns nothing and cannot bypass the policies.
- `todo_worker` (NOLOGIN): the same privileges, plus a policy on each table letting every row
  through: cross-user work (the relay, the reminder scheduler, housekeeping, the live
  announcer, redeeming a stream ticket) runs `SET LOCAL ROLE todo_worker` first.
- `todo_worker_access` (NOLOGIN NOINHERIT), a member of `todo_worker`: a login that is a
  member of it may `SET ROLE todo_worker` but does not have its privileges (nor its
  policies) otherwise. A plain `GRANT todo_worker TO login` would let the worker policy
  apply to the login's every statement.
The role that migrates (the owner) is made a member of `todo_worker`, so data migrations
still see every row. `users`, `server_keys` and `event_relays` stay outside the wall.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROTECTED = (
    "tasks",
    "task_tombstones",
    "idempotency_keys",
    "task_events",
    "task_reminders",
    "stream_tickets",
    "conversations",
    "chat_messages",
)
ROLES = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_app') THEN
        CREATE ROLE todo_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_worker') THEN
        CREATE ROLE todo_worker NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_worker_access') THEN
        CREATE ROLE todo_worker_access NOLOGIN NOINHERIT;
    END IF;
    IF NOT pg_has_role('todo_worker_access', 'todo_worker', 'MEMBER') THEN
        GRANT todo_worker TO todo_worker_access;
    END IF;
    IF NOT pg_has_role(current_user, 'todo_worker', 'USAGE') THEN
        EXECUTE format('GRANT todo_worker TO %I', current_user);
    END IF;
END
$$
"""
_GRANTEES = "todo_app, todo_worker"
_SCHEMA = "DO $$ BEGIN EXECUTE format('{}', current_schema()); END $$"
_PRIVILEGES = (
    "GRANT USAGE ON SCHEMA %I TO " + _GRANTEES,
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO " + _GRANTEES,
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO " + _GRANTEES,
    "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO " + _GRANTEES,
    "ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "
    + _GRANTEES,
    "ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO " + _GRANTEES,
    "ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT EXECUTE ON FUNCTIONS TO " + _GRANTEES,
)
_REVOKED = (
    "REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM " + _GRANTEES,
    "REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM " + _GRANTEES,
    "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %I FROM " + _GRANTEES,
    "ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES FROM " + _GRANTEES,
    "ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON SEQUENCES FROM " + _GRANTEES,
    "ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON FUNCTIONS FROM " + _GRANTEES,
    "REVOKE USAGE ON SCHEMA %I FROM " + _GRANTEES,
)
ACTING_USER = "user_id = current_setting('todo.user_id', true)"


def upgrade() -> None:
    op.execute(ROLES)
    for statement in _PRIVILEGES:
        op.execute(_SCHEMA.format(statement))
    # Alembic's own bookkeeping is the owner's alone.
    op.execute(f"REVOKE ALL ON alembic_version FROM {_GRANTEES}")
    for table in PROTECTED:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY acting_user ON {table} USING ({ACTING_USER}) WITH CHECK ({ACTING_USER})"
        )
        op.execute(f"CREATE POLICY worker ON {table} TO todo_worker USING (true) WITH CHECK (true)")


def downgrade() -> None:
    for table in PROTECTED:
        op.execute(f"DROP POLICY worker ON {table}")
        op.execute(f"DROP POLICY acting_user ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    # The roles stay: they are the cluster's, and other databases may use them.
    for statement in _REVOKED:
        op.execute(_SCHEMA.format(statement))
