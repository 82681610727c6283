"""change tracking, tombstones and idempotency keys

For conditional requests, idempotent creates and the changes feed (issue 9):
- `tasks.change_xid`: the transaction that wrote each task version. Added with a constant
  default (no table rewrite: existing tasks hold 1, a transaction every snapshot sees), then
  given its real default; its index is built CONCURRENTLY, outside the transaction.
- `task_tombstones`: deleted tasks, for the changes feed.
- `idempotency_keys`: which task a create with an `Idempotency-Key` made.
- `ix_tasks_user_id_created_at_id` gains `INCLUDE (updated_at)`, so the digest behind a
  list's ETag reads the index only: built CONCURRENTLY under a new name, then swapped in.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from todo_api.models.xid8 import Xid8

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_XID = sa.text("pg_current_xact_id()")


def upgrade() -> None:
    op.add_column(
        "tasks",
        sa.Column("change_xid", Xid8(), server_default=sa.text("'1'::xid8"), nullable=False),
    )
    op.alter_column("tasks", "change_xid", server_default=CURRENT_XID)
    op.create_table(
        "task_tombstones",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("change_xid", Xid8(), server_default=CURRENT_XID, nullable=False),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_tombstones")),
    )
    op.create_index(
        op.f("ix_task_tombstones_user_id_change_xid"),
        "task_tombstones",
        ["user_id", "change_xid"],
    )
    op.create_index(op.f("ix_task_tombstones_deleted_at"), "task_tombstones", ["deleted_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "key ~ '^[!-~]+$' AND char_length(key) <= 255",
            name=op.f("ck_idempotency_keys_key_format"),
        ),
        sa.CheckConstraint(
            "octet_length(fingerprint) = 32", name=op.f("ck_idempotency_keys_fingerprint_length")
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_user_id_change_xid "
            "ON tasks (user_id, change_xid)"
        )
        _swap_list_index("INCLUDE (updated_at)")


def _swap_list_index(include: str) -> None:
    """Rebuild the list index (user_id, created_at, id) with `include`, without blocking
    writers: build a copy CONCURRENTLY, drop the old one CONCURRENTLY, rename the copy."""
    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_tasks_list_swap")
    op.execute(
        f"CREATE INDEX CONCURRENTLY ix_tasks_list_swap ON tasks (user_id, created_at, id) {include}"
    )
    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_tasks_user_id_created_at_id")
    op.execute("ALTER INDEX ix_tasks_list_swap RENAME TO ix_tasks_user_id_created_at_id")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        _swap_list_index("")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_tasks_user_id_change_xid")
    op.drop_table("idempotency_keys")
    op.drop_table("task_tombstones")
    op.drop_column("tasks", "change_xid")
