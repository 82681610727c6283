"""cheaper row security: the gate as one function call instead of a sub-select

Issue 27's cost. The gate every statement of one user begins its WHERE with (database/
wall.py `ACTING`) was `(SELECT set_config('todo.user_id', :owner, true)) IS NOT NULL`: a
sub-select PostgreSQL parses, plans as an InitPlan, initializes and runs on every statement
(the app prepares none). Counted with callgrind (a backend in single-user mode, get one task
by id): 96,000 instructions a statement for that gate, against 394,000 for the statement
without it; the policies and the login's permission checks another 37,000.

`set_acting_user(owner)` does the same `set_config(..., true)` in one PL/pgSQL call. It is
declared STABLE although it sets a setting (it changes no row): a call with no column in its
arguments is then a pseudo-constant, and PostgreSQL evaluates it once, in the One-Time Filter
of a Result above every scan, before any row is read, in the order written, exactly where the
sub-select's InitPlan ran. A VOLATILE function would be a per-row filter evaluated after the
policy's own condition, that is with no user set. The same statement with it: 55,000
instructions of gate instead of 96,000. It stays PARALLEL UNSAFE (the default), as set_config
is: a parallel worker's setting would not reach the leader.

The policies keep `user_id = current_setting('todo.user_id', true)` unchanged: with the app's
own filter `user_id = :owner` in the statement, PostgreSQL already derives
`current_setting(...) = :owner` into the same One-Time Filter (evaluated once, after the
gate), and an index condition when the filter is missing. Wrapping it as
`(SELECT current_setting(...))` (the usual advice against per-row evaluation) was measured
15,000 instructions a statement dearer, so it is not done.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SET_ACTING_USER = """
CREATE FUNCTION set_acting_user(owner text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL UNSAFE COST 1 AS $$
BEGIN
    -- Local to the transaction (for an autocommit statement: to the statement).
    RETURN set_config('todo.user_id', owner, true) IS NOT NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(SET_ACTING_USER)
    # The default privileges of 0011 grant it to todo_app and todo_worker already; said again
    # so that the gate does not depend on them.
    op.execute("GRANT EXECUTE ON FUNCTION set_acting_user(text) TO todo_app, todo_worker")


def downgrade() -> None:
    op.execute("DROP FUNCTION set_acting_user(text)")
