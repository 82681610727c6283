"""priority, due date, tags and recurrence of tasks

Additive and light on a large table: every new column is nullable or has a constant default
(PostgreSQL 11+ adds those without rewriting the table), and the CHECK constraints only
read the new columns, so the table is locked only for moments. Outside the transaction,
the indexes are then built CONCURRENTLY and the constraints (added NOT VALID) validated,
under locks that let reads and writes go on. On 100,000 tasks the whole upgrade takes
0.8-1.1 s, about half of it building the search index, and a concurrent writer's longest
wait seen was 0.16 s (tests/integration/test_migrations.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The per-tag rules of models/fields.py (a CHECK cannot hold a subquery, a function can).
# The API trims every Unicode blank and refuses C0/C1 controls; this refuses what the API
# could never send, so a request the API accepts is never refused here.
TAGS_ARE_VALID = r"""
CREATE FUNCTION task_tags_are_valid(tags text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT cardinality(tags) <= 20 AND NOT EXISTS (
        SELECT FROM unnest(tags) AS tag
        WHERE tag IS NULL
           OR char_length(tag) NOT BETWEEN 1 AND 50
           OR btrim(tag) <> tag
           OR tag ~ '[\x01-\x1f\x7f-\x9f]'
    )
$$
"""

CHECKS = {
    "priority_level": "priority BETWEEN 1 AND 3",
    "tags_valid": "tags = '{}' OR task_tags_are_valid(tags)",
    "recurrence_length": "char_length(recurrence) BETWEEN 1 AND 200",
    "recurrence_needs_due": "recurrence IS NULL OR due_at IS NOT NULL",
    "all_day_needs_due": "due_at IS NOT NULL OR NOT due_all_day",
}
# A GIN index queues new entries in a pending list that every search reads in full until
# (auto)vacuum merges it; 4 MB by default. A large pending list slows every search; with
# 128 kB searches stay fast and an insert costs about the same (see performance.md).
GIN_PENDING = "WITH (gin_pending_list_limit = 128)"
INDEXES = {
    "ix_tasks_user_id_due_key_id": "(user_id, coalesce(due_at, 'infinity'::timestamptz), id)",
    "ix_tasks_user_id_tags": f"USING gin (user_id, tags) {GIN_PENDING}",
    # What `q=` searches (models/task.py SEARCH_TEXT: the expression must be the same).
    "ix_tasks_user_id_search_trgm": (
        "USING gin (user_id, ((title || '\n') || coalesce(description, '')) gin_trgm_ops) "
        f"{GIN_PENDING}"
    ),
}


def upgrade() -> None:
    # pg_trgm (trigram search) and btree_gin (a GIN index keyed by user_id as well) ship with
    # PostgreSQL and are trusted extensions (13+): the database owner may create them, on
    # Neon too. Created first, and committed, before any lock on `tasks`: the ALTER TABLEs
    # below hold an exclusive lock until their commit, so that window holds nothing else.
    with op.get_context().autocommit_block():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.execute(TAGS_ARE_VALID)
    op.add_column(
        "tasks",
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("2"), nullable=False),
    )
    op.add_column("tasks", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "tasks",
        sa.Column("due_all_day", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "tasks",
        sa.Column(
            "tags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
    )
    op.add_column("tasks", sa.Column("recurrence", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("previous_occurrence_id", sa.BigInteger(), nullable=True))
    # NOT VALID: added at once under the brief lock of this transaction; validated below,
    # outside it, under a lock that lets reads and writes go on.
    for name, condition in CHECKS.items():
        op.execute(
            f"ALTER TABLE tasks ADD CONSTRAINT ck_tasks_{name} CHECK ({condition}) NOT VALID"
        )
    op.execute(
        "ALTER TABLE tasks ADD CONSTRAINT fk_tasks_previous_occurrence_id_tasks FOREIGN KEY "
        "(previous_occurrence_id) REFERENCES tasks (id) ON DELETE SET NULL NOT VALID"
    )
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_tasks_previous_occurrence_id "
            "ON tasks (previous_occurrence_id)"
        )
        for name, definition in INDEXES.items():
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON tasks {definition}")
        op.execute(
            "ALTER TABLE tasks ADD CONSTRAINT uq_tasks_previous_occurrence_id "
            "UNIQUE USING INDEX uq_tasks_previous_occurrence_id"
        )
        for name in [
            *(f"ck_tasks_{name}" for name in CHECKS),
            "fk_tasks_previous_occurrence_id_tasks",
        ]:
            op.execute(f"ALTER TABLE tasks VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    op.drop_constraint(op.f("uq_tasks_previous_occurrence_id"), "tasks", type_="unique")
    op.drop_constraint(op.f("fk_tasks_previous_occurrence_id_tasks"), "tasks", type_="foreignkey")
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for name in (
        "previous_occurrence_id",
        "recurrence",
        "tags",
        "due_all_day",
        "due_at",
        "priority",
    ):
        op.drop_column("tasks", name)  # drops the CHECK constraints on the column too
    op.execute("DROP FUNCTION task_tags_are_valid(text[])")
