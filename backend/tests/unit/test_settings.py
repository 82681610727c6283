"""Settings from the environment: defaults, parsing and refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.support import TEST_SECRET
from todo_api.config import Settings

SETTING_NAMES = [
    "ENVIRONMENT",
    "DATABASE_URL",
    "DB_POOL_SIZE",
    "BETTER_AUTH_SECRET",
    "JWT_JWKS_URL",
    "JWT_HMAC_ALGORITHMS",
    "CORS_ORIGINS",
    "DB_PREPARE_THRESHOLD",
    "EVENTS_URL",
    "EVENTS_WEBHOOK_SECRET",
]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A known environment: only a valid secret is set."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BETTER_AUTH_SECRET", TEST_SECRET)
    return monkeypatch


def test_production_refuses_to_start_without_a_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL must be set"):
        Settings(_env_file=None)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/d")
    monkeypatch.setenv("DB_POOL_SIZE", "7")
    monkeypatch.setenv("CORS_ORIGINS", "http://a.test, https://b.test ,")
    monkeypatch.setenv("DB_PREPARE_THRESHOLD", "")
    settings = Settings(_env_file=None)

    assert settings.database_url == "postgres://u@h/d"
    assert settings.db_pool_size == 7
    assert settings.cors_origins == ["http://a.test", "https://b.test"]
    assert settings.db_prepare_threshold is None


def test_env_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DB_POOL_SIZE", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("DB_POOL_SIZE=3\nDB_POOL_PRE_PING=true\n")
    settings = Settings(_env_file=env_file)
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
        Settings(_env_file=None)


def test_refuses_to_start_without_any_key_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BETTER_AUTH_SECRET")
    with pytest.raises(ValidationError, match=r"set BETTER_AUTH_SECRET .* or JWT_JWKS_URL"):
        Settings(_env_file=None)


def test_a_jwks_url_alone_is_a_key_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BETTER_AUTH_SECRET")
    monkeypatch.setenv("JWT_JWKS_URL", "http://localhost:3000/api/auth/jwks")
    assert Settings(_env_file=None).better_auth_secret is None


def test_short_secrets_and_unknown_algorithms_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETTER_AUTH_SECRET", "too-short")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None)
    monkeypatch.setenv("BETTER_AUTH_SECRET", TEST_SECRET)
    monkeypatch.setenv("JWT_HMAC_ALGORITHMS", "HS256,none")
    with pytest.raises(ValidationError, match="unsupported JWT algorithms"):
        Settings(_env_file=None)


def test_the_secret_never_shows_in_repr() -> None:
    settings = Settings(_env_file=None)
    assert TEST_SECRET not in repr(settings)
    assert TEST_SECRET not in str(settings.model_dump())


PRODUCTION_SECRETS = [
    pytest.param("<the frontend's secret, at least 32 characters>", "placeholder", id="example"),
    pytest.param("a" * 32, "too little entropy", id="32-a"),
    pytest.param("abababababababababababababababababab", "too little entropy", id="abab"),
    pytest.param("dev-only-" + TEST_SECRET, "development secret", id="make-run-secret"),
    pytest.param(
        "correct horse battery staple and then some more words", "a phrase", id="sentence"
    ),
]


@pytest.mark.parametrize(("secret", "why"), PRODUCTION_SECRETS)
def test_production_refuses_weak_secrets_and_says_why(
    monkeypatch: pytest.MonkeyPatch, secret: str, why: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/d")
    monkeypatch.setenv("BETTER_AUTH_SECRET", secret)
    with pytest.raises(ValidationError, match=f"not fit for production: .*{why}"):
        Settings(_env_file=None)
    monkeypatch.setenv("ENVIRONMENT", "development")  # where the same secret is fine
    assert Settings(_env_file=None).better_auth_secret is not None


def test_production_accepts_a_random_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/d")
    hex_128_bits = "9f86d081884c7d659a2feaa0c55ad015"  # 16 random bytes, the least we take
    for secret in (TEST_SECRET, "3q2+7w8N0s5YhVbQyW1xXz4kL9mP6rT2uV5cD8eF0gA=", hex_128_bits):
        monkeypatch.setenv("BETTER_AUTH_SECRET", secret)
        assert Settings(_env_file=None).environment == "production"


def test_migrations_need_only_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from todo_api.config import DatabaseSettings

    monkeypatch.delenv("BETTER_AUTH_SECRET")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/d")
    assert DatabaseSettings(_env_file=None).database_url == "postgres://u@h/d"
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # the server itself still needs a key source


@pytest.mark.parametrize("url", ["http://hooks.example/todo", "HTTPS://hooks.example/todo"])
def test_a_webhook_events_url_without_its_signing_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """Unsigned events would be forgeable: the service does not start rather than send them
    (a blank secret counts as none)."""
    monkeypatch.setenv("EVENTS_URL", url)
    with pytest.raises(ValidationError, match="a webhook EVENTS_URL needs EVENTS_WEBHOOK_SECRET"):
        Settings(_env_file=None)
    monkeypatch.setenv("EVENTS_WEBHOOK_SECRET", "  ")
    with pytest.raises(ValidationError, match="a webhook EVENTS_URL needs EVENTS_WEBHOOK_SECRET"):
        Settings(_env_file=None)
    monkeypatch.setenv("EVENTS_WEBHOOK_SECRET", "whsec_c2VjcmV0")
    settings = Settings(_env_file=None)
    assert settings.events_url == url
    assert settings.events_webhook_secret is not None
    assert settings.events_webhook_secret.get_secret_value() == "whsec_c2VjcmV0"


def test_events_urls_of_other_schemes_are_refused_and_brokers_need_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTS_URL", "amqp://broker:5672")
    with pytest.raises(ValidationError, match="EVENTS_URL must start with nats://, kafka://"):
        Settings(_env_file=None)
    for url in ("nats://127.0.0.1:4222", "kafka://a:9092,b:9092"):
        monkeypatch.setenv("EVENTS_URL", url)
        assert Settings(_env_file=None).events_url == url
    monkeypatch.setenv("EVENTS_URL", " ")
    assert Settings(_env_file=None).events_url is None
