"""users and event sequences behind the wall; the API's cross-user reads as owner-run functions

Issue 27 asks for row-level security on every table holding user data; `users` (emails, time
zones, chat turn times) stayed outside it since 0011, because provisioning looked across users
to see whether an email was taken. That check now leaves it to the unique index (the
provisioner falls back to no email on a conflict, as it did for a concurrent claim), and
`users` gets the policies of the other tables, on `id`: a statement acting for one user sees
and changes that user's row only; one acting for nobody sees none.

`event_sequences` (the last sequence number of each user's events, 0013) stayed outside
because the live hubs read it for all the users they serve at once. It gets the same policies
on `user_id`: the recording trigger, the reminder trigger and the time-zone lock run for the
acting user (or as the worker), and the hubs read it through a function (below).

Three pieces of cross-user work ran in the API process as `todo_worker` only because they had
no narrower way: the live announcer (which users have new outbox rows) and redeeming a stream
ticket (whose user the ticket's hash names). Each is now a SECURITY DEFINER function that
returns exactly what it needs and nothing else, so the API's own login no longer needs the
worker privilege (a separate login can hold it: `WORKER_DATABASE_URL`, operations.md):

- `use_stream_ticket(ticket_hash)`: deletes the unexpired ticket of that hash and returns its
  user and token expiry (one statement instead of a four-statement worker transaction).
- `newest_event_id()` and `announced_events(after, max_rows, gaps)`: outbox ids and their
  users, never an event's content.
- `event_sequence_heads(users)`: the last sequence number of each of those users (what a hub
  polls to learn which of its streams have news).

They run as the owner of the schema (a member of `todo_worker`, 0011), and only `todo_app` may
call them. Their search path is the schema, then `pg_temp` named last: a path without it
searches the session's temporary tables first, so a session could make its own temporary
`stream_tickets` stand in for the real one inside a function that runs as the owner. 0013's
`forget_user_events()` (run as the owner when a user is deleted) gets the same path.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTING_USER = "id = current_setting('todo.user_id', true)"

USE_STREAM_TICKET = """
CREATE FUNCTION use_stream_ticket(ticket_hash bytea)
RETURNS TABLE (user_id text, token_expires_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER AS $$
    DELETE FROM stream_tickets AS t
    WHERE t.ticket_hash = use_stream_ticket.ticket_hash AND t.expires_at > now()
    RETURNING t.user_id, t.token_expires_at
$$
"""
NEWEST_EVENT_ID = """
CREATE FUNCTION newest_event_id() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT coalesce(max(id), 0) FROM task_events
$$
"""
ANNOUNCED_EVENTS = """
CREATE FUNCTION announced_events(after bigint, max_rows integer, gaps bigint[])
RETURNS TABLE (id bigint, user_id text)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    (SELECT e.id, e.user_id FROM task_events AS e WHERE e.id > after ORDER BY e.id LIMIT max_rows)
    UNION ALL
    (SELECT e.id, e.user_id FROM task_events AS e WHERE e.id = ANY(gaps))
$$
"""
EVENT_SEQUENCE_HEADS = """
CREATE FUNCTION event_sequence_heads(users text[])
RETURNS TABLE (user_id text, last_seq bigint)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT s.user_id, s.last_seq FROM event_sequences AS s WHERE s.user_id = ANY(users)
$$
"""
_FUNCTIONS = (
    "use_stream_ticket(bytea)",
    "newest_event_id()",
    "announced_events(bigint, integer, bigint[])",
    "event_sequence_heads(text[])",
)
_SEQUENCES_ACTING = "user_id = current_setting('todo.user_id', true)"


# The schema the migration runs in, then pg_temp last (see above).
_FIXED_PATH = (
    "DO $$ BEGIN EXECUTE format("
    "'ALTER FUNCTION {} SET search_path = %I, pg_temp', current_schema()); END $$"
)


def upgrade() -> None:
    op.execute("ALTER TABLE users ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE users FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY acting_user ON users USING ({ACTING_USER}) WITH CHECK ({ACTING_USER})"
    )
    op.execute("CREATE POLICY worker ON users TO todo_worker USING (true) WITH CHECK (true)")
    op.execute("ALTER TABLE event_sequences ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE event_sequences FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY acting_user ON event_sequences USING ({_SEQUENCES_ACTING})"
        f" WITH CHECK ({_SEQUENCES_ACTING})"
    )
    op.execute(
        "CREATE POLICY worker ON event_sequences TO todo_worker USING (true) WITH CHECK (true)"
    )
    for function in (USE_STREAM_TICKET, NEWEST_EVENT_ID, ANNOUNCED_EVENTS, EVENT_SEQUENCE_HEADS):
        op.execute(function)
    for signature in _FUNCTIONS:
        # Functions are executable by PUBLIC unless revoked: these are for the app alone.
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO todo_app")
    for signature in (*_FUNCTIONS, "forget_user_events()"):
        op.execute(_FIXED_PATH.format(signature))


def downgrade() -> None:
    op.execute("ALTER FUNCTION forget_user_events() SET search_path FROM CURRENT")
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP POLICY worker ON event_sequences")
    op.execute("DROP POLICY acting_user ON event_sequences")
    op.execute("ALTER TABLE event_sequences NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE event_sequences DISABLE ROW LEVEL SECURITY")
    op.execute("DROP POLICY worker ON users")
    op.execute("DROP POLICY acting_user ON users")
    op.execute("ALTER TABLE users NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE users DISABLE ROW LEVEL SECURITY")
