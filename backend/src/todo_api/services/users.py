"""User provisioning: the `users` row follows the token, created on the user's first request."""

from __future__ import annotations

from sqlalchemy import case, exists, null
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.models import User
from todo_api.security.principal import Principal

_MAX_REMEMBERED = 50_000


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

    async def ensure(self, session: AsyncSession, principal: Principal) -> None:
        user_id, email = principal.user_id, principal.email
        if user_id in self._written and self._written[user_id] == email:
            return
        statement = insert(User)
        if email is None:
            # No `email` claim: create the row if needed, never erase a stored email.
            statement = statement.values(id=user_id).on_conflict_do_nothing()
        else:
            # An email another user already holds is not taken over (it is unique).
            taken = exists().where(col(User.email) == email, col(User.id) != user_id)
            statement = statement.values(id=user_id, email=case((taken, null()), else_=email))
            statement = statement.on_conflict_do_update(
                index_elements=[col(User.id)],
                set_={"email": statement.excluded.email},
                # Skips the write (and its dead tuple) when nothing changed.
                where=col(User.email).is_distinct_from(statement.excluded.email),
            )
        await session.exec(statement)
        await session.commit()  # autocommit engine: only hands the connection back
        if len(self._written) >= self._max_remembered:
            self._written.pop(next(iter(self._written)))
        self._written[user_id] = email
