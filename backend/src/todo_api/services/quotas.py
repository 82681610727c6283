"""Per-user quotas: how many tasks one user keeps, how many keyed creates a day.

They are checked inside the write statement itself (a bounded count in the INSERT's WHERE,
see `services/scope.py`), so a create costs no extra round trip and a user far below the
limits pays for counting at most their own rows. Concurrent creates of one user can each
see room for one more, so a user can end a few tasks (or keys) over a limit, never more
than the creates running at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from todo_api.config import Settings


@dataclass(frozen=True, slots=True)
class Quotas:
    """The limits every user's writes run under (`MAX_TASKS_PER_USER`, ...)."""

    max_tasks: int = 100_000
    max_keys_per_day: int = 10_000

    @classmethod
    def of(cls, settings: Settings) -> Quotas:
        return cls(settings.max_tasks_per_user, settings.max_idempotency_keys_per_day)


class TaskQuotaError(Exception):
    """The user keeps `MAX_TASKS_PER_USER` tasks already: nothing was written."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"This account keeps the most tasks allowed (MAX_TASKS_PER_USER = {limit}); "
            "nothing was written: delete tasks before creating more"
        )
        self.limit = limit


class KeyQuotaError(Exception):
    """The user made `MAX_IDEMPOTENCY_KEYS_PER_DAY` keyed creates in the last 24 hours."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(
            f"Too many creates with an Idempotency-Key in 24 hours "
            f"(MAX_IDEMPOTENCY_KEYS_PER_DAY = {limit}); nothing was written: retry after "
            f"{retry_after} s"
        )
        self.limit = limit
        self.retry_after = retry_after
