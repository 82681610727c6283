"""Turn the database URLs that hosting providers hand out into ones SQLAlchemy can use."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from todo_api.config import DatabaseSettings
from todo_api.database.driver import DRIVER

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


def normalize_database_url(raw: str) -> URL:
    """Return `raw` with the psycopg 3 driver, keeping every query parameter.

    Neon and most hosts give out `postgres://` or `postgresql://` URLs with `sslmode` and
    `channel_binding` parameters; SQLAlchemy needs the driver named in the scheme, and
    libpq needs those parameters untouched.
    """
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        raise ValueError(f"DATABASE_URL is not a valid URL: {exc}") from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(
            f"DATABASE_URL must be a PostgreSQL URL (postgres:// or postgresql://), "
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
