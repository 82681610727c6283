"""Application settings, read once from the environment and `.env`.

Every tunable of the service lives in this package so that the configuration table of
specs/001-backend-task-api/operations.md and the code cannot drift apart: one field, one
environment variable, one default. `Settings` (here: authentication, HTTP, limits, live
updates) builds on `ChatSettings` (`chat.py`), which builds on `ReminderSettings` and
`EventSettings` (`background.py`), which build on `DatabaseSettings` (`database.py`).
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from todo_api.config.background import EventSettings, ReminderSettings
from todo_api.config.chat import ChatSettings
from todo_api.config.database import DatabaseSettings

MIN_SECRET_LENGTH = 32
# Shannon entropy of the secret's own characters times its length: a crude estimate that runs
# below the truth for random keys (16 random bytes in hex estimate ~120 bits, 32 in base64
# ~200), and gives `aaaa...` 0 bits and `abab...` one bit a character.
MIN_SECRET_BITS = 100
# `make run` starts the development secret it writes with this, so production can tell it.
DEV_SECRET_PREFIX = "dev-only-"  # noqa: S105  (a marker, not a secret)
# Placeholders that documentation and examples (ours and Better Auth's) hand out.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "<the frontend's secret, at least 32 characters>",
        "the frontend's secret, at least 32 characters",
        "better-auth-secret-12345678901234567890",
        "your-secret-key",
        "changeme",
    }
)
HMAC_ALGORITHMS = {"HS256", "HS384", "HS512"}
DEFAULT_REQUEST_DEADLINE_SECONDS = 6.0
ASYMMETRIC_ALGORITHMS = {"EdDSA", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256"}

__all__ = [
    "DEV_SECRET_PREFIX",
    "ChatSettings",
    "DatabaseSettings",
    "EventSettings",
    "ReminderSettings",
    "Settings",
    "get_settings",
    "secret_bits",
    "weak_secret_reason",
]


class Settings(ChatSettings):
    """Service configuration. Field names map to upper-case environment variables."""

    # --- authentication ------------------------------------------------------------------
    better_auth_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret of HS256/HS384/HS512 tokens (the frontend's secret).",
    )
    jwt_jwks_url: str | None = Field(
        default=None,
        description="JWKS URL of EdDSA/RS256/ES256 signing keys, e.g. "
        "http://localhost:3000/api/auth/jwks.",
    )
    jwt_issuer: str | None = Field(default=None, description="Required `iss`, when set.")
    jwt_audience: str | None = Field(default=None, description="Required `aud`, when set.")
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    jwt_hmac_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["HS256", "HS384", "HS512"]
    )
    jwt_jwks_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["EdDSA", "RS256", "ES256"]
    )
    jwks_cache_seconds: float = Field(
        default=300.0, gt=0, description="How long fetched signing keys are trusted."
    )
    jwks_min_refetch_seconds: float = Field(
        default=30.0,
        ge=0,
        description="At most one refetch per this many seconds for tokens with unknown `kid`.",
    )
    jwks_fetch_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Deadline of one whole key set fetch (connect, headers and body).",
    )

    # --- HTTP -------------------------------------------------------------------------------
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    body_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="A request body must arrive within this many seconds of its headers; "
        "otherwise 408 and the connection is closed.",
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Request line plus headers larger than this get 431 (server command only).",
    )
    header_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="A request's headers must arrive within this many seconds of its first "
        "byte (or of the connection); otherwise 408 and the connection is closed.",
    )
    max_concurrent_requests: int = Field(
        default=10,
        ge=1,
        description="Authenticated requests one worker processes at once; more wait their "
        "turn in order.",
    )
    admission_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=300,
        description="A request that waited this long for its turn gets 503 with Retry-After.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object per log line (for log collectors); `text`: "
        "readable lines.",
    )
    log_requests: bool = Field(
        default=True, description="One log line per request (method, route, status, time)."
    )
    metrics_enabled: bool = Field(
        default=True, description="Serve `GET /metrics` (Prometheus) and record requests."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, `/metrics` needs `Authorization: Bearer <token>`. In "
        "production `/metrics` is served only with a token.",
    )
    # A Next.js dev server is opened as either name; each is its own origin to a browser.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://127.0.0.1:3000"]
    )
    request_deadline_seconds: float | None = Field(
        default=None,
        gt=0,
        le=600,
        description="The most an authenticated request waits in all, from when it starts "
        "waiting for its turn (queue, pool checkout, statements, transactions); then 503. "
        "At least ADMISSION_TIMEOUT_SECONDS. Unset: the larger of 6 s, "
        "ADMISSION_TIMEOUT_SECONDS and DB_STATEMENT_TIMEOUT + 1 s.",
    )

    @property
    def request_deadline(self) -> float:
        """`REQUEST_DEADLINE_SECONDS`, or by default the larger of 6 s and the waits it
        bounds, so raising either of those never makes requests fail sooner than they did."""
        if self.request_deadline_seconds is not None:
            return self.request_deadline_seconds
        return max(
            DEFAULT_REQUEST_DEADLINE_SECONDS,
            self.admission_timeout_seconds,
            self.db_statement_timeout + 1.0,
        )

    @model_validator(mode="after")
    def _admission_within_request_deadline(self) -> Settings:
        """The turn is the first wait the request deadline bounds: it cannot be longer."""
        if self.admission_timeout_seconds > self.request_deadline:
            raise ValueError(
                "ADMISSION_TIMEOUT_SECONDS must not exceed REQUEST_DEADLINE_SECONDS "
                f"({self.admission_timeout_seconds:g} > {self.request_deadline:g})"
            )
        return self

    # --- quotas: per-user bounds, far above real use, so one account cannot fill the database
    # --- live updates (live/) ---------------------------------------------------------------
    live_listen_url: str | None = Field(
        default=None,
        description="A direct (unpooled) PostgreSQL URL each worker LISTENs on for new events; "
        "unset: DATABASE_URL (or the embedded server); `off`: polling only (a "
        "transaction-mode pooler cannot LISTEN).",
    )
    live_poll_seconds: float = Field(
        default=1.0,
        ge=0.05,
        le=60,
        description="How often each worker also polls for events of users with open streams.",
    )
    live_announce_seconds: float = Field(
        default=0.05,
        ge=0.01,
        le=1,
        description="How often the one announcing worker per database looks for new events "
        "and NOTIFYs the others (writers send no NOTIFY: it would serialize their commits).",
    )
    live_release_seconds: float = Field(
        default=30.0,
        ge=0.1,
        le=3600,
        description="How long a worker keeps its LISTEN connection (and the announcer's turn) "
        "after its last stream closed; the next stream opens it again.",
    )
    live_heartbeat_seconds: float = Field(
        default=15.0, gt=0, le=300, description="A comment line on an idle stream this often."
    )
    live_max_streams_per_user: int = Field(
        default=10, ge=1, le=1000, description="Open streams one user may hold on one worker."
    )
    live_max_streams: int = Field(
        default=5000, ge=1, le=100_000, description="Open streams one worker holds at most."
    )
    live_ticket_seconds: int = Field(
        default=60, ge=5, le=600, description="How long a stream ticket stays valid (unused)."
    )

    max_tasks_per_user: int = Field(
        default=100_000,
        ge=1,
        description="Tasks one user may keep; a create (or a recurring task's next occurrence) "
        "beyond it gets 403.",
    )
    max_idempotency_keys_per_day: int = Field(
        default=10_000,
        ge=1,
        description="Creates with an Idempotency-Key one user may make in 24 hours (each keeps "
        "a key row); beyond it 429 with Retry-After.",
    )

    @field_validator("cors_origins", "jwt_hmac_algorithms", "jwt_jwks_algorithms", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept the comma-separated lists operators write in `.env` files."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _needs_a_key_source(self) -> Settings:
        """No key, no service: there is no switch that turns authentication off."""
        if self.better_auth_secret is None and not self.jwt_jwks_url:
            raise ValueError(
                "no token verification key configured: set BETTER_AUTH_SECRET (the shared "
                "secret the frontend signs HS256 tokens with) or JWT_JWKS_URL (e.g. "
                "http://localhost:3000/api/auth/jwks); `make run` creates a development "
                "secret in .env"
            )
        secret = self.better_auth_secret
        if secret is not None and len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"BETTER_AUTH_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        unknown = set(self.jwt_hmac_algorithms) - HMAC_ALGORITHMS
        unknown |= set(self.jwt_jwks_algorithms) - ASYMMETRIC_ALGORITHMS
        if unknown:
            raise ValueError(f"unsupported JWT algorithms: {sorted(unknown)}")
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        """A secret anyone can read (a placeholder, the dev secret) signs anyone's tokens."""
        if self.environment != "production" or self.better_auth_secret is None:
            return self
        problem = weak_secret_reason(self.better_auth_secret.get_secret_value())
        if problem:
            raise ValueError(
                f"BETTER_AUTH_SECRET is not fit for production: {problem}; use the "
                "frontend's real secret (e.g. `openssl rand -base64 32`)"
            )
        return self


def weak_secret_reason(secret: str) -> str | None:
    """Why `secret` must not sign production tokens, or None when it may."""
    if secret.strip().lower() in KNOWN_PLACEHOLDERS or secret.startswith("<"):
        return "it is a documented placeholder"
    if secret.startswith(DEV_SECRET_PREFIX):
        return "it is the development secret `make run` generated"
    if secret_bits(secret) < MIN_SECRET_BITS:
        return f"it has too little entropy (under {MIN_SECRET_BITS} bits estimated)"
    if " " in secret.strip():
        return "it is a phrase, not a random key"
    return None


def secret_bits(secret: str) -> float:
    """Estimated entropy in bits: the length times the Shannon entropy of its characters."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    total = len(secret)
    per_char = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_char * total


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings` instead of patching this."""
    return Settings()
