"""`python -m todo_api migrate`: Alembic's `upgrade head` from the migrations inside the package.

The migrations ship in the package (`todo_api/migrations`), so an installed copy (the container
image, a wheel) migrates with no checkout, no `alembic.ini` and no working directory of any
kind; `alembic upgrade head` with the repository's `alembic.ini` runs the very same scripts.
Like the Alembic command, it reads only the database settings (`MIGRATION_DATABASE_URL`, the
owner's, when set, else `DATABASE_URL`; `DB_STATEMENT_TIMEOUT`): a deploy step that migrates
before serving needs nothing else.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations (no file behind it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate() -> int:
    """Bring the database to the newest revision; Alembic logs each step it runs."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)-5.5s [%(name)s] %(message)s")
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    command.upgrade(alembic_config(), "head")
    return 0
