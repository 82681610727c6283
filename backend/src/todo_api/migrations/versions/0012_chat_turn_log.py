"""each user's chat turns of the last minute, on the user's row

Issue 28: CHAT_TURNS_PER_MINUTE exact under concurrency, in the statement that starts a
turn. `users.chat_turns` holds the start times of the user's recent turns (at most the limit:
older ones are dropped as each turn is added). The statement that stores the user's message
first updates this row only while fewer than the limit are younger than a minute; concurrent
turns of one user queue on the row lock and PostgreSQL re-checks the condition on the row as
the previous turn left it, so exactly the limit get through, with no extra statement or lock.

Adding a column with a constant default rewrites nothing (PostgreSQL 11+).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column(
            "chat_turns",
            postgresql.ARRAY(sa.DateTime(timezone=True)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("users", "chat_turns")
