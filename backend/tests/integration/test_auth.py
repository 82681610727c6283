"""Only the signed-in user reaches their tasks: 401 for bad tokens, 403 for other paths."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from fastapi import FastAPI

from tests.support import TEST_SECRET, bearer, sign
from todo_api.config import Settings
from todo_api.main import create_app
from todo_api.services.users import UserProvisioner

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Operation:
    """One of the six task operations on alice's task, and its status for the owner."""

    method: str
    path: str
    body: dict[str, object] | None
    status: int

    async def call(
        self, client: httpx.AsyncClient, task_id: int, token: str | None = None
    ) -> httpx.Response:
        headers = bearer(token) if token is not None else None
        path = self.path.format(id=task_id)
        return await client.request(self.method, path, json=self.body, headers=headers)


OPERATIONS = [
    pytest.param(Operation("GET", "/api/alice/tasks", None, 200), id="list"),
    pytest.param(Operation("POST", "/api/alice/tasks", {"title": "x"}, 201), id="create"),
    pytest.param(Operation("GET", "/api/alice/tasks/{id}", None, 200), id="get"),
    pytest.param(Operation("PUT", "/api/alice/tasks/{id}", {"title": "y"}, 200), id="update"),
    pytest.param(Operation("PATCH", "/api/alice/tasks/{id}/complete", None, 200), id="toggle"),
    pytest.param(Operation("DELETE", "/api/alice/tasks/{id}", None, 204), id="delete"),
]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(claims: dict[str, object]) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


NOW = int(time.time())
BAD_TOKENS = [
    pytest.param("not-a-jwt", "Token is not a JWT", id="garbage"),
    pytest.param("abc.def", "Token is not a JWT", id="two-parts"),
    pytest.param("a.b.c", "Token is malformed", id="three-garbage-parts"),
    pytest.param(sign("alice", secret="x" * 48), "Token signature is invalid", id="bad-signature"),
    pytest.param(sign("alice", exp=NOW - 3600), "Token has expired", id="expired"),
    pytest.param(sign("alice", nbf=NOW + 3600), "Token is not yet valid", id="not-yet-valid"),
    pytest.param(sign("alice", exp=None), "lacks the required 'exp' claim", id="no-exp"),
    pytest.param(
        _unsigned({"sub": "alice", "exp": NOW + 3600}), "'none' is not accepted", id="alg-none"
    ),
    pytest.param(sign("a\x00b"), "subject is not a valid user id", id="nul-subject"),
]


@pytest.fixture
async def task_id(client: httpx.AsyncClient) -> int:
    created: int = (await client.post("/api/alice/tasks", json={"title": "mine"})).json()["id"]
    return created


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_no_token_is_401_with_a_bare_challenge(
    anonymous_client: httpx.AsyncClient, task_id: int, operation: Operation
) -> None:
    response = await operation.call(anonymous_client, task_id)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "Missing bearer token"


