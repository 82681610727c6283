"""The application's login roles on a server we run ourselves (embedded, tests, benchmark).

Deployed, the API connects with `DATABASE_URL` as a login role that is a member of `todo_app`,
cross-user background work (relay, scheduler, housekeeping) with `WORKER_DATABASE_URL` as a
login that is also a member of `todo_worker_access`, and migrations run as the owner
(`MIGRATION_DATABASE_URL`; operations.md, deploy.md). On a server we start ourselves (the
embedded development server, the test suite, the benchmark) the superuser migrates, then
creates both logins here, and the app connects as them: development and tests run behind the
wall too, with the API's own login unable to take the worker role. Those servers trust local
connections: no password.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import URL

APP_LOGIN = "todo_api"
WORKER_LOGIN = "todo_api_worker"

# Create the login `{name}` in `{roles}` if missing. The API's login, todo_app only: one of
# that name made before the worker had a login of its own gives todo_worker_access back.
_ENSURE_LOGIN = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_app') THEN
        RAISE EXCEPTION 'no role todo_app: migrate first';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
        CREATE ROLE {name} LOGIN IN ROLE {roles};
    ELSIF {api} AND pg_has_role('{name}', 'todo_worker_access', 'MEMBER') THEN
        REVOKE todo_worker_access FROM {name};
    END IF;
END
$$
"""


def ensure_app_login(owner_url: URL, name: str = APP_LOGIN) -> URL:
    """Create the API's login role `name` (if missing) as the owner of `owner_url` (a
    superuser, after migrating), and return the same URL for that login."""
    return _ensure(owner_url, _ENSURE_LOGIN.format(name=name, roles="todo_app", api="true"), name)


def ensure_worker_login(owner_url: URL, name: str = WORKER_LOGIN) -> URL:
    """The same for the login of cross-user background work (`WORKER_DATABASE_URL`)."""
    statement = _ENSURE_LOGIN.format(name=name, roles="todo_app, todo_worker_access", api="false")
    return _ensure(owner_url, statement, name)


def _ensure(owner_url: URL, statement: str, name: str) -> URL:
    if not name.isidentifier() or name.lower() != name:
        raise ValueError(f"not a plain role name: {name!r}")
    libpq = owner_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True, prepare_threshold=None) as connection:
        connection.execute(statement.encode())
    return owner_url.set(username=name, password=None)
