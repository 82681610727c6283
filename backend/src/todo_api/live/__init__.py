"""Live updates: `GET /api/{user_id}/events`, a Server-Sent Events stream of the user's
changes that never misses one (issue 25).

The whole feature:
- **Source**: the outbox (`task_events`, events/): every task change and reminder firing of
  the user, numbered 1, 2, 3... per user in commit order. A stream is a reader of it: the
  `id:` of each event is that number, so `Last-Event-ID` resumes exactly, on any worker or
  replica, across restarts (while the outbox keeps the events: `EVENTS_RETENTION_HOURS`).
- **Wake-ups** (`hub.py`): one `LiveHub` per worker keeps the open streams by user and wakes
  a user's streams when the database announces one of their events (LISTEN on one direct
  connection; writers send no NOTIFY: the announcer, `announcer.py`, one hub per database,
  looks for new outbox rows and NOTIFYs the users with news), and by polling the
  users' sequence numbers as a fallback (a transaction-mode pooler cannot LISTEN). An idle
  stream holds no database connection and no admission slot: it waits on an in-memory event.
- **The stream** (`stream.py`): resume or start, send what is new, heartbeat, end at the
  token's expiry or at shutdown with a reason and a `retry:` hint.
- **Tickets** (`tickets.py`): a short-lived, single-use ticket for `EventSource`, which
  cannot send an `Authorization` header, so the JWT never goes into a URL.
- **Transport**: `api/live.py`.
"""
