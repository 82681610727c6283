"""Prometheus metrics: what `GET /metrics` reports, in one place.

With several workers (`python -m todo_api serve --workers N`), each worker writes its values
to files in `PROMETHEUS_MULTIPROC_DIR` (the serve command creates a fresh directory), and
whichever worker answers a scrape adds them all up: prometheus_client's multiprocess mode.
That variable is read once, when this module is imported, so it must be set before the
worker starts. Without it (one process, the tests) the values live in this process.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "todo_api_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "todo_api_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL_IN_USE = Gauge(
    "todo_api_db_pool_in_use",
    "Database connections checked out of the pool (all workers).",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "todo_api_db_pool_waiting",
    "Statements waiting for a pooled connection (all workers).",
    multiprocess_mode="livesum",
)
ADMISSION_QUEUE = Gauge(
    "todo_api_admission_queue_length",
    "Requests waiting for an admission turn (all workers).",
    multiprocess_mode="livesum",
)
JWKS_FETCHES = Counter(
    "todo_api_jwks_fetches",
    "Fetches of the JWKS (signing keys), by outcome: ok or failed.",
    ["outcome"],
)


EVENTS_RECORDED = Gauge(
    "todo_api_events_recorded",
    "Task events ever recorded in the outbox (its last id; sampled by the relay).",
    multiprocess_mode="livemax",
)
EVENTS_BACKLOG = Gauge(
    "todo_api_events_backlog",
    "Task events recorded but not yet delivered (sampled by the relay).",
    multiprocess_mode="livemax",
)
EVENTS_OLDEST_AGE = Gauge(
    "todo_api_events_oldest_undelivered_age_seconds",
    "Age of the oldest undelivered task event (0 when none waits; sampled by the relay).",
    multiprocess_mode="livemax",
)
EVENTS_DELIVERED = Counter(
    "todo_api_events_delivered",
    "Task events the sink acknowledged, by channel.",
    ["channel"],
)
EVENTS_FAILED = Counter(
    "todo_api_events_delivery_failures",
    "Relay steps that could not deliver every event they read (the sink or database failed).",
)
EVENT_LAG = Histogram(
    "todo_api_event_delivery_lag_seconds",
    "Time from a change's transaction to the sink's acknowledgement of its event.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


REMINDERS_FIRED = Counter(
    "todo_api_reminders_fired", "Reminders fired (a reminder.due event recorded)."
)
REMINDERS_MISSED = Counter(
    "todo_api_reminders_missed",
    "Reminders found later than REMINDERS_MAX_LATENESS after their time: not sent.",
)
REMINDER_LAG = Histogram(
    "todo_api_reminder_lag_seconds",
    "Time from a reminder's scheduled time to its firing.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0, 600.0, 3600.0, 86400.0),
)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and its media type."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exiting() -> None:
    """Drop this worker's live gauges from the sums (multiprocess mode)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
