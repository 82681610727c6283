"""Stream tickets: what `EventSource` presents instead of the JWT (see the package docstring).

A ticket is 32 random bytes (base64url), shown once to the authenticated client that asked;
the database keeps only its SHA-256, the user, when it expires (seconds) and when the token
that asked for it expires (the stream ends then). Using it deletes it: single use across
every worker and replica, and a ticket cannot be replayed from a log or a browser history.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, LargeBinary, bindparam, delete, func, insert, select, text
from sqlalchemy.sql.dml import ReturningDelete
from sqlmodel import col

from todo_api.database.runner import Database
from todo_api.database.wall import ACTING, OWNER
from todo_api.models import StreamTicket

TICKET_BYTES = 32
TICKET_MAX_CHARS = 64
_HASH = bindparam("ticket_hash", type_=LargeBinary)
# INSERT ... SELECT, so that the gate (database/wall.py) can set the acting user first.
_MINT = insert(StreamTicket).from_select(
    ["ticket_hash", "user_id", "expires_at", "token_expires_at"],
    select(
        _HASH,
        OWNER,
        bindparam("expires_at", type_=DateTime(timezone=True)),
        bindparam("token_expires_at", type_=DateTime(timezone=True)),
    ).where(ACTING),
)
# The ticket names its user, so the lookup by hash spans users: a function of migration 0016
# that runs as the schema's owner and does only this (the API's login holds no wider right).
_USE = text("SELECT user_id, token_expires_at FROM use_stream_ticket(:ticket_hash)").bindparams(
    _HASH
)
_EXPIRED = select(col(StreamTicket.ticket_hash)).where(col(StreamTicket.expires_at) < func.now())


def _hash(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


async def mint(database: Database, user_id: str, lifetime: float, token_expires_at: float) -> str:
    """A new ticket for one stream of `user_id`, valid `lifetime` seconds."""
    ticket = base64.urlsafe_b64encode(secrets.token_bytes(TICKET_BYTES)).rstrip(b"=").decode()
    now = datetime.now(UTC)
    await database.rows(
        _MINT,
        {
            "ticket_hash": _hash(ticket),
            "owner": user_id,
            "expires_at": now + timedelta(seconds=lifetime),
            "token_expires_at": datetime.fromtimestamp(
                min(token_expires_at, now.timestamp() + 366 * 86400), UTC
            ),
        },
    )
    return ticket


async def use(database: Database, ticket: str) -> tuple[str, float] | None:
    """The user and token expiry of `ticket`, which is consumed; None when unknown, used
    or expired."""
    if not 0 < len(ticket) <= TICKET_MAX_CHARS:
        return None
    rows = await database.rows(_USE, {"ticket_hash": _hash(ticket)})
    if not rows:
        return None
    return rows[0].user_id, rows[0].token_expires_at.timestamp()


def expired_tickets() -> ReturningDelete[Any]:
    """The housekeeping statement that removes expired tickets (batch of `:batch`)."""
    expired = _EXPIRED.limit(bindparam("batch")).with_for_update(skip_locked=True)
    return (
        delete(StreamTicket)
        .where(col(StreamTicket.ticket_hash).in_(expired.scalar_subquery()))
        .returning(col(StreamTicket.ticket_hash))
    )
