"""Sign development tokens with the shared secret, as the frontend's auth would."""

from __future__ import annotations

import time
from typing import Any

import jwt

from todo_api.config import Settings


def issue_token(
    settings: Settings, user_id: str, *, email: str | None = None, ttl_seconds: int = 3600
) -> str:
    """An HS256 token for `user_id`, valid for `ttl_seconds`, with `iss`/`aud` if configured."""
    if settings.better_auth_secret is None:
        raise ValueError("BETTER_AUTH_SECRET is not set: tokens can only be signed with it")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds}
    if email:
        claims["email"] = email
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    secret = settings.better_auth_secret.get_secret_value()
    return jwt.encode(claims, secret, algorithm="HS256")
