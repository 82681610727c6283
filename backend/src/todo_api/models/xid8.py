"""`Xid8`: PostgreSQL's 64-bit transaction id, which the changes feed is built on.

Every write to a task stores the id of the transaction that made it (`change_xid`). A sync
cursor is a snapshot (`pg_current_snapshot()`), and "changed since the cursor" means "made by
a transaction the snapshot did not see": unlike a timestamp, that also catches a transaction
that began before the cursor was taken and committed after (see services/scope.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

# A write's own transaction id (assigns one if the transaction has none yet).
CURRENT_XID = text("pg_current_xact_id()")


class Xid8(UserDefinedType[Any]):
    """The `xid8` column type. The service never reads it: it is compared in SQL only."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "xid8"


class PgSnapshot(UserDefinedType[Any]):
    """`pg_snapshot`, for casting a cursor's snapshot text back in SQL."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "pg_snapshot"


ischema_names["xid8"] = Xid8  # so reflection (alembic check) knows the type too
