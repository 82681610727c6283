"""The package's command line: dev setup, tokens and the OpenAPI export."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from dotenv import dotenv_values

from tests.support import TEST_SECRET
from todo_api.__main__ import main
from todo_api.cli import serve as serve_command
from todo_api.cli.dev_setup import ensure_dev_env


def test_dev_setup_creates_env_with_a_random_secret(tmp_path: Path) -> None:
    example = tmp_path / ".env.example"
    example.write_text("# CORS_ORIGINS=http://localhost:3000\n")
    first, second = tmp_path / "a.env", tmp_path / "b.env"

    ensure_dev_env(first, example)
    ensure_dev_env(second, example)

    secrets = [dotenv_values(path)["BETTER_AUTH_SECRET"] for path in (first, second)]
    assert all(secret and len(secret) >= 32 for secret in secrets)
    assert all(secret and secret.startswith("dev-only-") for secret in secrets)
    assert secrets[0] != secrets[1]
    assert first.read_text().startswith("# CORS_ORIGINS")
    assert first.stat().st_mode & 0o777 == 0o600  # the secret is its owner's alone


def test_dev_setup_never_overwrites_an_existing_key_source(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("JWT_JWKS_URL=http://localhost:3000/api/auth/jwks\n")
    message = ensure_dev_env(env_file, tmp_path / "missing.example")
    assert message == f"{env_file} is ready"
    assert env_file.read_text() == "JWT_JWKS_URL=http://localhost:3000/api/auth/jwks\n"


def test_token_command_signs_for_the_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETTER_AUTH_SECRET", TEST_SECRET)
    monkeypatch.setenv("JWT_ISSUER", "http://localhost:3000")
    from todo_api.config import get_settings

    get_settings.cache_clear()
    try:
        assert main(["token", "carol", "--ttl", "120"]) == 0
    finally:
        get_settings.cache_clear()
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"], issuer="http://localhost:3000")
    assert claims["sub"] == "carol"
    assert claims["exp"] - claims["iat"] == 120


def test_openapi_command_prints_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["info"]["title"] == "todo-api"
    assert "/api/{user_id}/tasks" in document["paths"]


@pytest.mark.parametrize(
    ("argv", "environment", "why"),
    [
        (["token", "alice"], "production", "not issued when ENVIRONMENT=production"),
        (["token", "alice", "--ttl", "315360000"], "development", "--ttl must be between"),
        (["token", "alice", "--ttl", "0"], "development", "--ttl must be between"),
        (["token", "a/b"], "development", "not a valid user id"),
        (["token", "a\x01b"], "development", "not a valid user id"),
        (["token", "x" * 256], "development", "not a valid user id"),
    ],
    ids=["production", "ten-years", "zero-ttl", "slash", "control-char", "too-long"],
)
def test_token_command_refuses_what_the_api_would_not_accept(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    environment: str,
    why: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETTER_AUTH_SECRET", TEST_SECRET)
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/d")
    from todo_api.config import get_settings

    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main(argv)
    finally:
        get_settings.cache_clear()
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert why in captured.err
    assert captured.out == ""


def test_serve_takes_host_port_and_workers_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The container image sets HOST; a platform (Render, Cloud Run, Fly) sets PORT."""
    calls: list[tuple[str, int, int]] = []
    monkeypatch.setattr(
        serve_command,
        "serve",
        lambda host, port, workers, reload: calls.append((host, port, workers)),
    )
    monkeypatch.setenv("HOST", "192.0.2.1")
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("WORKERS", "3")
    assert main(["serve"]) == 0
    assert main(["serve", "--port", "8001", "--workers", "2"]) == 0  # arguments win
    assert calls == [("192.0.2.1", 9123, 3), ("192.0.2.1", 8001, 2)]


@pytest.mark.parametrize(("name", "value"), [("PORT", "http"), ("PORT", "0"), ("WORKERS", "-1")])
def test_serve_refuses_a_bad_port_or_worker_count_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        main(["serve"])
    assert stopped.value.code == 2
    assert f"argument --{name.lower()}: invalid positive_int value: '{value}'" in (
        capsys.readouterr().err
    )
