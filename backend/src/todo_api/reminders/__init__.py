"""Reminders: a task's `reminders` fire once, on time, through the event pipeline (issue 24).

The whole feature:
- **The field** (models/reminders.py): up to 5 reminders per task, relative to the due date
  (`{"before": "PT15M"}`) or absolute (`{"at": "..."}`), validated with the other task fields.
- **The plan** (migration 0006): a trigger on `tasks` keeps `task_reminders`, one row per
  reminder still to fire, whenever reminders, due date or completion change; a trigger on
  `users` moves all-day reminders when the user's time zone changes (09:00 local).
- **Firing** (`scheduler.py`): every worker (or `python -m todo_api scheduler`) calls
  `fire_due_reminders`, which claims due rows with `FOR UPDATE SKIP LOCKED` and records one
  `com.todoapi.reminder.due` event per reminder in the outbox, in the same transaction that
  deletes its row: each fires once across workers and replicas, also after downtime (late,
  unless later than `REMINDERS_MAX_LATENESS`: then counted as missed).
- **Reading** (`GET /api/{user_id}/reminders`, the user's time zone at
  `/api/{user_id}/settings`): services/reminders.py.
"""
