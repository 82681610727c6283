"""Alembic environment: the URL comes from the app's settings, never from alembic.ini.

Migrations read only the database settings (`DatabaseSettings`): a deploy pipeline that
migrates before it serves needs `MIGRATION_DATABASE_URL` (the schema's owner; unset:
`DATABASE_URL`), not the token secret. Callers that already
know the URL (the test suite) put it in `config.attributes["url"]`.

After migrating, the role's `statement_timeout` in this database is set to
`DB_STATEMENT_TIMEOUT` (and the database's default, which the app's login role gets): a
server-side default reaches every new server session, so it holds behind transaction poolers
too, where a `SET` at connect time would land on one pooled server connection and a startup
`options` parameter is not forwarded.
"""

from __future__ import annotations

import logging
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

import todo_api.models  # noqa: F401  (registers the tables on the metadata)
from todo_api.config import DatabaseSettings
from todo_api.database.timeouts import (
    database_statement_timeout_sql,
    role_statement_timeout_sql,
)
from todo_api.database.url import resolve_migration_url
from todo_api.models.metadata import metadata

config = context.config
logger = logging.getLogger("alembic.env")
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _settings() -> DatabaseSettings:
    given = config.attributes.get("settings")
    return given if isinstance(given, DatabaseSettings) else DatabaseSettings()


def _url() -> URL:
    given = config.attributes.get("url")
    if given is not None:
        return given  # type: ignore[no-any-return]
    return resolve_migration_url(_settings())


def _set_statement_timeout(connection: Connection) -> None:
    seconds = _settings().db_statement_timeout
    connection.execute(text(role_statement_timeout_sql(seconds)))
    # For the application's login role too, when the owner migrates (MIGRATION_DATABASE_URL):
    # as the database's default. A role that does not own the database cannot; then the
    # login role's own default is set by hand (operations.md).
    try:
        with connection.begin_nested():
            connection.execute(text(database_statement_timeout_sql(seconds)))
    except DBAPIError:
        logger.warning("could not set the database's statement_timeout (not its owner)")


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
    # No server-side prepared statements: migrations may run through a transaction pooler.
    engine = create_engine(
        _url(), poolclass=pool.NullPool, connect_args={"prepare_threshold": None}
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
            _set_statement_timeout(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
