"""The application's login role on a server we run ourselves (embedded, tests, benchmark).

Deployed, the API connects with `DATABASE_URL` as a login role that is a member of `todo_app`
(and of `todo_worker_access` where the relay, scheduler and housekeeping run in-process), and
migrations run as the owner (`MIGRATION_DATABASE_URL`; operations.md, deploy.md). On a server
we start ourselves (the embedded development server, the test suite, the benchmark) the
superuser migrates, then creates that login here, and the app connects as it: development and
tests run behind the wall too. Those servers trust local connections: no password.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import URL

APP_LOGIN = "todo_api"

_ENSURE_LOGIN = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_app') THEN
        RAISE EXCEPTION 'no role todo_app: migrate first';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
        CREATE ROLE {name} LOGIN IN ROLE todo_app, todo_worker_access;
    END IF;
END
$$
"""


def ensure_app_login(owner_url: URL, name: str = APP_LOGIN) -> URL:
    """Create the login role `name` (if missing) as the owner of `owner_url` (a superuser,
    after migrating), and return the same URL for that login."""
    if not name.isidentifier() or name.lower() != name:
        raise ValueError(f"not a plain role name: {name!r}")
    libpq = owner_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True, prepare_threshold=None) as connection:
        connection.execute(_ENSURE_LOGIN.format(name=name).encode())
    return owner_url.set(username=name, password=None)


def app_login_exists(owner_url: URL, name: str = APP_LOGIN) -> bool:
    """Whether the server of `owner_url` has the login role (the database was migrated)."""
    libpq = owner_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True, prepare_threshold=None) as connection:
        row = connection.execute("SELECT FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    return row is not None
