"""Settings from the environment: defaults, parsing and refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from todo_api.config import Settings


def test_production_refuses_to_start_without_a_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL must be set"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/d")
    monkeypatch.setenv("DB_POOL_SIZE", "7")
    monkeypatch.setenv("CORS_ORIGINS", "http://a.test, https://b.test ,")
    monkeypatch.setenv("DB_PREPARE_THRESHOLD", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.database_url == "postgres://u@h/d"
    assert settings.db_pool_size == 7
    assert settings.cors_origins == ["http://a.test", "https://b.test"]
    assert settings.db_prepare_threshold is None


def test_env_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DB_POOL_SIZE", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("DB_POOL_SIZE=3\nDB_POOL_PRE_PING=true\n")
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.db_pool_size == 3
    assert settings.db_pool_pre_ping is True


@pytest.mark.parametrize(
    ("name", "value"), [("DB_POOL_SIZE", "0"), ("DB_POOL_SIZE", "many"), ("ENVIRONMENT", "prod")]
)
def test_nonsense_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
