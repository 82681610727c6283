"""cheaper outbox rows: the event sequence leaves `users`, the outbox its foreign key

Issue 23 (recording costs at most 10 % of a write). Measured in a single-user backend under
valgrind (performance.md, "Run 11"): the trigger added about 400,000 instructions to a create,
and half of that was `UPDATE users SET event_seq = event_seq + 1`. Not the row write (5,000):
PostgreSQL re-reads and re-plans every CHECK constraint of a table at each execution of an
UPDATE or INSERT on it (`ExecConstraints` builds them per statement), and `users` has three.
The same counter in a table with no CHECK constraint cost about 80,000 instead of 200,000.

- `event_sequences` (`user_id` primary key, `last_seq`): the last per-user sequence number
  handed out, one row per user, created by a trigger on `users` (`users_start_event_sequence`,
  AFTER INSERT) and filled from `users.event_seq`, which goes. `record_task_event()` and
  `fire_due_reminders()` increment it as they incremented `users.event_seq`: the row lock
  still orders one user's events by commit, the numbers still have no gaps. A create that
  inserts its user in the same statement (the services' `INSERT ... ON CONFLICT DO NOTHING`
  CTE) runs the task's trigger before the user's: `record_task_event()` then creates the row
  itself (an upsert, so two first writes of one user still take 1 and 2 in commit order).
- The outbox's foreign key to `users` goes (its check was a query per event: about 60,000
  instructions). `users_forget_events` (BEFORE DELETE on `users`) deletes the user's sequence
  row and events instead, before the cascade deletes the user's tasks: those find no
  sequence row and no user, and record nothing, as before. A writer that holds the sequence
  row makes the deletion wait for its commit, and the deletion's next statement then sees
  (and deletes) its event. A TRUNCATE of `users` no longer empties `task_events` (list it).
  `event_sequences` keeps its own foreign key (checked only when a row is created).
- `event_sequences` stays outside the wall, like `users`: it holds a number per user id and
  nothing else, and the live hubs poll it for every user they serve at once (as they polled
  `users.event_seq`).
- Lock order: a writer locks the task row, then the user's `event_sequences` row, then
  inserts the outbox row; `fire_due_reminders` the `event_sequences` row, then reminder rows,
  then the outbox; deleting a user locks the user row, then its sequence row, then (the
  cascade) its task rows, as it locked the user row before the task rows until now. This
  migration locks `tasks`, then `users`, like the writers.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USERS_SEQ = """UPDATE users SET event_seq = event_seq + 1 WHERE id = changed.user_id
        RETURNING event_seq INTO next_seq;"""
_SEQUENCES_SEQ = """UPDATE event_sequences SET last_seq = last_seq + 1
        WHERE user_id = changed.user_id RETURNING last_seq INTO next_seq;
    IF NOT FOUND THEN  -- the user was created by this very statement: its row comes later
        INSERT INTO event_sequences (user_id, last_seq)
        SELECT id, 1 FROM users WHERE id = changed.user_id
        ON CONFLICT (user_id) DO UPDATE SET last_seq = event_sequences.last_seq + 1
        RETURNING last_seq INTO next_seq;
    END IF;"""
_REMINDER_LOCK = "PERFORM FROM users WHERE id = owner FOR NO KEY UPDATE SKIP LOCKED;"
_REMINDER_SEQUENCES_LOCK = (
    "PERFORM FROM event_sequences WHERE user_id = owner FOR NO KEY UPDATE SKIP LOCKED;"
)
_REMINDER_SEQ = """UPDATE users SET event_seq = event_seq + 1 WHERE id = owner
                    RETURNING event_seq INTO next_seq;"""
_REMINDER_SEQUENCES_SEQ = """UPDATE event_sequences SET last_seq = last_seq + 1
                    WHERE user_id = owner RETURNING last_seq INTO next_seq;"""

START_SEQUENCE = """
CREATE FUNCTION start_event_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_sequences (user_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""
# SECURITY DEFINER: the outbox is behind the wall, and whoever deletes a user (an operator,
# a test) may act for nobody; the owner of the schema is a member of `todo_worker` (0011).
FORGET_USER_EVENTS = """
CREATE FUNCTION forget_user_events() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM event_sequences WHERE user_id = OLD.id;
    DELETE FROM task_events WHERE user_id = OLD.id;
    RETURN OLD;
END
$$
"""
# A time zone change replans the user's all-day reminders (0006), and a task write plans its
# own with the zone it reads: the two must not overlap, or a write racing a change plans in
# the old zone. Before 0013 both held the user's row (the write through its sequence UPDATE);
# now the write holds the user's event_sequences row, so the change takes that row too, before
# its replanning: whichever comes second waits, then reads what the first committed.
HOLD_SEQUENCE = """
CREATE FUNCTION hold_event_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM event_sequences WHERE user_id = NEW.id FOR NO KEY UPDATE;
    RETURN NEW;
END
$$
"""


def recording_functions() -> tuple[str, str]:
    """`record_task_event()` and `fire_due_reminders()` as this migration creates them: 0009's,
    numbering from `event_sequences` (0017 and bench/events_versions.py start from them)."""
    previous = _revision("0009_announced_events.py")
    m8 = _revision("0008_cheaper_event_recording.py")
    record = previous._without(m8.RECORD_TASK_EVENT, previous._TASK_NOTIFY)
    fire = previous._without(m8.FIRE_DUE_REMINDERS, previous._REMINDER_NOTIFY)
    fire = _replaced(fire, _REMINDER_LOCK, _REMINDER_SEQUENCES_LOCK)
    return (
        _replaced(record, _USERS_SEQ, _SEQUENCES_SEQ),
        _replaced(fire, _REMINDER_SEQ, _REMINDER_SEQUENCES_SEQ),
    )


def upgrade() -> None:
    record, fire = recording_functions()
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")  # writers' lock order (0005)
    op.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
    op.create_table(
        "event_sequences",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_sequences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_event_sequences")),
    )
    op.execute("INSERT INTO event_sequences (user_id, last_seq) SELECT id, event_seq FROM users")
    op.execute(START_SEQUENCE)
    op.execute(FORGET_USER_EVENTS)
    op.execute(
        "CREATE TRIGGER users_start_event_sequence AFTER INSERT ON users "
        "FOR EACH ROW EXECUTE FUNCTION start_event_sequence()"
    )
    op.execute(
        "CREATE TRIGGER users_forget_events BEFORE DELETE ON users "
        "FOR EACH ROW EXECUTE FUNCTION forget_user_events()"
    )
    op.execute(HOLD_SEQUENCE)
    op.execute(
        "CREATE TRIGGER users_hold_event_sequence BEFORE UPDATE OF time_zone ON users "
        "FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone) "
        "EXECUTE FUNCTION hold_event_sequence()"
    )
    op.execute(record)
    op.execute(fire)
    op.drop_column("users", "event_seq")
    op.drop_constraint("fk_task_events_user_id_users", "task_events", type_="foreignkey")


def downgrade() -> None:
    previous = _revision("0009_announced_events.py")
    m8 = _revision("0008_cheaper_event_recording.py")
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
    op.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
    op.add_column(
        "users",
        sa.Column("event_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE users SET event_seq = s.last_seq FROM event_sequences AS s "
        "WHERE s.user_id = users.id AND s.last_seq <> 0"
    )
    op.execute(previous._without(m8.RECORD_TASK_EVENT, previous._TASK_NOTIFY))
    op.execute(previous._without(m8.FIRE_DUE_REMINDERS, previous._REMINDER_NOTIFY))
    op.execute("DROP TRIGGER users_forget_events ON users")
    op.execute("DROP TRIGGER users_hold_event_sequence ON users")
    op.execute("DROP FUNCTION hold_event_sequence()")
    op.execute("DROP TRIGGER users_start_event_sequence ON users")
    op.execute("DROP FUNCTION forget_user_events()")
    # A TRUNCATE of `users` reached the outbox through the foreign key; since 0013 it does
    # not: the events of users gone go before the key comes back.
    op.execute(
        "DELETE FROM task_events AS e WHERE NOT EXISTS (SELECT FROM users WHERE id = e.user_id)"
    )
    op.create_foreign_key(
        "fk_task_events_user_id_users",
        "task_events",
        "users",
        ["user_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.execute("DROP FUNCTION start_event_sequence()")
    op.drop_table("event_sequences")


def _replaced(function: str, old: str, new: str) -> str:
    """An earlier function's text with one statement replaced (found exactly once)."""
    assert function.count(old) == 1, f"not found once: {old}"
    return function.replace(old, new)


def _revision(file_name: str) -> Any:
    """An earlier migration's module (its file name is no Python identifier)."""
    path = Path(__file__).with_name(file_name)
    spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
