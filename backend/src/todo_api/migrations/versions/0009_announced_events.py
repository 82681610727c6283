"""announced events: writers send no NOTIFY; one announcer per database does (live/announcer.py)

Issue 23 (recording costs at most 10 % of a write), while live streams are open: 0008 made
writers NOTIFY only while a hub listened, but any open stream keeps a hub listening, and a
notifying commit takes a database-wide lock until it is flushed, so writers of different
users still committed one at a time (recording cost 30-36 % of a write's throughput). Now
`record_task_event()` and `fire_due_reminders()` only insert the outbox row, as in 0008
without a listener; the hub holding the announcer's turn reads the new outbox ids and sends
one NOTIFY per look. `live_listeners` is no longer read by anyone and goes.

During a rolling upgrade, workers of the release before still register in `live_listeners`,
which is gone: their hubs log "LISTEN failed" and their streams poll until they are replaced.

Lock order unchanged (0005, 0006); `tasks` is locked first, like the writers, before the
functions are replaced.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TASK_NOTIFY = """
    IF EXISTS (SELECT FROM live_listeners) THEN  -- a live hub listens: wake it at commit
        PERFORM pg_notify('todo_task_events', next_seq || ' ' || changed.user_id);
    END IF;
"""
_REMINDER_NOTIFY = """
                -- Announced like 0007's trigger did (only an inserted event), to live hubs.
                IF FOUND AND EXISTS (SELECT FROM live_listeners) THEN
                    PERFORM pg_notify('todo_task_events', next_seq || ' ' || owner);
                END IF;
"""


def upgrade() -> None:
    previous = _revision("0008_cheaper_event_recording.py")
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")  # writers' lock order (0005)
    op.execute(_without(previous.RECORD_TASK_EVENT, _TASK_NOTIFY))
    op.execute(_without(previous.FIRE_DUE_REMINDERS, _REMINDER_NOTIFY))
    op.drop_table("live_listeners")


def downgrade() -> None:
    previous = _revision("0008_cheaper_event_recording.py")
    op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
    op.create_table(
        "live_listeners",
        sa.Column("pid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "since", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("pid", name=op.f("pk_live_listeners")),
    )
    op.execute(previous.RECORD_TASK_EVENT)
    op.execute(previous.FIRE_DUE_REMINDERS)


def _without(function: str, block: str) -> str:
    """0008's function with its NOTIFY block taken out (the rest as 0008 wrote it)."""
    assert function.count(block) == 1, "0008's NOTIFY block not found"
    return function.replace(block, "\n")


def _revision(file_name: str) -> Any:
    """An earlier migration's module (its file name is no Python identifier)."""
    path = Path(__file__).with_name(file_name)
    spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
