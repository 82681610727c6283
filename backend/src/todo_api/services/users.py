"""User provisioning: the `users` row follows the token, created on the user's first request.

Emails: `users.email` is unique, and the first user to present a verified email keeps it.
A later user whose token carries the same email gets `email = NULL` (an `email_verified:
false` claim never reaches this module: see `security/verifier.py`). The unique index decides:
`users` is behind the wall (migration 0016), so no statement of one user can look at another's
email; a write that would take an email held by another user fails, and the row is written
again without one (unless it holds that very email: a concurrent first request of the same
user can fail on the email's index too). Provisioning never fails a request.
"""

from __future__ import annotations

from sqlalchemy import Text, and_, bindparam, null, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlmodel import col

from todo_api.database.runner import Database
from todo_api.database.wall import ACTING, OWNER
from todo_api.errors import ConflictError
from todo_api.models import User
from todo_api.security.principal import Principal

_MAX_REMEMBERED = 50_000

# INSERT ... SELECT, so that the gate (database/wall.py) sets the acting user first.
# Create the row if needed; never touch a stored email.
_ENSURE_ROW = (
    insert(User)
    .from_select(["id"], select(OWNER).where(ACTING))
    .on_conflict_do_nothing(index_elements=[col(User.id)])
)


def _upserting_email() -> Insert:
    """Create or update the row with `:email`."""
    new = select(OWNER, bindparam("email", type_=Text)).where(ACTING)
    statement = insert(User).from_select(["id", "email"], new)
    return statement.on_conflict_do_update(
        index_elements=[col(User.id)],
        set_={"email": statement.excluded.email},
        # Skips the write (and its dead tuple) when nothing changed.
        where=col(User.email).is_distinct_from(statement.excluded.email),
    )


_UPSERT_EMAIL = _upserting_email()


def _giving_up_email() -> Insert:
    """After a write of `:email` failed: the row without an email, unless it holds `:email`
    already (a concurrent first request of the same user wrote it: it is this user's)."""
    statement = insert(User).from_select(["id"], select(OWNER).where(ACTING))
    return statement.on_conflict_do_update(
        index_elements=[col(User.id)],
        set_={"email": null()},
        where=and_(
            col(User.email).is_not(None),
            col(User.email).is_distinct_from(bindparam("email", type_=Text)),
        ),
    )


_GIVE_UP_EMAIL = _giving_up_email()


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
            await database.rows(_ENSURE_ROW, {"owner": user_id})
        else:
            try:
                await database.rows(_UPSERT_EMAIL, {"owner": user_id, "email": email})
            except ConflictError:
                # Another user holds this email (perhaps since a moment ago): none for this one.
                await database.rows(_GIVE_UP_EMAIL, {"owner": user_id, "email": email})
        if len(self._written) >= self._max_remembered:
            self._written.pop(next(iter(self._written)))
        self._written[user_id] = email
