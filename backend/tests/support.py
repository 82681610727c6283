"""Helpers shared by tests and fixtures (import them; fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import URL

from todo_api.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: URL) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def libpq_url(url: URL) -> str:
    """The URL in the form psycopg itself accepts (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_settings(url: URL, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": url.render_as_string(hide_password=False),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
