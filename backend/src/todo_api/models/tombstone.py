"""The `task_tombstones` table: which tasks were deleted, and by which transaction.

The changes feed reports a deletion to every client whose cursor predates it. A tombstone is
kept `TOMBSTONE_DAYS` days (then removed by the app's housekeeping); a cursor older than
`CURSOR_MAX_AGE_DAYS` is refused with 410, so no cursor can outlive the deletions it needs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, func
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)
from todo_api.models.xid8 import CURRENT_XID, Xid8

TOMBSTONE_DAYS = 31
# One day less than the tombstones live: a deletion committed by a transaction that began
# before the cursor's snapshot (statements end within seconds) is still remembered.
CURSOR_MAX_AGE_DAYS = TOMBSTONE_DAYS - 1


class TaskTombstone(SQLModel, table=True):
    """A deleted task: its id (never reused) and its owner."""

    __tablename__ = "task_tombstones"
    __table_args__ = (
        # A user's deletions since a cursor (the feed), as for `tasks`.
        Index("ix_task_tombstones_user_id_change_xid", "user_id", "change_xid"),
        # Expired tombstones, oldest first (housekeeping).
        Index("ix_task_tombstones_deleted_at", "deleted_at"),
    )

    task_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user_id: str = Field(sa_column=Column(Text, nullable=False))
    change_xid: str | None = Field(
        default=None, sa_column=Column(Xid8(), nullable=False, server_default=CURRENT_XID)
    )
    deleted_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