@pytest.mark.parametrize("authorization", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer ", "alice"])
async def test_other_authorization_schemes_are_a_missing_token(
    anonymous_client: httpx.AsyncClient, authorization: str
) -> None:
    response = await anonymous_client.get(
        "/api/alice/tasks", headers={"Authorization": authorization}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "Missing bearer token"


async def test_a_session_cookie_instead_of_a_token_is_told_this_api_reads_no_cookies(
    anonymous_client: httpx.AsyncClient,
) -> None:
    cookie = {"Cookie": "better-auth.session_token=abc.def"}
    response = await anonymous_client.get("/api/alice/tasks", headers=cookie)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("Missing bearer token: this API reads no cookies")


async def test_a_better_auth_session_token_is_told_to_use_the_jwt_plugin(
    anonymous_client: httpx.AsyncClient,
) -> None:
    """Better Auth without its JWT plugin hands the frontend an opaque session token."""
    session_token = "Qm9aX2xGdW5ueVNlc3Npb25Ub2tlbjEyMzQ"
    response = await anonymous_client.get("/api/alice/tasks", headers=bearer(session_token))
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail.startswith("Token is not a JWT (three base64url parts")
    assert "JWT plugin" in detail
    assert '"Connect your Better Auth frontend"' in detail
    # RFC 6750: the description is a quoted string, so it holds no `"` of its own.
    scheme, description = response.headers["www-authenticate"].split(", error_description=")
    assert scheme == 'Bearer error="invalid_token"'
    assert description == '"' + detail.replace('"', "") + '"'


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/get-session"),
        ("POST", "/api/auth/sign-in/email"),
        ("GET", "/api/auth/jwks"),
        ("POST", "/auth/login"),
        ("POST", "/auth/sign-in/email"),
        ("POST", "/login"),
        ("POST", "/api/login"),
        ("POST", "/signin"),
        ("POST", "/sign-in/"),
        ("POST", "/signup"),
        ("POST", "/api/sign-up"),
        ("POST", "/register"),
        ("POST", "/logout"),
        ("GET", "/session"),
        ("GET", "/api/session"),
    ],
)
async def test_sign_in_routes_asked_of_this_api_point_to_the_frontend(
    anonymous_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anonymous_client.request(method, path)
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail.startswith("This API has no sign-in routes")
    assert "Connect your Better Auth frontend" in detail


@pytest.mark.parametrize("path", ["/logins", "/authors", "/api/alice", "/api/tasks", "/nothing"])
async def test_other_unknown_paths_stay_a_plain_404(
    anonymous_client: httpx.AsyncClient, path: str
) -> None:
    response = await anonymous_client.get(path)
    assert response.status_code == 404
    assert response.json()["detail"] == "Not Found"


async def test_a_user_named_auth_still_gets_their_tasks(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/auth/tasks", json={"title": "mine"})
    assert created.status_code == 201
    missing = await client.get("/api/auth/tasks/999999")
    assert missing.json()["detail"] == "Task 999999 not found"


@pytest.mark.parametrize(("token", "reason"), BAD_TOKENS)
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_bad_tokens_are_401_saying_why(
    anonymous_client: httpx.AsyncClient, task_id: int, token: str, reason: str, operation: Operation
) -> None:
    response = await operation.call(anonymous_client, task_id, token)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert token not in response.text
    assert token not in challenge


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_another_users_path_is_403(
    anonymous_client: httpx.AsyncClient, task_id: int, operation: Operation
) -> None:
    response = await operation.call(anonymous_client, task_id, sign("mallory"))
    assert response.status_code == 403
    assert response.json()["detail"] == "The token does not grant access to this user's tasks"
    owner = await anonymous_client.get(f"/api/alice/tasks/{task_id}", headers=bearer(sign("alice")))
    assert owner.json()["title"] == "mine"


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_the_owner_gets_through(
    anonymous_client: httpx.AsyncClient, task_id: int, operation: Operation
) -> None:
    response = await operation.call(anonymous_client, task_id, sign("alice"))
    assert response.status_code == operation.status


@pytest.mark.parametrize("path", ["/health", "/ready", "/docs", "/redoc", "/openapi.json"])
async def test_public_paths_need_no_token(anonymous_client: httpx.AsyncClient, path: str) -> None:
    assert (await anonymous_client.get(path)).status_code == 200


@pytest.fixture
def issuer_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"jwt_issuer": "http://localhost:3000", "jwt_audience": "http://localhost:3000"}
    )


