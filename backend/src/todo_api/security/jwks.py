"""Signing keys fetched from a JWKS URL, cached, with rate-limited refetching.

Keys are trusted for `max_age` seconds. A token whose `kid` is not among them triggers one
refetch (key rotation), but never more than one per `min_refetch_interval`: a flood of tokens
with invented `kid`s costs the key server at most one request per interval. Concurrent
requests share a single fetch.

A fetch has one deadline for all of it (connect, headers and a body however slowly it
trickles in) and a size limit, so a slow or hostile key server delays only the requests
that need a key from it, and those by `fetch_timeout` at most. Requests whose tokens need
no fetch (HMAC tokens, known `kid`s) never wait for it, and none holds an admission turn
while it waits (turns are taken after authentication).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

from todo_api.errors import KeySetUnavailableError, TokenRejectedError
from todo_api.metrics import JWKS_FETCHES

logger = logging.getLogger(__name__)

# A real key set is a few kilobytes; anything near this is not one.
MAX_KEY_SET_BYTES = 256 * 1024


class JwksKeySet:
    """The keys of one JWKS URL, by `kid`."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        max_age: float = 300.0,
        min_refetch_interval: float = 30.0,
        fetch_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http
        self._max_age = max_age
        self._min_refetch_interval = min_refetch_interval
        self._fetch_timeout = fetch_timeout
        self._clock = clock
        self._keys: dict[str | None, PyJWK] = {}
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def key_for(self, kid: str | None) -> PyJWK:
        """The key named `kid` (or the only key, for tokens without `kid`)."""
        if self._stale():
            await self._refresh(self._stale)
        key = self._lookup(kid)
        if key is None:
            await self._refresh(self._may_refetch)
            key = self._lookup(kid)
        if key is not None:
            return key
        if not self._keys:
            raise KeySetUnavailableError("signing keys cannot be fetched")
        raise TokenRejectedError("Token is signed with an unknown key")

    def _age(self) -> float:
        return float("inf") if self._attempted_at is None else self._clock() - self._attempted_at

    def _stale(self) -> bool:
        return self._age() >= self._max_age

    def _may_refetch(self) -> bool:
        return self._age() >= self._min_refetch_interval

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self, needed: Callable[[], bool]) -> None:
        """Fetch the key set if `needed()` still holds once this request holds the lock."""
        asked_at = self._clock()
        async with self._lock:
            fetched_meanwhile = self._attempted_at is not None and self._attempted_at >= asked_at
            if fetched_meanwhile or not needed():  # single flight: reuse that fetch
                return
            # Failed attempts count too, so a dead key server is not asked on every request.
            self._attempted_at = self._clock()
            try:
                self._keys = await self._fetch()
            except (httpx.HTTPError, TimeoutError, ValueError, PyJWKError, PyJWKSetError) as exc:
                # Keep the keys we had: a key server outage must not log everybody out.
                JWKS_FETCHES.labels("failed").inc()
                logger.warning("fetching signing keys from %s failed: %s", self.url, exc)
            else:
                JWKS_FETCHES.labels("ok").inc()

    async def _fetch(self) -> dict[str | None, PyJWK]:
        self.fetch_count += 1
        body = bytearray()
        async with asyncio.timeout(self._fetch_timeout):
            request = self._http.stream("GET", self.url, headers={"Accept": "application/json"})
            async with request as response:
                response.raise_for_status()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_KEY_SET_BYTES:
                        raise ValueError(f"key set is larger than {MAX_KEY_SET_BYTES} bytes")
        key_set = PyJWKSet.from_dict(json.loads(body))
        return {key.key_id: key for key in key_set.keys}
