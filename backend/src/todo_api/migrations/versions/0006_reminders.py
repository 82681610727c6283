"""reminders: a field of tasks, a schedule kept by the database, and a user time zone

Issue 24:
- `users.time_zone`: an IANA zone name (default UTC); relative reminders of an all-day due date
  count back from 09:00 in it.
- `tasks.reminders`: up to 5 reminders, each `{"before": "<ISO 8601 duration>"}` (relative to
  the due date) or `{"at": "<instant>"}`. Checked NOT VALID under this transaction's brief lock
  and validated outside it, like 0002's checks.
- `task_reminders`: the schedule, one row per reminder still to fire, kept by the trigger
  `tasks_schedule_reminders` whenever a task's reminders, due date or completion change (a
  changed time replaces the row; an unchanged one keeps it; times already past are not
  scheduled; a completed task has none; a deleted task's rows go with it).
- Lock order: a writer locks the task row, then the user row (`tasks_record_event` increments
  the user's event sequence), then reminder rows (`tasks_schedule_reminders`: triggers fire in
  name order, so its name sorts after). It reads the user's time zone holding the user row, so
  a concurrent zone change (user row, then the user's reminder rows) either sees its rows or
  is seen by it: never a plan in a zone that was just replaced.
- `fire_due_reminders(batch, max_lateness)`: for each user with due reminders (in user order),
  takes the user row and the due rows with SKIP LOCKED, so it never waits for a writer (nor a
  writer for it: no deadlock) and concurrent schedulers take different users; records a
  `reminder.due` event per reminder (unless later than `max_lateness`: then only counted) and
  deletes the rows, all in one transaction: each reminder fires once across workers and
  replicas. A user busy elsewhere is simply taken by the next round.
- `task_snapshot(tasks)`: the task's columns as the events carry them, now with `reminders`;
  `record_task_event` uses it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REMINDERS_ARE_VALID = r"""
CREATE FUNCTION task_reminders_are_valid(reminders jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_typeof(reminders) = 'array' AND jsonb_array_length(reminders) <= 5 AND NOT EXISTS (
        SELECT FROM jsonb_array_elements(reminders) AS reminder
        WHERE jsonb_typeof(reminder) <> 'object'
           OR (SELECT count(*) FROM jsonb_object_keys(reminder)) <> 1
           OR jsonb_typeof(coalesce(reminder -> 'before', reminder -> 'at'))
              IS DISTINCT FROM 'string'
    )
$$
"""

CHECKS = {
    "reminders_valid": "reminders = '[]' OR task_reminders_are_valid(reminders)",
    "relative_reminders_need_due": (
        "reminders = '[]' OR due_at IS NOT NULL OR NOT reminders @? '$[*].before'"
    ),
}

TASK_SNAPSHOT = """
CREATE FUNCTION task_snapshot(task tasks) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', task.id,
        'user_id', task.user_id,
        'title', task.title,
        'description', task.description,
        'completed', task.completed,
        'created_at', task.created_at,
        'updated_at', task.updated_at,
        'priority', task.priority,
        'due_at', task.due_at,
        'due_all_day', task.due_all_day,
        'tags', task.tags,
        'recurrence', task.recurrence,
        'reminders', task.reminders
    )
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
    RETURN NULL;
END
$$
"""

PLAN_REMINDERS = """
CREATE FUNCTION plan_task_reminders() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zone text;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.reminders = OLD.reminders
       AND NEW.due_at IS NOT DISTINCT FROM OLD.due_at
       AND NEW.due_all_day = OLD.due_all_day
       AND NEW.completed = OLD.completed THEN
        RETURN NULL;  -- nothing that places a reminder changed
    END IF;
    IF NEW.completed OR NEW.reminders = '[]' THEN
        IF TG_OP = 'UPDATE' THEN
            DELETE FROM task_reminders WHERE task_id = NEW.id;
        END IF;
        RETURN NULL;
    END IF;
    -- Under the user row's lock (taken by tasks_record_event, which fires first).
    SELECT time_zone INTO zone FROM users WHERE id = NEW.user_id;
    WITH wanted AS (
        SELECT reminder, CASE
            WHEN reminder ? 'at' THEN (reminder ->> 'at')::timestamptz
            WHEN NEW.due_all_day THEN
                (((NEW.due_at AT TIME ZONE 'UTC')::date + time '09:00') AT TIME ZONE zone)
                - (reminder ->> 'before')::interval
            ELSE NEW.due_at - (reminder ->> 'before')::interval
        END AS fire_at
        FROM jsonb_array_elements(NEW.reminders) AS reminder
    ), moved AS (
        DELETE FROM task_reminders AS planned
        WHERE planned.task_id = NEW.id
          AND NOT EXISTS (SELECT FROM wanted WHERE wanted.fire_at = planned.fire_at)
    )
    INSERT INTO task_reminders (task_id, user_id, reminder, fire_at)
    SELECT NEW.id, NEW.user_id, reminder, fire_at FROM wanted WHERE fire_at > now()
    ON CONFLICT (task_id, fire_at) DO NOTHING;
    RETURN NULL;
