"""Tokens crafted to confuse the server: every one is a clean 401 problem, never a 500,
and nothing from a token reaches a response header unescaped."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from tests.support import TEST_SECRET, bearer, libpq_url, sign
from todo_api.config import Settings
from todo_api.main import create_app
from todo_api.services.users import _GIVE_UP_EMAIL

pytestmark = pytest.mark.anyio

NOW = int(time.time())
# The claims below are made when the module is imported and used whenever its test runs: a
# whole suite on a slow or busy machine takes well over ten minutes.
LATER = NOW + 86_400


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def crafted(header: dict[str, Any], claims: dict[str, Any] | None = None) -> str:
    claims = claims or {"sub": "alice", "exp": LATER}
    return f"{_b64(header)}.{_b64(claims)}.c2ln"


async def get_tasks(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/alice/tasks", headers=bearer(token))


def challenge_description(response: httpx.Response) -> str:
    """The error_description of a well-formed RFC 6750 challenge (fails on any other)."""
    value = response.headers["www-authenticate"]
    prefix, quote = 'Bearer error="invalid_token", error_description="', '"'
    assert value.startswith(prefix), value
    assert value.endswith(quote), value
    description = value[len(prefix) : -1]
    assert '"' not in description
    assert "\\" not in description
    return description


@pytest.mark.parametrize(
    "header",
    [{"alg": "€"}, {"alg": '", realm="evil'}, {"alg": "HS256\r\nX-Injected: 1"}],
    ids=["non-latin-1", "quote-injection", "crlf"],
)
async def test_odd_algorithms_are_401_with_a_well_formed_challenge(
    anonymous_client: httpx.AsyncClient, header: dict[str, Any]
) -> None:
    response = await get_tasks(anonymous_client, crafted(header))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "is not accepted" in challenge_description(response)
    assert "x-injected" not in response.headers


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": str(LATER)}, "Token claim exp is not a valid NumericDate"),
        ({"exp": 1e300}, "Token claim exp is not a valid NumericDate"),
        ({"exp": LATER, "nbf": str(NOW - 10)}, "Token claim nbf is not a valid NumericDate"),
        ({"exp": LATER, "iat": [NOW]}, "Token"),
    ],
    ids=["exp-string", "exp-1e300", "nbf-string", "iat-list"],
)
async def test_numeric_date_claims_must_be_numbers_in_range(
    anonymous_client: httpx.AsyncClient, claims: dict[str, Any], reason: str
) -> None:
    token = jwt.encode({"sub": "alice", **claims}, TEST_SECRET, algorithm="HS256")
    response = await get_tasks(anonymous_client, token)
    assert response.status_code == 401
    assert response.json()["detail"].startswith(reason)


@pytest.mark.parametrize(
    ("typ", "status"),
    [("JWT", 200), ("at+jwt", 200), ("id_token+jwt", 401), ("logout+jwt", 401), (7, 401)],
)
async def test_only_tokens_typed_for_an_api_are_accepted(
    anonymous_client: httpx.AsyncClient, typ: object, status: int
) -> None:
    claims = {"sub": "alice", "exp": LATER}
    token = jwt.encode(claims, TEST_SECRET, algorithm="HS256", headers={"typ": typ})
    response = await get_tasks(anonymous_client, token)
    assert response.status_code == status
    if status == 401:
        assert response.json()["detail"] == "Token type is not accepted"


async def test_an_unverified_email_is_not_stored(
    anonymous_client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    token = sign("ivan", email="ceo@example.com", email_verified=False)
    assert (await anonymous_client.get("/api/ivan/tasks", headers=bearer(token))).status_code == 200
    assert clean_database.execute("SELECT id, email FROM users").fetchall() == [("ivan", None)]


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"max_concurrent_requests": 30}))


async def test_thirty_users_claiming_one_email_at_once_are_all_served(
    anonymous_client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    shared = "shared@example.com"
    users = [f"racer{n}" for n in range(30)]
    responses = await asyncio.gather(
        *(
            anonymous_client.get(f"/api/{user}/tasks", headers=bearer(sign(user, email=shared)))
            for user in users
        )
    )
    assert [response.status_code for response in responses] == [200] * len(users)
    rows: dict[str, str | None] = dict(
        clean_database.execute("SELECT id, email FROM users").fetchall()
    )
    assert sorted(rows) == sorted(users)
    assert list(rows.values()).count(shared) == 1  # the first one wins; the others get NULL
    assert set(rows.values()) == {shared, None}


async def test_an_email_taken_by_a_concurrent_transaction_is_not_a_conflict(
    anonymous_client: httpx.AsyncClient,
    clean_database: psycopg.Connection,
    migrated_database: URL,
) -> None:
    """The race made deterministic: another user's row with the email is written but not yet
    committed while these requests arrive, and the unique index decides once it commits."""
    shared = "race@example.com"
    with psycopg.connect(libpq_url(migrated_database), prepare_threshold=None) as other:
        other.execute("SELECT set_acting_user('first')")  # the app's login: behind the wall
        other.execute("INSERT INTO users (id, email) VALUES ('first', %s)", (shared,))
        requests = [
            asyncio.create_task(
                anonymous_client.get(f"/api/{user}/tasks", headers=bearer(sign(user, email=shared)))
            )
            for user in ("second", "third")
        ]
        await asyncio.sleep(0.5)  # both are now waiting on the uncommitted row
        other.commit()
    responses = await asyncio.gather(*requests)
    assert [response.status_code for response in responses] == [200, 200]
    rows = clean_database.execute("SELECT id, email FROM users ORDER BY id").fetchall()
    assert rows == [("first", shared), ("second", None), ("third", None)]


async def test_a_failed_email_write_keeps_the_users_own_email(
    running_app: FastAPI, clean_database: psycopg.Connection
) -> None:
    """What provisioning writes after its email write failed: when the row already holds
    that email (a concurrent first request of the same user wrote it, and this one's insert
    hit the email's index), it keeps it; an older email of the user's goes."""
    clean_database.execute("INSERT INTO users (id, email) VALUES ('hal', 'hal@x.test')")
    database = running_app.state.database
    await database.rows(_GIVE_UP_EMAIL, {"owner": "hal", "email": "hal@x.test"})
    assert _email(clean_database, "hal") == "hal@x.test"
    await database.rows(_GIVE_UP_EMAIL, {"owner": "hal", "email": "taken@x.test"})
    assert _email(clean_database, "hal") is None
    await database.rows(_GIVE_UP_EMAIL, {"owner": "ida", "email": "taken@x.test"})
    assert _email(clean_database, "ida") is None


def _email(admin: psycopg.Connection, user: str) -> str | None:
    row = admin.execute("SELECT email FROM users WHERE id = %s", (user,)).fetchone()
    assert row is not None
    email: str | None = row[0]
    return email


@pytest.mark.parametrize(
    ("issuer", "audience", "warned"),
    [(None, None, True), ("http://f.test", None, True), ("http://f.test", "http://f.test", False)],
)
def test_jwks_without_issuer_and_audience_warns_at_startup(
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    issuer: str | None,
    audience: str | None,
    warned: bool,
) -> None:
    from todo_api.security.jwks import JwksKeySet
    from todo_api.security.verifier import TokenVerifier

    configured = settings.model_copy(update={"jwt_issuer": issuer, "jwt_audience": audience})
    key_set = JwksKeySet("http://127.0.0.1:9/jwks", httpx.AsyncClient())
    with caplog.at_level("WARNING", logger="todo_api.security.verifier"):
        TokenVerifier(configured, key_set)
    assert ("without JWT_ISSUER and JWT_AUDIENCE" in caplog.text) is warned


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "al\ud800ice"}, "Token subject is not a valid user id"),
        ({"sub": "alice", "email": "a\udc00@example.com"}, "Token claim email is not Unicode"),
    ],
    ids=["surrogate-sub", "surrogate-email"],
)
async def test_a_lone_surrogate_in_a_signed_claim_is_a_401(
    anonymous_client: httpx.AsyncClient,
    clean_database: psycopg.Connection,
    claims: dict[str, Any],
    reason: str,
) -> None:
    # PyJWT writes the claims with `json.dumps`, which escapes the surrogate as `\ud800`.
    token = jwt.encode({"exp": LATER, **claims}, TEST_SECRET, algorithm="HS256")
    response = await get_tasks(anonymous_client, token)
    assert response.status_code == 401
    assert response.json()["detail"].startswith(reason)
    assert clean_database.execute("SELECT count(*) FROM users").fetchone() == (0,)
