"""check functions in PL/pgSQL: a write on tasks no longer parses two SQL functions

PostgreSQL prepares a table's CHECK constraints afresh for every INSERT or UPDATE statement
(`ExecConstraints`: each constraint's expression read back and run through the expression
planner). For a call of a `LANGUAGE sql` function the planner first tries to inline it: it
parses and analyses the function's body, finds the sub-select (`NOT EXISTS (SELECT ... FROM
unnest(...))`), which cannot be inlined, and throws the work away. `ck_tasks_tags_valid` and
`ck_tasks_reminders_valid` call two such functions, so every write on `tasks` parsed both
bodies, whatever the row held, and a row with tags ran its function's body once more,
parsed and planned again. Counted with callgrind (a backend in single-user mode, PostgreSQL
15, trigger off), instructions a statement: a create 945,000-1,008,000 -> 769,000, a create
with two tags 1,132,000 -> 826,000, a toggle 1,218,000 -> 1,030,000 (performance.md,
"Writes: the CHECK functions").

The same functions in PL/pgSQL are never inlined (the planner stops at the language), are
compiled once per session, and keep their sub-select's plan for the session; the constraints
still call them only for a non-empty value. The bodies and the constraints are unchanged, so
every row accepted before is accepted now, and every row refused is refused.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The per-tag rules of models/fields.py, as 0002 wrote them.
_TAGS_RULE = r"""
    cardinality(tags) <= 20 AND NOT EXISTS (
        SELECT FROM unnest(tags) AS tag
        WHERE tag IS NULL
           OR char_length(tag) NOT BETWEEN 1 AND 50
           OR btrim(tag) <> tag
           OR tag ~ '[\x01-\x1f\x7f-\x9f]'
    )"""

# The reminder rules of models/reminders.py, as 0006 wrote them.
_REMINDERS_RULE = r"""
    jsonb_typeof(reminders) = 'array' AND jsonb_array_length(reminders) <= 5 AND NOT EXISTS (
        SELECT FROM jsonb_array_elements(reminders) AS reminder
        WHERE jsonb_typeof(reminder) <> 'object'
           OR (SELECT count(*) FROM jsonb_object_keys(reminder)) <> 1
           OR jsonb_typeof(coalesce(reminder -> 'before', reminder -> 'at'))
              IS DISTINCT FROM 'string'
    )"""

_SIGNATURES = {
    "task_tags_are_valid(tags text[])": _TAGS_RULE,
    "task_reminders_are_valid(reminders jsonb)": _REMINDERS_RULE,
}


def _plpgsql(signature: str, rule: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {signature} RETURNS boolean\n"
        f"LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$\nBEGIN\n    RETURN{rule};\nEND\n$$"
    )


def _sql(signature: str, rule: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {signature} RETURNS boolean\n"
        f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$\n    SELECT{rule}\n$$"
    )


def upgrade() -> None:
    for signature, rule in _SIGNATURES.items():
        op.execute(_plpgsql(signature, rule))


def downgrade() -> None:
    for signature, rule in _SIGNATURES.items():
        op.execute(_sql(signature, rule))
