"""Per-request database sessions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that never reload rows behind the service's back.

    `expire_on_commit=False` and no autoflush: the service works with explicit statements
    (`INSERT ... RETURNING`), so the ORM's implicit refreshes would only add round trips.
    """
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, autoflush=False)
