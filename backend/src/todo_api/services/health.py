"""Readiness: can we reach the database right now?"""

from __future__ import annotations

from sqlalchemy import literal
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession


async def check_database(session: AsyncSession) -> None:
    """Run one trivial query; connection errors propagate and become a 503."""
    await session.exec(select(literal(1)))
