"""live updates: a notification per recorded event, and single-use stream tickets

Issue 25:
- `task_events_notify`: each event inserted into the outbox (a task change or a reminder
  firing) is announced on the channel `todo_task_events` as `<seq> <user id>`, at commit.
  Each server worker LISTENs on one direct connection and wakes that user's open streams;
  the streams then read the outbox themselves, so a lost notification costs latency only
  (workers also poll, for poolers that cannot LISTEN).
- `stream_tickets`: what a browser's `EventSource` (which cannot send headers) presents
  instead of the JWT: a random ticket, stored only as its SHA-256, bound to one user, valid
  for seconds and consumed by its first use (DELETE ... RETURNING), on any worker or replica.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY = """
CREATE FUNCTION notify_task_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('todo_task_events', NEW.seq || ' ' || NEW.user_id);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    # Writers lock tasks, then users, then task_events (migration 0005): this migration's
    # trigger on task_events and foreign key to users would otherwise deadlock with one.
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
    op.execute(NOTIFY)
    op.execute(
        "CREATE TRIGGER task_events_notify AFTER INSERT ON task_events "
        "FOR EACH ROW EXECUTE FUNCTION notify_task_event()"
    )
    op.create_table(
        "stream_tickets",
        sa.Column("ticket_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "octet_length(ticket_hash) = 32", name=op.f("ck_stream_tickets_ticket_hash_length")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_stream_tickets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_hash", name=op.f("pk_stream_tickets")),
    )
    op.create_index("ix_stream_tickets_expires_at", "stream_tickets", ["expires_at"])


def downgrade() -> None:
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
    op.drop_index("ix_stream_tickets_expires_at", table_name="stream_tickets")
    op.drop_table("stream_tickets")
    op.execute("DROP TRIGGER IF EXISTS task_events_notify ON task_events")
    op.execute("DROP FUNCTION notify_task_event()")
