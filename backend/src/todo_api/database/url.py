"""Turn the database URLs that hosting providers hand out into ones SQLAlchemy can use."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from todo_api.config import DatabaseSettings
from todo_api.database.driver import DRIVER

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


def normalize_database_url(raw: str, name: str = "DATABASE_URL") -> URL:
    """Return `raw` with the psycopg 3 driver, keeping every query parameter.

    Neon and most hosts give out `postgres://` or `postgresql://` URLs with `sslmode` and
    `channel_binding` parameters; SQLAlchemy needs the driver named in the scheme, and
    libpq needs those parameters untouched.
    """
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        raise ValueError(f"{name} is not a valid URL: {exc}") from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(
            f"{name} must be a PostgreSQL URL (postgres:// or postgresql://), "
            f"got scheme {url.drivername!r}"
        )
    return url.set(drivername=DRIVER)


def resolve_database_url(settings: DatabaseSettings) -> URL:
    """The URL to connect to: `DATABASE_URL`, else the embedded server (started on demand).

    Production never gets here without a URL: `Settings` refuses that combination.
    """
    if settings.database_url:
        return normalize_database_url(settings.database_url)
    from todo_api.database.embedded import start_embedded_server

    return start_embedded_server(settings.embedded_data_dir)


def resolve_migration_url(settings: DatabaseSettings) -> URL:
    """The URL migrations run with: `MIGRATION_DATABASE_URL` (the owner), else the same as
    the app's (`resolve_database_url`: the embedded server's superuser when both are unset)."""
    if settings.migration_database_url:
        return normalize_database_url(settings.migration_database_url, "MIGRATION_DATABASE_URL")
    return resolve_database_url(settings)


def resolve_app_database_url(settings: DatabaseSettings) -> URL:
    """The URL the app connects with: `DATABASE_URL`; on the embedded server, its login role
    `todo_api` (created once the database is migrated, database/app_login.py), so that
    development runs behind the row-level security of migration 0011. An embedded database
    not migrated yet is reached as its superuser (the app warns at startup)."""
    if settings.database_url:
        return normalize_database_url(settings.database_url)
    from todo_api.database.app_login import ensure_app_login

    return _embedded_login(settings, ensure_app_login)


def resolve_worker_database_url(settings: DatabaseSettings) -> URL:
    """The URL cross-user background work connects with: `WORKER_DATABASE_URL`; else, on the
    embedded server, its worker login `todo_api_worker` (database/app_login.py); else the
    app's own (`resolve_app_database_url`, whose login then needs todo_worker_access)."""
    if settings.worker_database_url:
        return normalize_database_url(settings.worker_database_url, "WORKER_DATABASE_URL")
    if settings.database_url:
        return normalize_database_url(settings.database_url)
    from todo_api.database.app_login import ensure_worker_login

    return _embedded_login(settings, ensure_worker_login)


def _embedded_login(settings: DatabaseSettings, ensure: Callable[[URL], URL]) -> URL:
    """The embedded server's URL for the login `ensure` creates if missing; its superuser's
    while the database is not migrated (no roles yet)."""
    url = resolve_database_url(settings)
    try:
        return ensure(url)
    except Exception:  # not migrated: no roles yet
        return url
