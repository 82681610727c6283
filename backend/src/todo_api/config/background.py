"""The settings of the background work: task events (the relay) and reminders (the scheduler).

Kept apart from the HTTP settings so that `python -m todo_api relay` and `scheduler` need only
these and the database's (`config/database.py`).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, field_validator, model_validator

from todo_api.config.database import DatabaseSettings


class EventSettings(DatabaseSettings):
    """Task events (events/): all that the relay needs besides the database."""

    events_url: str | None = Field(
        default=None,
        description="Where task events go: nats://host:port (JetStream), "
        "kafka://host:port[,host:port], or an http(s):// webhook. Unset: events are "
        "recorded (for reminders and live updates) but delivered nowhere.",
    )
    events_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Standard Webhooks signing secret (whsec_ + base64) of a webhook sink.",
    )
    events_source: str = Field(
        default="/todo-api",
        min_length=1,
        description="The CloudEvents `source` of every event (a URI reference).",
    )
    events_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Events the relay delivers per transaction."
    )
    events_poll_seconds: float = Field(
        default=0.1,
        ge=0.01,
        le=10,
        description="How often an idle relay looks for new events.",
    )
    events_delivery_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long a sink may take to acknowledge a batch (and to connect).",
    )
    events_retention_hours: float = Field(
        default=24.0,
        ge=0,
        description="Hours a delivered event stays in the outbox before it is pruned.",
    )
    events_undelivered_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Days an event nobody delivered stays in the outbox (bounds it when no "
        "relay runs).",
    )

    @field_validator("events_url", "events_webhook_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _sink_is_usable(self) -> EventSettings:
        if self.events_url is None:
            return self
        scheme = self.events_url.partition("://")[0].lower()
        if scheme not in {"nats", "kafka", "http", "https"}:
            raise ValueError("EVENTS_URL must start with nats://, kafka://, http:// or https://")
        if scheme in {"http", "https"} and self.events_webhook_secret is None:
            raise ValueError("a webhook EVENTS_URL needs EVENTS_WEBHOOK_SECRET")
        return self


class ReminderSettings(EventSettings):
    """Reminders (reminders/): what the scheduler needs besides the database and events."""

    reminders_in_process: bool = Field(
        default=True,
        description="Every server worker runs the reminder scheduler (they share the work "
        "through PostgreSQL). Off when `python -m todo_api scheduler` runs on its own.",
    )
    reminders_poll_seconds: float = Field(
        default=0.5, ge=0.05, le=10, description="How often the scheduler looks for due reminders."
    )
    reminders_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Reminders fired per transaction."
    )
    reminders_max_lateness: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        description="A reminder found later than this after its time (the service was down) "
        "is counted as missed and not sent; seconds or an ISO 8601 duration (PT24H).",
    )
