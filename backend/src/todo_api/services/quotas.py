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
