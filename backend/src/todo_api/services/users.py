"""User provisioning: the `users` row follows the token, created on the user's first request.

Emails: `users.email` is unique, and the first user to present a verified email keeps it.
A later user whose token carries the same email gets `email = NULL` (an `email_verified:
false` claim never reaches this module: see `security/verifier.py`). Provisioning never fails a
request: when a concurrent request of another user claims the same email first, the unique
index decides, and this user's row is kept without an email.
"""

from __future__ import annotations

from sqlalchemy import case, exists, null
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlmodel import col

from todo_api.database.runner import Database
from todo_api.errors import ConflictError
from todo_api.models import User
from todo_api.security.principal import Principal

_MAX_REMEMBERED = 50_000

# Create the row if needed; never touch a stored email.
_ENSURE_ROW = insert(User).on_conflict_do_nothing(index_elements=[col(User.id)])


def _upsert_with_email(user_id: str, email: str) -> Insert:
    """Create or update the row with `email`, unless another user already holds it."""
    taken = exists().where(col(User.email) == email, col(User.id) != user_id)
    statement = insert(User).values(id=user_id, email=case((taken, null()), else_=email))
    return statement.on_conflict_do_update(
        index_elements=[col(User.id)],
        set_={"email": statement.excluded.email},
        # Skips the write (and its dead tuple) when nothing changed.
        where=col(User.email).is_distinct_from(statement.excluded.email),
    )


class UserProvisioner:
    """Upserts the caller's `users` row, once per process for each (user, email) seen.

    Remembering what was written spares a round trip on every request after the first; the
    memory is bounded and only ever skips a write that would change nothing. Task creation
    still upserts the user row itself (see `UserTasks.insert`), so a forgotten or deleted row
    can never make a write fail.
    """

    def __init__(self, max_remembered: int = _MAX_REMEMBERED) -> None:
        self._written: dict[str, str | None] = {}
        self._max_remembered = max_remembered

    async def ensure(self, database: Database, principal: Principal) -> None:
        user_id, email = principal.user_id, principal.email
        if user_id in self._written and self._written[user_id] == email:
            return
        if email is None:
            await database.rows(_ENSURE_ROW, {"id": user_id})
        else:
            try:
                await database.rows(_upsert_with_email(user_id, email))
            except ConflictError:
                # Another user's concurrent first request took this email a moment ago.
                await database.rows(_ENSURE_ROW, {"id": user_id})
        if len(self._written) >= self._max_remembered:
            self._written.pop(next(iter(self._written)))
        self._written[user_id] = email
