"""Verify a bearer JWT and say whose it is.

The accepted algorithms are fixed by configuration, never taken from the token: an HMAC
token is checked only against the shared secret, an asymmetric one only against a key from
the JWKS, whose algorithm is fixed by the key itself. So `alg: none` and the classic
"HS256 signed with the RSA public key" confusion have nothing to be verified with.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any

import jwt
from jwt import PyJWK
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
)

from todo_api.config import Settings
from todo_api.errors import TokenRejectedError
from todo_api.models.fields import EMAIL_MAX, is_unicode, is_user_id
from todo_api.security.jwks import JwksKeySet
from todo_api.security.principal import Principal

logger = logging.getLogger(__name__)

# RFC 7519 NumericDate claims: JSON numbers (not strings, not booleans), here also finite and
# before the year 10000, so a typo or an attack (`"exp": "1790000000"`, `1e300`) is refused.
_NUMERIC_DATES = ("exp", "nbf", "iat")
_LATEST_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z
# Header `typ` values of tokens meant for an API (RFC 7519, RFC 9068); any other (an ID
# token, a logout token, a DPoP proof...) was minted for something else.
_ACCEPTED_TYPES = frozenset({"jwt", "at+jwt", "application/jwt", "application/at+jwt"})

# Verified tokens are remembered this long at most (bounding how long a key removed from the
# JWKS still counts), and this many at once.
_VERIFIED_TTL = 300.0
_VERIFIED_MAX = 10_000

# Said of a bearer token that is not three dot-separated parts: most often Better Auth's
# opaque session token, sent by a frontend without the JWT plugin.
NOT_A_JWT = (
    "Token is not a JWT (three base64url parts separated by dots): a Better Auth session "
    "token does not work here; send the token of Better Auth's JWT plugin. See the README, "
    '"Connect your Better Auth frontend"'
)

_REASONS: list[tuple[type[InvalidTokenError], str]] = [
    (ExpiredSignatureError, "Token has expired"),
    (ImmatureSignatureError, "Token is not yet valid"),
    (InvalidIssuerError, "Token issuer is not accepted"),
    (InvalidAudienceError, "Token audience is not accepted"),
    (InvalidSignatureError, "Token signature is invalid"),
    (DecodeError, "Token is malformed"),
]


class TokenVerifier:
    """Checks signature, expiry, not-before, issuer and audience; returns the `Principal`."""

    def __init__(self, settings: Settings, key_set: JwksKeySet | None) -> None:
        secret = settings.better_auth_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self._hmac_algorithms = settings.jwt_hmac_algorithms if self._secret else []
        self._jwks_algorithms = settings.jwt_jwks_algorithms if key_set is not None else []
        self._key_set = key_set
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._options: Any = {
            "require": ["exp", "sub"],
            "verify_aud": settings.jwt_audience is not None,
        }
        if key_set is not None and not (self._issuer and self._audience):
            logger.warning(
                "JWT_JWKS_URL is set without JWT_ISSUER and JWT_AUDIENCE: any token those "
                "keys signed, for any audience, is accepted; set both to the frontend's URL"
            )

    async def verify(self, token: str) -> Principal:
        """The token's principal; raises `TokenRejectedError` saying why it is refused."""
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        principal, expires_at = await self._verify(token)
        self._remember(token, principal, expires_at)
        return principal

    def _remember(self, token: str, principal: Principal, expires_at: float) -> None:
        """Cache a verified token until it expires, for at most `_VERIFIED_TTL` seconds.

        A browser sends the same token with every request for its whole life; checking its
        signature once instead of every time saves much of a small request's CPU
        (see performance.md). The
        cache is keyed by the exact token, so any other token is verified in full.
        """
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (principal, min(expires_at, time.time() + _VERIFIED_TTL))

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            reason = "Token is malformed" if token.count(".") == 2 else NOT_A_JWT
            raise TokenRejectedError(reason) from None
        token_type = header.get("typ")
        if token_type is not None and (
            not isinstance(token_type, str) or token_type.lower() not in _ACCEPTED_TYPES
        ):
            raise TokenRejectedError("Token type is not accepted")
        algorithm = header.get("alg")
        key, algorithms = await self._key_for(algorithm, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                options=self._options,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
            )
        except (TypeError, OverflowError, ValueError):
            raise TokenRejectedError("Token is malformed") from None
        except MissingRequiredClaimError as exc:
            raise TokenRejectedError(f"Token lacks the required {exc.claim!r} claim") from None
        except InvalidTokenError as exc:
            raise TokenRejectedError(_reason(exc)) from None
        _check_numeric_dates(claims)
        expires_at = float(claims["exp"]) + self._leeway
        return replace(_principal(claims), expires_at=expires_at), expires_at

    async def _key_for(self, algorithm: object, kid: object) -> tuple[str | PyJWK, list[str]]:
        if self._secret and algorithm in self._hmac_algorithms:
            return self._secret, [str(algorithm)]
        if self._key_set is not None and algorithm in self._jwks_algorithms:
            key = await self._key_set.key_for(kid if isinstance(kid, str) else None)
            if key.algorithm_name != algorithm:
                raise TokenRejectedError("Token algorithm does not match its key")
            return key, [key.algorithm_name]
        # The header keeps only safe characters of this (see `bearer_challenge`).
        raise TokenRejectedError(f"Token algorithm {str(algorithm)[:20]!r} is not accepted")


def _reason(exc: InvalidTokenError) -> str:
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "Token is invalid"


def _check_numeric_dates(claims: dict[str, Any]) -> None:
    for name in _NUMERIC_DATES:
        if name not in claims:
            continue
        value = claims[name]
        valid = isinstance(value, int | float) and not isinstance(value, bool)
        if not valid or not math.isfinite(value) or not 0 <= value <= _LATEST_NUMERIC_DATE:
            raise TokenRejectedError(f"Token claim {name} is not a valid NumericDate")


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    # The same rule as the `{user_id}` path segment, so every token user can own tasks.
    if not is_user_id(subject):
        raise TokenRejectedError("Token subject is not a valid user id")
    email = claims.get("email")
    # JSON can escape a lone surrogate, which no encoder can write: the token is malformed.
    if isinstance(email, str) and not is_unicode(email):
        raise TokenRejectedError("Token claim email is not Unicode text")
    if not isinstance(email, str) or not 0 < len(email) <= EMAIL_MAX or "\x00" in email:
        email = None
    if claims.get("email_verified") is False:  # an address nobody confirmed is not stored
        email = None
    return Principal(user_id=subject, email=email)
