"""server keys: the key that seals list and sync cursors

Issue 21: cursors were checked with an unkeyed digest, so anyone could mint one. They are
now sealed (authenticated encryption) with a key every worker and replica must share and
that survives restarts, without a new operator setting: it is kept in the database. The key
is made here by PostgreSQL itself: 32 bytes from two `gen_random_uuid()` (core since
PostgreSQL 13, so on the embedded 18, on 15 and on Neon, with no extension), 244 random bits.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSERT_CURSOR_KEY = """
INSERT INTO server_keys (name, key) VALUES (
    'cursor',
    decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex')
)
"""


def upgrade() -> None:
    op.create_table(
        "server_keys",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("octet_length(key) = 32", name=op.f("ck_server_keys_key_length")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_keys")),
    )
    op.execute(INSERT_CURSOR_KEY)


def downgrade() -> None:
    op.drop_table("server_keys")
