"""Asymmetric tokens (EdDSA, RS256, ES256) verified with keys fetched over HTTP from a JWKS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from tests.jwks_server import JwksServer, SigningKey, serve_jwks
from tests.support import bearer, metric_value, sign
from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio

ALGORITHMS = ["EdDSA", "RS256", "ES256"]


def claims(user: str = "alice", **extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + 600, **extra}


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {alg: SigningKey.generate(f"key-{alg}", alg) for alg in ALGORITHMS}


@pytest.fixture
def jwks(keys: dict[str, SigningKey]) -> Iterator[JwksServer]:
    with serve_jwks(list(keys.values())) as server:
        yield server


def jwks_app(settings: Settings, jwks: JwksServer, min_refetch: float) -> FastAPI:
    """An app that accepts JWKS tokens only (no shared secret)."""
    update = {
        "better_auth_secret": None,
        "jwt_jwks_url": jwks.url,
        "jwks_min_refetch_seconds": min_refetch,
        "max_concurrent_requests": 100,  # let bursts of requests really run side by side
    }
    return create_app(settings.model_copy(update=update))


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


@pytest.fixture
async def http(settings: Settings, jwks: JwksServer) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(jwks_app(settings, jwks, min_refetch=0)):
        yield client


@pytest.fixture
async def strict_http(settings: Settings, jwks: JwksServer) -> AsyncIterator[httpx.AsyncClient]:
    """Refetches for unknown `kid`s at most once an hour."""
    async for client in _client(jwks_app(settings, jwks, min_refetch=3600)):
        yield client


async def get_tasks(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get("/api/alice/tasks", headers=bearer(token))


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_tokens_signed_by_a_jwks_key_are_accepted(
    http: httpx.AsyncClient, jwks: JwksServer, keys: dict[str, SigningKey], alg: str
) -> None:
    response = await http.post(
        "/api/alice/tasks", json={"title": alg}, headers=bearer(keys[alg].sign(claims()))
    )
    assert response.status_code == 201
    assert jwks.requests == 1


async def test_keys_are_cached_between_requests(
    http: httpx.AsyncClient, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    for _ in range(20):
        assert (await get_tasks(http, keys["EdDSA"].sign(claims()))).status_code == 200
    assert jwks.requests == 1


async def test_key_fetches_are_counted_in_the_metrics(
    http: httpx.AsyncClient, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    fetches = "todo_api_jwks_fetches_total"
    before = (await http.get("/metrics")).text
    await get_tasks(http, keys["EdDSA"].sign(claims()))
    await get_tasks(http, keys["EdDSA"].sign(claims(), kid="unknown"))  # a refetch
    after = (await http.get("/metrics")).text
    assert jwks.requests == 2
    fetched = metric_value(after, fetches, outcome="ok") - metric_value(
        before, fetches, outcome="ok"
    )
    assert fetched == 2


async def test_a_rotated_key_is_picked_up_without_a_restart(
    http: httpx.AsyncClient, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    assert (await get_tasks(http, keys["EdDSA"].sign(claims()))).status_code == 200

    new_key = SigningKey.generate("key-rotated", "EdDSA")
    jwks.keys = [new_key]  # the old key is retired, a new one published

    assert (await get_tasks(http, new_key.sign(claims()))).status_code == 200
    assert jwks.requests == 2


async def test_unknown_kids_refetch_at_most_once_per_interval(
    strict_http: httpx.AsyncClient, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    assert (await get_tasks(strict_http, keys["ES256"].sign(claims()))).status_code == 200
    assert jwks.requests == 1

    bogus = [keys["ES256"].sign(claims(), kid=f"bogus-{n}") for n in range(50)]
    responses = await asyncio.gather(*(get_tasks(strict_http, token) for token in bogus))

    assert {response.status_code for response in responses} == {401}
    assert responses[0].json()["detail"] == "Token is signed with an unknown key"
    assert jwks.requests == 1  # inside the interval: the key server was not asked again
    assert (await get_tasks(strict_http, keys["ES256"].sign(claims()))).status_code == 200


async def test_a_burst_of_unknown_kids_costs_one_fetch_when_allowed(
    http: httpx.AsyncClient, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    assert (await get_tasks(http, keys["RS256"].sign(claims()))).status_code == 200
    bogus = [keys["RS256"].sign(claims(), kid=f"bogus-{n}") for n in range(30)]
    await asyncio.gather(*(get_tasks(http, token) for token in bogus))
    # min_refetch is 0 here, yet concurrent misses share fetches instead of one each.
    assert jwks.requests <= 3


async def test_hs256_signed_with_the_public_key_is_refused(
    http: httpx.AsyncClient, keys: dict[str, SigningKey]
) -> None:
    public_pem = (
        keys["RS256"]
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    # PyJWT itself refuses to HMAC-sign with a PEM key, so forge the token by hand.
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "kid": "key-RS256"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = b64(hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest())
    forged = (header + b"." + payload + b"." + signature).decode()

    response = await get_tasks(http, forged)
    assert response.status_code == 401
    assert response.json()["detail"] == "Token algorithm 'HS256' is not accepted"


async def test_a_key_used_with_another_algorithm_is_refused(
    http: httpx.AsyncClient, keys: dict[str, SigningKey]
) -> None:
    # Claims an ES256 key id but is an RS256 signature.
    token = jwt.encode(
        claims(), keys["RS256"].private_key, algorithm="RS256", headers={"kid": "key-ES256"}
    )
    response = await get_tasks(http, token)
    assert response.status_code == 401
    assert response.json()["detail"] == "Token algorithm does not match its key"


async def test_a_signature_by_another_key_is_refused(
    http: httpx.AsyncClient, keys: dict[str, SigningKey]
) -> None:
    impostor = SigningKey.generate("key-EdDSA", "EdDSA")  # same kid, different key
    response = await get_tasks(http, impostor.sign(claims()))
    assert response.status_code == 401
    assert response.json()["detail"] == "Token signature is invalid"


async def test_key_server_down_before_any_fetch_is_a_503(
    http: httpx.AsyncClient, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    jwks.fail = True
    response = await get_tasks(http, keys["EdDSA"].sign(claims()))
    assert response.status_code == 503
    assert response.json()["detail"] == "Token signing keys cannot be fetched; retry shortly"

    jwks.fail = False
    assert (await get_tasks(http, keys["EdDSA"].sign(claims()))).status_code == 200


async def test_a_trickling_key_server_delays_only_the_tokens_that_need_it(
    settings: Settings, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    """Twelve tokens with unknown `kid`s (more than there are admission turns) while the key
    server sends a byte every 50 ms: they give up at the fetch deadline, and HS256 users
    are served at once meanwhile."""
    jwks.trickle_delay = 0.05
    update = {
        "jwt_jwks_url": jwks.url,  # beside the shared secret `settings` already has
        "jwks_min_refetch_seconds": 0,
        "jwks_fetch_timeout_seconds": 1.0,
        "max_concurrent_requests": 10,
    }
    app = create_app(settings.model_copy(update=update))
    async for http in _client(app):
        started = time.monotonic()
        unknown = [
            asyncio.create_task(get_tasks(http, keys["EdDSA"].sign(claims(), kid=f"new-{n}")))
            for n in range(12)
        ]
        await asyncio.sleep(0.2)
        hmac_started = time.monotonic()
        others = await asyncio.gather(
            *(http.get(f"/api/user{n}/tasks", headers=bearer(sign(f"user{n}"))) for n in range(5))
        )
        hmac_elapsed = time.monotonic() - hmac_started
        refused = await asyncio.gather(*unknown)
        elapsed = time.monotonic() - started

    assert [response.status_code for response in others] == [200] * 5
    assert hmac_elapsed < 0.5
    assert {response.status_code for response in refused} <= {401, 503}
    assert elapsed < 2.5  # one deadline (1 s), not one per request or per byte