END
$$
"""

REPLAN_FOR_ZONE = """
CREATE FUNCTION replan_all_day_reminders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The tasks themselves do not change (no event): only the plan of their all-day ones.
    DELETE FROM task_reminders AS planned USING tasks
    WHERE tasks.user_id = NEW.id AND tasks.due_all_day AND planned.task_id = tasks.id
      AND planned.reminder ? 'before';
    INSERT INTO task_reminders (task_id, user_id, reminder, fire_at)
    SELECT tasks.id, tasks.user_id, reminder,
           (((tasks.due_at AT TIME ZONE 'UTC')::date + time '09:00') AT TIME ZONE NEW.time_zone)
           - (reminder ->> 'before')::interval
    FROM tasks, jsonb_array_elements(tasks.reminders) AS reminder
    WHERE tasks.user_id = NEW.id AND tasks.due_all_day AND NOT tasks.completed
      AND reminder ? 'before'
      AND (((tasks.due_at AT TIME ZONE 'UTC')::date + time '09:00') AT TIME ZONE NEW.time_zone)
          - (reminder ->> 'before')::interval > now()
    ON CONFLICT (task_id, fire_at) DO NOTHING;
    RETURN NULL;
END
$$
"""

FIRE_DUE_REMINDERS = """
CREATE FUNCTION fire_due_reminders(batch integer, max_lateness interval)
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
            END IF;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")  # writers' lock order (0005)
    op.add_column(
        "users",
        sa.Column("time_zone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_users_time_zone_length"), "users", "char_length(time_zone) BETWEEN 1 AND 64"
    )
    op.add_column(
        "tasks",
        sa.Column(
            "reminders",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "task_events", sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.execute(REMINDERS_ARE_VALID)
    for name, condition in CHECKS.items():
        op.execute(
            f"ALTER TABLE tasks ADD CONSTRAINT ck_tasks_{name} CHECK ({condition}) NOT VALID"
        )
    op.create_table(
        "task_reminders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("reminder", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_reminders_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_reminders")),
        sa.UniqueConstraint("task_id", "fire_at", name=op.f("uq_task_reminders_task_id_fire_at")),
    )
    op.create_index("ix_task_reminders_fire_at", "task_reminders", ["fire_at"])
    op.create_index(
        "ix_task_reminders_user_id_fire_at_task_id",
        "task_reminders",
        ["user_id", "fire_at", "task_id"],
    )
    op.execute(TASK_SNAPSHOT)
    op.execute(RECORD_TASK_EVENT)
    op.execute(PLAN_REMINDERS)
    op.execute(REPLAN_FOR_ZONE)
    op.execute(FIRE_DUE_REMINDERS)
    op.execute(
        # WHEN clauses (evaluated without calling the function): tasks without reminders,
        # nearly all of them, pay nothing on their writes.
        "CREATE TRIGGER tasks_schedule_reminders AFTER INSERT ON tasks FOR EACH ROW "
        "WHEN (NEW.reminders <> '[]'::jsonb) EXECUTE FUNCTION plan_task_reminders()"
    )
    op.execute(
        "CREATE TRIGGER tasks_schedule_reminders_again AFTER UPDATE ON tasks FOR EACH ROW "
        "WHEN (NEW.reminders <> '[]'::jsonb OR OLD.reminders <> '[]'::jsonb) "
        "EXECUTE FUNCTION plan_task_reminders()"
    )
    op.execute(
        "CREATE TRIGGER users_replan_all_day_reminders AFTER UPDATE OF time_zone ON users "
        "FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone) "
        "EXECUTE FUNCTION replan_all_day_reminders()"
    )
    with op.get_context().autocommit_block():
        for name in CHECKS:
            op.execute(f"ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_{name}")


def downgrade() -> None:
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
    op.execute("DROP TRIGGER IF EXISTS users_replan_all_day_reminders ON users")
    op.execute("DROP TRIGGER IF EXISTS tasks_schedule_reminders_again ON tasks")
    op.execute("DROP TRIGGER IF EXISTS tasks_schedule_reminders ON tasks")
    op.execute("DROP FUNCTION fire_due_reminders(integer, interval)")
    op.execute("DROP FUNCTION replan_all_day_reminders()")
    op.execute("DROP FUNCTION plan_task_reminders()")
    op.drop_table("task_reminders")
    for name in CHECKS:
        op.execute(f"ALTER TABLE tasks DROP CONSTRAINT ck_tasks_{name}")
    op.execute("DROP FUNCTION task_reminders_are_valid(jsonb)")
    op.drop_column("task_events", "detail")
    op.drop_column("tasks", "reminders")
    op.drop_constraint(op.f("ck_users_time_zone_length"), "users", type_="check")
    op.drop_column("users", "time_zone")
    # record_task_event goes back to 0005's body (which does not call task_snapshot).
    op.execute(
        _revision_0005().RECORD_TASK_EVENT.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    )
    op.execute("DROP FUNCTION task_snapshot(tasks)")


def _revision_0005() -> Any:
    """Migration 0005's module (its file name is no Python identifier)."""
    path = Path(__file__).with_name("0005_task_events.py")
    spec = importlib.util.spec_from_file_location("revision_0005", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
