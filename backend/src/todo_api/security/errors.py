"""Why a token was refused; the API layer turns these into 401 / 503 problems."""

from __future__ import annotations


class TokenRejectedError(Exception):
    """The request carries no usable token. `reason` is safe to show: it never holds the token."""

    def __init__(self, reason: str, *, invalid_token: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        # RFC 6750: a request without any token gets a bare challenge, no error code.
        self.invalid_token = invalid_token


class KeySetUnavailableError(Exception):
    """The signing keys cannot be fetched right now (the key server is down)."""
