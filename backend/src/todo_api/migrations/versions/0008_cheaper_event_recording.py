"""cheaper event recording: one trigger per write, NOTIFY only to listeners, a cheaper snapshot

Issue 23 (recording costs at most 10 % of a write):
- The NOTIFY of live updates (0007) came from a second trigger, `task_events_notify`, fired
  for each outbox row: a second trigger call per write. `record_task_event()` and
  `fire_due_reminders()` now send it themselves, right after inserting the event: the same
  channel (`todo_task_events`), the same payload (`<seq> <user id>`), still delivered at
  commit, so the live hubs read it unchanged. The trigger and `notify_task_event()` go.
- ... and only while a live hub listens: a NOTIFY, even one nobody hears, makes the
  committing transaction take a database-wide lock until its commit is flushed (PostgreSQL
  queues notifications in commit order), so concurrent writers of different users committed
  one at a time. `live_listeners` holds the backend pid of each hub's LISTEN connection
  (live/hub.py registers it after LISTEN and drops the rows of backends that are gone, its
  own earlier ones included); with no row, no NOTIFY. A writer that checked just before a hub
  registered is not announced: the hub wakes all its streams once it listens, and polls.
- `task_snapshot(tasks)` renders the row with `to_jsonb` minus the two columns that are no
  part of the API (`previous_occurrence_id`, `change_xid`) instead of naming thirteen keys in
  `jsonb_build_object`: the same JSON value, built in one pass. A column added to `tasks`
  later shows up in the events unless it is added to the list here.
- Lock order unchanged (0005, 0006): a writer locks the task row, then the user row (event
  sequence), then inserts the outbox row; `fire_due_reminders` the user row, then reminder
  rows, then the outbox. This migration locks `tasks` first, like the writers, before it
  drops the trigger on `task_events`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TASK_SNAPSHOT = """
CREATE OR REPLACE FUNCTION task_snapshot(task tasks) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT to_jsonb(task) - '{previous_occurrence_id,change_xid}'::text[]
$$
"""

RECORD_TASK_EVENT = """
CREATE OR REPLACE FUNCTION record_task_event() RETURNS trigger LANGUAGE plpgsql AS $$
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
        CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE task_snapshot(changed) END
    );
    IF EXISTS (SELECT FROM live_listeners) THEN  -- a live hub listens: wake it at commit
        PERFORM pg_notify('todo_task_events', next_seq || ' ' || changed.user_id);
    END IF;
    RETURN NULL;
END
$$
"""

FIRE_DUE_REMINDERS = """
CREATE OR REPLACE FUNCTION fire_due_reminders(batch integer, max_lateness interval)
RETURNS TABLE (scheduled_for timestamptz, sent boolean) LANGUAGE plpgsql AS $$
DECLARE
    owner text;
    due record;
    next_seq bigint;
    left_over integer := batch;
BEGIN
    FOR owner IN
        SELECT DISTINCT soonest.user_id FROM (
            SELECT user_id FROM task_reminders
            WHERE fire_at <= clock_timestamp()
            ORDER BY fire_at
            LIMIT batch
        ) AS soonest
        ORDER BY 1
    LOOP
        EXIT WHEN left_over <= 0;
        PERFORM FROM users WHERE id = owner FOR NO KEY UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;  -- a writer or another scheduler holds the user: next round
        FOR due IN
            WITH claimed AS (
                SELECT id FROM task_reminders
                WHERE user_id = owner AND fire_at <= clock_timestamp()
                ORDER BY fire_at
                LIMIT left_over
                FOR UPDATE SKIP LOCKED
            ), fired AS (
                DELETE FROM task_reminders AS planned USING claimed
                WHERE planned.id = claimed.id
                RETURNING planned.*
            )
            SELECT * FROM fired ORDER BY fire_at
        LOOP
            left_over := left_over - 1;
            scheduled_for := due.fire_at;
            sent := due.fire_at >= clock_timestamp() - max_lateness;
            IF sent THEN
                UPDATE users SET event_seq = event_seq + 1 WHERE id = owner
                    RETURNING event_seq INTO next_seq;
                INSERT INTO task_events (user_id, seq, type, task_id, task, detail)
                SELECT owner, next_seq, 'reminder.due', tasks.id, task_snapshot(tasks),
                       jsonb_build_object(
                           'reminder', due.reminder,
                           'scheduled_for', due.fire_at,
                           'fired_at', clock_timestamp()
                       )
                FROM tasks WHERE tasks.id = due.task_id;
                -- Announced like 0007's trigger did (only an inserted event), to live hubs.
                IF FOUND AND EXISTS (SELECT FROM live_listeners) THEN
                    PERFORM pg_notify('todo_task_events', next_seq || ' ' || owner);
                END IF;
            END IF;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")  # writers' lock order (0005)
    op.create_table(
        "live_listeners",
        sa.Column("pid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "since", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("pid", name=op.f("pk_live_listeners")),
    )
    op.execute(TASK_SNAPSHOT)
    op.execute(RECORD_TASK_EVENT)
    op.execute(FIRE_DUE_REMINDERS)
    op.execute("DROP TRIGGER task_events_notify ON task_events")
    op.execute("DROP FUNCTION notify_task_event()")


def downgrade() -> None:
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
    reminders, live = _revision("0006_reminders.py"), _revision("0007_live_updates.py")
    op.execute(live.NOTIFY)
    op.execute(
        "CREATE TRIGGER task_events_notify AFTER INSERT ON task_events "
        "FOR EACH ROW EXECUTE FUNCTION notify_task_event()"
    )
    op.execute(reminders.RECORD_TASK_EVENT)  # CREATE OR REPLACE already
    op.execute(
        reminders.FIRE_DUE_REMINDERS.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    )
    op.execute(reminders.TASK_SNAPSHOT.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.drop_table("live_listeners")


def _revision(file_name: str) -> Any:
    """An earlier migration's module (its file name is no Python identifier)."""
    path = Path(__file__).with_name(file_name)
    spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
