"""cheaper event recording: the snapshot as `json`, the sequence rows spread over more pages

Issue 23 (recording costs at most 10 % of a write). Counted in a single-user PostgreSQL 15
backend under valgrind (performance.md, "Run 17"), the trigger was about 293,000 instructions
of a create's 1.74 million (toggle and PUT alike). Two parts of it did work nobody needed:

- The snapshot. `task_snapshot()` built a `jsonb` value (`to_jsonb` sorts and deduplicates
  the keys into a binary tree, then two keys were taken out again): about 63,000 instructions.
  The outbox's `task` column is now `json`, and the trigger stores `to_json(changed)`: the row
  as JSON text, in one pass, with every column. Nobody reads the snapshot inside the database;
  the relay and the live streams pick the API's keys out of it in Python
  (events/cloudevents.py), so the two columns that are no part of the API
  (`previous_occurrence_id`, `change_xid`) are simply not picked. `task_snapshot()` goes.
  Existing rows are converted (the table is rewritten once: writes wait for it).
- The sequence row's page. Each write updates its user's `event_sequences` row, a HOT update
  that leaves the old version on the page; PostgreSQL prunes a page whose free space is under
  a tenth of it whenever it reads it, and packed pages of ~150 rows each were pruned on
  almost every write, each prune walking all the page's rows: about 38,000 instructions a
  write. With `fillfactor = 10` a page holds about 15 rows and a prune walks those
  (-36,000). The table is one short row per user: ten times its size is still small
  (about 1 MB per 15,000 users). `CLUSTER` rewrites the rows that are there now.

Together: the trigger 293,000 -> 238,000 instructions a create (-19 %), the same for PUT and
toggle. Not changed: the two statements (the sequence UPDATE, the outbox INSERT; merging them
into one with a CTE saved 4,000), the three outbox indexes, the UUID (9,000), row-level
security on both tables (21,000 with it off; the functions as SECURITY DEFINER saved 8,500).

Lock order as the writers': `tasks` first, then `event_sequences`, then `task_events` (a
user deleted by hand meanwhile takes them the other way round: PostgreSQL cancels one of the
two, and a cancelled migration is simply run again). The rewrite may take longer than the
role's `statement_timeout` (migrations/env.py sets `DB_STATEMENT_TIMEOUT`, 5 s by default, and
0017 takes about a second per 100,000 outbox rows): this migration lifts it, and waits for its
locks at most 10 s instead (the writers queue behind a waiting LOCK).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SNAPSHOT = "task_snapshot(changed)"
_REMINDER_SNAPSHOT = "task_snapshot(tasks)"
SEQUENCE_FILLFACTOR = 10


def recording_functions() -> tuple[str, str]:
    """`record_task_event()` and `fire_due_reminders()` as this migration creates them."""
    m13 = _revision("0013_cheaper_outbox_rows.py")
    record, fire = m13.recording_functions()
    return (
        m13._replaced(record, _SNAPSHOT, "to_json(changed)"),
        m13._replaced(fire, _REMINDER_SNAPSHOT, "to_json(tasks)"),
    )


def _lock() -> None:
    op.execute("SET LOCAL statement_timeout = 0")  # a rewrite of the whole outbox
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")  # writers' lock order (0005)
    op.execute("LOCK TABLE event_sequences, task_events IN ACCESS EXCLUSIVE MODE")


def _unlock_settings() -> None:
    """The session's own timeouts again, for whatever runs next in the transaction."""
    op.execute("SET LOCAL statement_timeout TO DEFAULT")
    op.execute("SET LOCAL lock_timeout TO DEFAULT")


def upgrade() -> None:
    _lock()
    op.execute("ALTER TABLE task_events ALTER COLUMN task TYPE json USING task::json")
    for function in recording_functions():
        op.execute(function)
    op.execute("DROP FUNCTION task_snapshot(tasks)")
    _spread_sequences(SEQUENCE_FILLFACTOR)
    _unlock_settings()


def downgrade() -> None:
    _lock()
    op.execute(_revision("0008_cheaper_event_recording.py").TASK_SNAPSHOT)
    for function in _revision("0013_cheaper_outbox_rows.py").recording_functions():
        op.execute(function)
    # The snapshots recorded since keep their two extra keys; nothing reads them.
    op.execute("ALTER TABLE task_events ALTER COLUMN task TYPE jsonb USING task::jsonb")
    _spread_sequences(None)
    _unlock_settings()


def _spread_sequences(fillfactor: int | None) -> None:
    """Rewrite `event_sequences` with `fillfactor` (None: PostgreSQL's default, packed)."""
    if fillfactor is None:
        op.execute("ALTER TABLE event_sequences RESET (fillfactor)")
    else:
        op.execute(f"ALTER TABLE event_sequences SET (fillfactor = {fillfactor})")
    op.execute("CLUSTER event_sequences USING pk_event_sequences")
    op.execute("ALTER TABLE event_sequences SET WITHOUT CLUSTER")  # a rewrite, not a mark
    op.execute("ANALYZE event_sequences")


def _revision(file_name: str) -> Any:
    """An earlier migration's module (its file name is no Python identifier)."""
    path = Path(__file__).with_name(file_name)
    spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
