"""The database settings: the URL, the embedded server, the pool and its deadlines.

`DatabaseSettings` is the base of every settings class (`todo_api.config`): the relay and the
scheduler run on it and the feature settings of `config/background.py` alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """What it takes to reach the database: all that migrations need (no auth secret)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgres://, postgresql:// or postgresql+psycopg://). "
        "Unset: an embedded PostgreSQL server is started (not allowed in production).",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the schema's owner, for `python -m todo_api migrate` "
        "and `alembic upgrade head`. Unset: DATABASE_URL (then that role owns the tables and "
        "row-level security does not hold it: operations.md).",
    )
    worker_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the login that cross-user background work (event "
        "relay, reminder scheduler, housekeeping) connects with: a member of todo_app and "
        "todo_worker_access, so that DATABASE_URL's login needs only todo_app and cannot take "
        "the worker role. Unset: DATABASE_URL (whose login then needs todo_worker_access: "
        "operations.md).",
    )
    embedded_data_dir: Path = Field(
        default=Path(".data/postgres"),
        description="Data folder of the embedded server used when DATABASE_URL is unset.",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    db_pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds a request waits for a free connection."
    )
    db_connect_timeout: int = Field(
        default=5, ge=1, description="Seconds to open a new database connection."
    )
    db_pool_recycle: int = Field(
        default=240,
        ge=-1,
        description="Seconds after which a pooled connection is replaced; kept below Neon's "
        "5-minute idle suspend so suspended computes never hand back dead connections.",
    )
    db_pool_pre_ping: bool = Field(
        default=False, description="Test every connection on checkout (one extra round trip)."
    )
    db_prepare_threshold: int | None = Field(
        default=None,
        ge=0,
        description="Executions before psycopg prepares a statement server-side. Unset "
        "(the default): never, which is safe behind any connection pooler. Set it (e.g. 5) "
        "only for a direct connection or a pooler that tracks prepared statements.",
    )
    db_statement_timeout: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Seconds a statement may run: the server's statement_timeout (set on "
        "the role by `alembic upgrade head`), and the client waits this plus 1 s before "
        "it gives up on a database that does not answer at all.",
    )

    @field_validator("db_prepare_threshold", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "none", "off"}:
            return None
        return value

    @model_validator(mode="after")
    def _production_needs_database(self) -> DatabaseSettings:
        """Production must never silently fall back to a local embedded database."""
        if self.environment == "production" and not self.database_url:
            raise ValueError("DATABASE_URL must be set when ENVIRONMENT=production")
        return self
