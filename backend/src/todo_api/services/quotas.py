"""Per-user quotas: how many tasks one user keeps, how many keyed creates a day.

They are checked inside the write statement itself (a bounded count in the INSERT's WHERE,
see `services/scope.py`), so a create costs no extra round trip. Counting reads each of the
user's rows, so it is not done on every create: a create that counted learns how much room
the user has left, and the next creates of that user in this process skip the count while
room remains, at most `COUNT_EVERY - 1` of them (`QuotaChecks`). A user near a limit is
counted on every create, and so is every create under a small limit (the creates a process
skips never exceed 1 % of a limit). Several processes (and concurrent creates) can each use
the room they saw, so a user can end over a limit by at most `COUNT_EVERY - 1` per server
process plus the creates running at once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from todo_api.config import Settings


@dataclass(frozen=True, slots=True)
class Quotas:
    """The limits every user's writes run under (`MAX_TASKS_PER_USER`, ...)."""

    max_tasks: int = 100_000
    max_keys_per_day: int = 10_000
    checks: QuotaChecks = field(default_factory=lambda: QuotaChecks(), compare=False)

    def __post_init__(self) -> None:
        self.checks.configure(self.max_tasks, self.max_keys_per_day)

    @classmethod
    def of(cls, settings: Settings) -> Quotas:
        return cls(settings.max_tasks_per_user, settings.max_idempotency_keys_per_day)


COUNT_EVERY = 16
_REMEMBERED = 50_000


class QuotaChecks:
    """Which of a user's creates count their rows against the quotas, in this process.

    Per user, the creates left before the next count: for tasks, and for keyed creates'
    keys. A user this process has not counted yet starts with `COUNT_EVERY - 1`, or 1 % of
    the limit if that is less (0 for small limits: every create counted). A count that passed
    sets them from the room it saw (at most `COUNT_EVERY - 1`); a count that refused forgets
    the user, so every create is counted until one passes.
    """

    def __init__(self, every: int = COUNT_EVERY, remembered: int = _REMEMBERED) -> None:
        self._every = every
        self._remembered = remembered
        self._left: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._fresh = (0, 0)

    def configure(self, max_tasks: int, max_keys: int) -> None:
        """The budgets of a user not counted yet, from the limits (see the class docstring)."""
        cap = self._every - 1
        self._fresh = (min(cap, max_tasks // 100), min(cap, max_keys // 100))

    def due(self, user_id: str, *, keyed: bool) -> bool:
        """Whether this create must count (else the user's room is taken as known)."""
        tasks, keys = self._left.get(user_id, self._fresh)
        if tasks <= 0 or (keyed and keys <= 0):
            return True
        self._remember(user_id, (tasks - 1, keys - 1 if keyed else keys))
        return False

    def counted(self, user_id: str, tasks_room: int, keys_room: int | None = None) -> None:
        """A counted create passed; the user has room for this many more (None: keys were
        not counted, their budget is kept)."""
        _, keys = self._left.get(user_id, self._fresh)
        cap = self._every - 1
        self._remember(
            user_id, (min(cap, tasks_room), keys if keys_room is None else min(cap, keys_room))
        )

    def refused(self, user_id: str) -> None:
        """A count found the user at a limit: count every create until one passes."""
        self._remember(user_id, (0, 0))

    def _remember(self, user_id: str, left: tuple[int, int]) -> None:
        self._left[user_id] = left
        self._left.move_to_end(user_id)
        if len(self._left) > self._remembered:
            self._left.popitem(last=False)
