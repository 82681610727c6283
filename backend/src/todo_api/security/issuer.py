"""Sign development tokens with the shared secret, as the frontend's auth would.

Development only: production tokens come from the frontend's auth, and a command that signs
any user's token for any lifetime is not something a production host should offer.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from todo_api.config import Settings
from todo_api.models.fields import USER_ID_MAX, is_user_id

MAX_TTL_SECONDS = 7 * 24 * 3600


def issue_token(
    settings: Settings, user_id: str, *, email: str | None = None, ttl_seconds: int = 3600
) -> str:
    """An HS256 token for `user_id`, valid for `ttl_seconds`, with `iss`/`aud` if configured.

    Raises `ValueError` (saying why) in production, for a lifetime outside 1 s to 7 days,
    and for a user id the API would refuse.
    """
    if settings.environment == "production":
        raise ValueError("development tokens are not issued when ENVIRONMENT=production")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"--ttl must be between 1 and {MAX_TTL_SECONDS} seconds (7 days)")
    if not is_user_id(user_id):
        raise ValueError(
            f"{user_id!r} is not a valid user id: 1-{USER_ID_MAX} characters, "
            "no '/' and no control characters"
        )
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
