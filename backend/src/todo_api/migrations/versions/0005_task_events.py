"""task events: a transactional outbox written by the database itself

Issue 23: every committed change to a task has its event, and a change that rolls back has
none. A trigger on `tasks` writes the event in the same transaction as the change, whatever
wrote it (REST, MCP, the next occurrence of a recurring task, a hand-written statement), so
no code path can forget it and no crash can separate the two.

- `users.event_seq`: the last per-user sequence number handed out. The trigger increments it
  with an UPDATE, whose row lock orders the events of one user by commit: a second writer of
  the same user waits for the first to commit before it takes the next number. Added with a
  constant default: no table rewrite.
- `task_events`: the outbox. `task` is the task's columns as JSON at the change (null for a
  deletion); the relay renders it as the API does. `delivered_at` is set once the sink has
  acknowledged the event; the partial index finds the undelivered ones in order.
- `event_relays`: when a relay last ran (a heartbeat, even while its sink is down): while one
  runs, undelivered events are never pruned, however long the sink stays away. A user's
  events go with the user (a user id used again starts its sequence afresh).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_TASK_EVENT = """
CREATE FUNCTION record_task_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed tasks;
    kind text;
    next_seq bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
        kind := 'deleted';
    ELSE
        changed := NEW;
        kind := CASE
            WHEN TG_OP = 'INSERT' THEN 'created'
            WHEN NEW.completed AND NOT OLD.completed THEN 'completed'
            WHEN OLD.completed AND NOT NEW.completed THEN 'reopened'
            ELSE 'updated'
        END;
    END IF;
    UPDATE users SET event_seq = event_seq + 1 WHERE id = changed.user_id
        RETURNING event_seq INTO next_seq;
    IF NOT FOUND THEN
        RETURN NULL;  -- the user itself is being deleted: nobody is left to tell
    END IF;
    INSERT INTO task_events (user_id, seq, type, task_id, task) VALUES (
        changed.user_id, next_seq, kind, changed.id,
        CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE jsonb_build_object(
            'id', changed.id,
            'user_id', changed.user_id,
            'title', changed.title,
            'description', changed.description,
            'completed', changed.completed,
            'created_at', changed.created_at,
            'updated_at', changed.updated_at,
            'priority', changed.priority,
            'due_at', changed.due_at,
            'due_all_day', changed.due_all_day,
            'tags', changed.tags,
            'recurrence', changed.recurrence
        ) END
    );
    RETURN NULL;
END
$$
"""

CREATE_TRIGGER = """
CREATE TRIGGER tasks_record_event AFTER INSERT OR UPDATE OR DELETE ON tasks
FOR EACH ROW EXECUTE FUNCTION record_task_event()
"""


# Writers lock `tasks`, then (foreign key, event sequence) `users`. Take the locks in the
# same order, or a writer holding `tasks` and this migration holding `users` deadlock.
LOCK_TASKS_FIRST = "LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE"


def upgrade() -> None:
    op.execute(LOCK_TASKS_FIRST)
    op.add_column(
        "users",
        sa.Column("event_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_table(
        "task_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "event_id",
            sa.Uuid(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("task", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_task_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_events")),
        sa.UniqueConstraint("user_id", "seq", name=op.f("uq_task_events_user_id_seq")),
    )
    op.create_index(
        "ix_task_events_undelivered",
        "task_events",
        ["id"],
        unique=False,
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    op.create_table(
        "event_relays",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_relays")),
    )
    op.execute(RECORD_TASK_EVENT)
    op.execute(CREATE_TRIGGER)


def downgrade() -> None:
    op.execute(LOCK_TASKS_FIRST)
    op.execute("DROP TRIGGER IF EXISTS tasks_record_event ON tasks")
    op.execute("DROP FUNCTION record_task_event()")
    op.drop_table("event_relays")
    op.drop_index("ix_task_events_undelivered", table_name="task_events")
    op.drop_table("task_events")
    op.drop_column("users", "event_seq")
