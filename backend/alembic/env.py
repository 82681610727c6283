"""Alembic environment: the URL comes from the app's settings, never from alembic.ini.

Callers that already know the URL (the test suite) put it in `config.attributes["url"]`.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

import todo_api.models  # noqa: F401  (registers the tables on the metadata)
from todo_api.config import get_settings
from todo_api.database.url import resolve_database_url
from todo_api.models.metadata import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> URL:
    given = config.attributes.get("url")
    if given is not None:
        return given  # type: ignore[no-any-return]
    return resolve_database_url(get_settings())


def run_migrations_offline() -> None:
    context.configure(
        url=_url().render_as_string(hide_password=False),
        target_metadata=metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
