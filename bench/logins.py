"""The login roles the benchmark's servers connect as, behind the second wall (issue 27).

As deployed: the API as `todo_api` (a member of todo_app), cross-user work as
`todo_api_worker` (also a member of todo_worker_access), never the owner; both created on
the benchmark's own server when missing (database/app_login.py).
"""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import URL

from todo_api.database.app_login import ensure_app_login, ensure_worker_login

ONE_LOGIN = "todo_api_one"
"""The login of a tree from before migration 0016 (API and cross-user work on one login)."""


def app_login_url(url: URL) -> URL:
    """How the app reaches the database of `url` (its owner): as the login role behind
    row-level security when that database has it (migration 0010: the login is created if
    missing), else as `url` itself (a tree from before the wall, in bench/compare.py)."""
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as connection:
        row = connection.execute(
            "SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass('tasks')"
        ).fetchone()
    if row is None or not row[0]:
        return url
    return ensure_app_login(url)


def login_settings(url: URL) -> dict[str, str]:
    """`DATABASE_URL` and, behind the wall, `WORKER_DATABASE_URL` for the database of `url`
    (its owner), as deployed: the API's login and the worker's (created if missing). A tree
    from before migration 0016 had one login for both, with the worker's access: it gets one
    of its own (`todo_api` gave that access up, and roles are the whole cluster's)."""
    app = app_login_url(url)
    if app == url:
        return {"DATABASE_URL": url.render_as_string(hide_password=False)}
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as connection:
        row = connection.execute("SELECT to_regproc('use_stream_ticket')").fetchone()
    if row is None or row[0] is None:
        one = ensure_worker_login(url, name=ONE_LOGIN)
        return {"DATABASE_URL": one.render_as_string(hide_password=False)}
    worker = ensure_worker_login(url)
    return {
        "DATABASE_URL": app.render_as_string(hide_password=False),
        "WORKER_DATABASE_URL": worker.render_as_string(hide_password=False),
    }
