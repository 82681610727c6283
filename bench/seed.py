"""Seed the benchmark database: many small users and a few with very long lists, via COPY."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

from todo_api.database.url import normalize_database_url


@dataclass(frozen=True)
class SeededUser:
    id: str
    lo: int  # smallest task id of the user
    hi: int  # largest task id of the user


@dataclass(frozen=True)
class Dataset:
    small: list[SeededUser]
    big: list[SeededUser]

    @property
    def task_count(self) -> int:
        return sum(user.hi - user.lo + 1 for user in self.small + self.big)


def libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def migrate_fresh(url: URL, alembic_ini: str) -> None:
    """Drop and recreate the schema with the project's own migrations."""
    config = Config(alembic_ini)
    config.attributes["url"] = normalize_database_url(url.render_as_string(hide_password=False))
    config.attributes["configure_logger"] = False
    command.downgrade(config, "base")
    command.upgrade(config, "head")


def _progress(done: int, total: int, width: int = 40) -> None:
    filled = width * done // total
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r  seeding [{bar}] {done:>7,}/{total:,} tasks")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def seed(
    url: URL, *, small_users: int, small_tasks: int, big_users: int, big_tasks: int
) -> Dataset:
    """COPY users and tasks in; each user's tasks get consecutive ids, oldest first."""
    small_ids = [f"bench-user-{n:05d}" for n in range(1, small_users + 1)]
    big_ids = [f"bench-big-{n:03d}" for n in range(1, big_users + 1)]
    plan = [(user, small_tasks) for user in small_ids] + [(user, big_tasks) for user in big_ids]
    total = sum(count for _, count in plan)
    start = datetime.now(UTC) - timedelta(days=400)
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        # The migrations give the role a statement timeout for the app; a COPY of 300,000
        # rows (maintaining the search indexes) may take longer.
        connection.execute("SET statement_timeout = 0")
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY users (id, email) FROM STDIN") as copy,
        ):
            for user, _ in plan:
                copy.write_row((user, f"{user}@bench.example"))
        written = 0
        columns = (
            "user_id, title, description, completed, created_at, updated_at, priority, due_at, tags"
        )
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY tasks ({columns}) FROM STDIN") as copy,
        ):
            for user, count in plan:
                for number in range(count):
                    created = start + timedelta(minutes=number)
                    description = f"Details of task {number}" if number % 2 else None
                    # 1 % of titles name a report (the search scenario), 10 % carry "work"
                    # (the tag filter), three in four have a deadline within a year.
                    title = f"Quarterly report {number}" if number % 100 == 7 else f"Task {number}"
                    due = created + timedelta(days=number % 365) if number % 4 else None
                    tags = ["work"] if number % 10 == 3 else ["home"]
                    copy.write_row(
                        (user, f"{title} of {user}", description, number % 3 == 0, created,
                         created, number % 3 + 1, due, tags)
                    )  # fmt: skip
                written += count
                if written % 20_000 < count or written == total:
                    _progress(written, total)
        connection.execute("VACUUM ANALYZE users")
        connection.execute("VACUUM ANALYZE tasks")
        ranges = {
            user: (lo, hi)
            for user, lo, hi in connection.execute(
                "SELECT user_id, min(id), max(id) FROM tasks GROUP BY user_id"
            )
        }
    return Dataset(
        small=[SeededUser(user, *ranges[user]) for user in small_ids],
        big=[SeededUser(user, *ranges[user]) for user in big_ids],
    )
