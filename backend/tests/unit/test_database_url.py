"""DATABASE_URL as hosting providers hand it out."""

from __future__ import annotations

import pytest

from tests.support import TEST_SECRET
from todo_api.config import Settings
from todo_api.database.url import normalize_database_url, resolve_database_url

NEON = (
    "postgresql://alex:AbC123dEf@ep-cool-darkness-123456.us-east-2.aws.neon.tech/dbname"
    "?sslmode=require&channel_binding=require"
)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_postgres_urls_get_the_psycopg_driver_and_keep_parameters(scheme: str) -> None:
    url = normalize_database_url(NEON.replace("postgresql", scheme, 1))

    assert url.drivername == "postgresql+psycopg"
    assert url.username == "alex"
    assert url.password == "AbC123dEf"
    assert url.host == "ep-cool-darkness-123456.us-east-2.aws.neon.tech"
    assert url.database == "dbname"
    assert dict(url.query) == {"sslmode": "require", "channel_binding": "require"}


def test_socket_urls_are_kept() -> None:
    url = normalize_database_url("postgresql://postgres@/postgres?host=/tmp/pg")
    assert url.query["host"] == "/tmp/pg"
    assert url.host is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mysql://root@localhost/db", "must be a PostgreSQL URL"),
        ("postgresql+asyncpg://u@h/d", "must be a PostgreSQL URL"),
        ("not a url", "not a valid URL"),
    ],
)
def test_other_urls_are_refused_with_a_clear_message(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_database_url(raw)


def test_resolve_prefers_the_configured_url() -> None:
    settings = Settings(_env_file=None, database_url=NEON, better_auth_secret=TEST_SECRET)
    assert resolve_database_url(settings).host == "ep-cool-darkness-123456.us-east-2.aws.neon.tech"