@pytest.mark.parametrize(
    ("claims", "status", "reason"),
    [
        ({"iss": "http://localhost:3000", "aud": "http://localhost:3000"}, 200, None),
        ({"iss": "http://evil.test", "aud": "http://localhost:3000"}, 401, "issuer"),
        ({"iss": "http://localhost:3000", "aud": "http://evil.test"}, 401, "audience"),
        ({"aud": "http://localhost:3000"}, 401, "'iss' claim"),
        ({"iss": "http://localhost:3000"}, 401, "'aud' claim"),
    ],
)
async def test_issuer_and_audience_are_checked_when_configured(
    issuer_settings: Settings, claims: dict[str, Any], status: int, reason: str | None
) -> None:
    app = create_app(issuer_settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get("/api/alice/tasks", headers=bearer(sign("alice", **claims)))
    assert response.status_code == status
    if reason:
        assert reason in response.json()["detail"]


async def test_leeway_accepts_slightly_expired_tokens(anonymous_client: httpx.AsyncClient) -> None:
    token = sign("alice", exp=int(time.time()) - 5)
    assert (
        await anonymous_client.get("/api/alice/tasks", headers=bearer(token))
    ).status_code == 200


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
async def test_other_hmac_algorithms_verify_with_the_secret(
    anonymous_client: httpx.AsyncClient, alg: str
) -> None:
    token = sign("alice", alg=alg)
    assert (
        await anonymous_client.get("/api/alice/tasks", headers=bearer(token))
    ).status_code == 200


async def test_first_request_provisions_the_user_with_email(
    anonymous_client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    headers = bearer(sign("dora", email="dora@example.com"))
    assert (await anonymous_client.get("/api/dora/tasks", headers=headers)).json() == []
    rows = clean_database.execute("SELECT id, email FROM users").fetchall()
    assert rows == [("dora", "dora@example.com")]

    # A new email in a later token refreshes the row.
    headers = bearer(sign("dora", email="dora@new.example"))
    await anonymous_client.get("/api/dora/tasks", headers=headers)
    rows = clean_database.execute("SELECT id, email FROM users").fetchall()
    assert rows == [("dora", "dora@new.example")]


async def test_a_token_without_email_keeps_the_stored_email(
    anonymous_client: httpx.AsyncClient, running_app: FastAPI, clean_database: psycopg.Connection
) -> None:
    await anonymous_client.get("/api/hana/tasks", headers=bearer(sign("hana", email="h@x.test")))
    running_app.state.user_provisioner = UserProvisioner()  # as a fresh worker would see it
    response = await anonymous_client.get("/api/hana/tasks", headers=bearer(sign("hana")))
    assert response.status_code == 200
    rows = clean_database.execute("SELECT id, email FROM users").fetchall()
    assert rows == [("hana", "h@x.test")]


async def test_an_email_held_by_another_user_is_not_taken(
    anonymous_client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    shared = "shared@example.com"
    await anonymous_client.get("/api/erin/tasks", headers=bearer(sign("erin", email=shared)))
    response = await anonymous_client.get(
        "/api/frank/tasks", headers=bearer(sign("frank", email=shared))
    )
    assert response.status_code == 200
    rows = clean_database.execute("SELECT id, email FROM users ORDER BY id").fetchall()
    assert rows == [("erin", shared), ("frank", None)]
    # An email of frank's own, then erin's again: erin's stays hers, frank's row has none.
    for email, stored in (("frank@example.com", "frank@example.com"), (shared, None)):
        headers = bearer(sign("frank", email=email))
        assert (await anonymous_client.get("/api/frank/tasks", headers=headers)).status_code == 200
        rows = clean_database.execute("SELECT id, email FROM users ORDER BY id").fetchall()
        assert rows == [("erin", shared), ("frank", stored)]


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"db_pool_size": 20}))


async def test_concurrent_first_requests_create_one_user_row(
    anonymous_client: httpx.AsyncClient, clean_database: psycopg.Connection
) -> None:
    headers = bearer(sign("gina", email="gina@example.com"))
    responses = await asyncio.gather(
        *(anonymous_client.get("/api/gina/tasks", headers=headers) for _ in range(30)),
        *(
            anonymous_client.post("/api/gina/tasks", json={"title": "t"}, headers=headers)
            for _ in range(30)
        ),
    )
    assert sorted({response.status_code for response in responses}) == [200, 201]
    rows = clean_database.execute("SELECT id, email FROM users").fetchall()
    assert rows == [("gina", "gina@example.com")]


async def test_token_cli_prints_a_token_the_api_accepts(
    anonymous_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    environment = {**os.environ, "BETTER_AUTH_SECRET": TEST_SECRET, "JWT_JWKS_URL": ""}
    result = subprocess.run(  # noqa: ASYNC221  (a short CLI run; the loop has nothing else to do)
        [sys.executable, "-m", "todo_api", "token", "alice", "--email", "a@example.com"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # no .env there: the environment alone configures it
        env=environment,
    )
    token = result.stdout.strip()
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["email"] == "a@example.com"
    assert claims["exp"] - claims["iat"] == 3600
    response = await anonymous_client.get("/api/alice/tasks", headers=bearer(token))
    assert response.status_code == 200
