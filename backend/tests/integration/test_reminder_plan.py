"""The reminder plan the database keeps (migration 0006) and firing it: when each reminder
fires, in which time zone, what moves it, and that each fires exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.events_support import outbox_events

FIRE = "SELECT scheduled_for, sent FROM fire_due_reminders(500, interval '24 hours')"


def _user(connection: psycopg.Connection, user: str = "alice", zone: str = "UTC") -> None:
    connection.execute("INSERT INTO users (id, time_zone) VALUES (%s, %s)", [user, zone])


def _task(
    connection: psycopg.Connection,
    reminders: list[dict[str, str]],
    due_at: datetime | None,
    *,
    all_day: bool = False,
    user: str = "alice",
) -> int:
    row = connection.execute(
        "INSERT INTO tasks (user_id, title, due_at, due_all_day, reminders)"
        " VALUES (%s, 't', %s, %s, %s) RETURNING id",
        [user, due_at, all_day, json.dumps(reminders)],
    ).fetchone()
    assert row is not None
    return int(row[0])


def _plan(connection: psycopg.Connection, task_id: int) -> list[datetime]:
    rows = connection.execute(
        "SELECT fire_at FROM task_reminders WHERE task_id = %s ORDER BY fire_at", [task_id]
    ).fetchall()
    return [row[0].astimezone(UTC) for row in rows]


def _end_of_day(day: str) -> datetime:
    """An all-day due date as the API stores it: the last microsecond of that day, UTC."""
    return datetime.fromisoformat(f"{day}T23:59:59.999999+00:00")


FUTURE = datetime(2030, 6, 3, 17, 0, tzinfo=UTC)


def test_relative_and_absolute_reminders_are_planned_from_the_due_date(
    clean_database: psycopg.Connection,
) -> None:
    _user(clean_database)
    task = _task(
        clean_database,
        [{"before": "PT15M"}, {"before": "P1D"}, {"at": "2030-06-01T09:00:00+02:00"}],
        FUTURE,
    )
    assert _plan(clean_database, task) == [
        datetime(2030, 6, 1, 7, 0, tzinfo=UTC),
        datetime(2030, 6, 2, 17, 0, tzinfo=UTC),
        datetime(2030, 6, 3, 16, 45, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # 09:00 local, one hour before: on the days the clocks move forward.
        ("America/New_York", "2030-03-10", datetime(2030, 3, 10, 12, 0, tzinfo=UTC)),  # EDT
        ("America/New_York", "2030-03-09", datetime(2030, 3, 9, 13, 0, tzinfo=UTC)),  # EST
        ("Europe/Berlin", "2030-03-31", datetime(2030, 3, 31, 6, 0, tzinfo=UTC)),  # CEST
        ("Europe/Berlin", "2030-03-30", datetime(2030, 3, 30, 7, 0, tzinfo=UTC)),  # CET
    ],
)
def test_all_day_reminders_count_back_from_nine_in_the_users_time_zone(
    clean_database: psycopg.Connection, zone: str, day: str, expected: datetime
) -> None:
    _user(clean_database, zone=zone)
    task = _task(clean_database, [{"before": "PT1H"}], _end_of_day(day), all_day=True)
    assert _plan(clean_database, task) == [expected]


def test_a_new_time_zone_moves_the_all_day_reminders_only(
    clean_database: psycopg.Connection,
) -> None:
    _user(clean_database)
    all_day = _task(clean_database, [{"before": "PT0S"}], _end_of_day("2030-06-03"), all_day=True)
    timed = _task(clean_database, [{"before": "PT0S"}], FUTURE)
    clean_database.execute("UPDATE users SET time_zone = 'Asia/Tokyo' WHERE id = 'alice'")
    assert _plan(clean_database, all_day) == [datetime(2030, 6, 3, 0, 0, tzinfo=UTC)]
    assert _plan(clean_database, timed) == [FUTURE]


def test_moving_completing_reopening_and_deleting_replan_the_task(
    clean_database: psycopg.Connection,
) -> None:
    _user(clean_database)
    task = _task(clean_database, [{"before": "PT1H"}], FUTURE)
    clean_database.execute(
        "UPDATE tasks SET due_at = due_at + interval '1 day' WHERE id = %s", [task]
    )
    assert _plan(clean_database, task) == [FUTURE + timedelta(days=1, hours=-1)]
    clean_database.execute("UPDATE tasks SET completed = true WHERE id = %s", [task])
    assert _plan(clean_database, task) == []
    clean_database.execute("UPDATE tasks SET completed = false WHERE id = %s", [task])
    assert _plan(clean_database, task) == [FUTURE + timedelta(days=1, hours=-1)]
    clean_database.execute("UPDATE tasks SET title = 'renamed' WHERE id = %s", [task])
    assert _plan(clean_database, task) == [FUTURE + timedelta(days=1, hours=-1)]
    clean_database.execute("DELETE FROM tasks WHERE id = %s", [task])
    assert _plan(clean_database, task) == []


def test_times_already_past_are_not_planned(clean_database: psycopg.Connection) -> None:
    _user(clean_database)
    soon = datetime.now(UTC) + timedelta(minutes=30)
    task = _task(clean_database, [{"before": "PT1H"}, {"before": "PT10M"}], soon)
    assert _plan(clean_database, task) == [soon - timedelta(minutes=10)]


def _make_due(connection: psycopg.Connection, task_id: int, ago: timedelta) -> None:
    """Time passes: the task's planned reminders are now `ago` past their time."""
    connection.execute(
        "UPDATE task_reminders SET fire_at = now() - %s WHERE task_id = %s", [ago, task_id]
    )


def test_a_due_reminder_fires_once_as_a_reminder_event_with_the_task(
    clean_database: psycopg.Connection,
) -> None:
    _user(clean_database)
    task = _task(clean_database, [{"before": "PT15M"}], FUTURE)
    _make_due(clean_database, task, timedelta(seconds=1))

    (fired,) = clean_database.execute(FIRE).fetchall()
    assert fired[1] is True
    assert clean_database.execute(FIRE).fetchall() == []  # once

    event: dict[str, Any] = outbox_events(clean_database)[-1]
    assert event["type"] == "com.todoapi.reminder.due"
    assert event["userseq"] == 2  # after the task's creation
    assert event["data"]["task"]["id"] == task
    assert event["data"]["reminder"] == {"before": "PT15M"}
    scheduled = datetime.fromisoformat(event["data"]["scheduled_for"])
    fired_at = datetime.fromisoformat(event["data"]["fired_at"])
    assert timedelta(0) < fired_at - scheduled < timedelta(seconds=10)


def test_a_reminder_later_than_the_allowed_lateness_is_missed_not_sent(
    clean_database: psycopg.Connection,
) -> None:
    _user(clean_database)
    late = _task(clean_database, [{"before": "PT15M"}], FUTURE)
    too_late = _task(clean_database, [{"before": "PT15M"}], FUTURE)
    _make_due(clean_database, late, timedelta(hours=3))
    _make_due(clean_database, too_late, timedelta(hours=25))

    fired = clean_database.execute(FIRE).fetchall()
    assert sorted(sent for _, sent in fired) == [False, True]
    reminders = [e for e in outbox_events(clean_database) if "reminder" in e["type"]]
    assert [e["data"]["task"]["id"] for e in reminders] == [late]


def test_a_write_racing_a_time_zone_change_plans_in_the_new_zone(
    clean_database: psycopg.Connection, owner_database: Any
) -> None:
    """The zone change holds the user row; a concurrent write of an all-day task's reminders
    waits for it, then plans in the new zone (not the one it started in)."""
    import threading

    from tests.support import libpq_url

    _user(clean_database)
    task = _task(clean_database, [{"before": "PT0S"}], _end_of_day("2030-06-03"), all_day=True)
    url = libpq_url(owner_database)
    with psycopg.connect(url, prepare_threshold=None) as zone_change:
        zone_change.execute("UPDATE users SET time_zone = 'America/New_York' WHERE id = 'alice'")

        def write() -> None:
            with psycopg.connect(url, autocommit=True, prepare_threshold=None) as writer:
                writer.execute(
                    'UPDATE tasks SET reminders = \'[{"before": "PT1H"}]\' WHERE id = %s', [task]
                )

        writing = threading.Thread(target=write)
        writing.start()
        writing.join(0.5)
        assert writing.is_alive()  # waits for the zone change
        zone_change.commit()
    writing.join(10)
    # 09:00 EDT is 13:00 UTC; one hour before.
    assert _plan(clean_database, task) == [datetime(2030, 6, 3, 12, 0, tzinfo=UTC)]


def test_the_scheduler_skips_a_user_a_writer_holds_and_fires_next_round(
    clean_database: psycopg.Connection, owner_database: Any
) -> None:
    from tests.support import libpq_url

    _user(clean_database)
    task = _task(clean_database, [{"before": "PT15M"}], FUTURE)
    _make_due(clean_database, task, timedelta(seconds=1))
    with psycopg.connect(libpq_url(owner_database), prepare_threshold=None) as writer:
        # a task write in flight holds the user's event sequence until it commits
        writer.execute("UPDATE tasks SET title = 'being written' WHERE id = %s", [task])
        assert clean_database.execute(FIRE).fetchall() == []  # no wait, no deadlock
        writer.commit()
    assert len(clean_database.execute(FIRE).fetchall()) == 1


def test_a_due_date_moved_after_its_reminder_fired_plans_and_fires_it_again(
    clean_database: psycopg.Connection,
) -> None:
    """Fired, then the due date moves a week later: the reminder is planned for the new
    time and fires again there; moved back before the new time fired, it is replaced."""
    _user(clean_database)
    task = _task(clean_database, [{"before": "PT15M"}], FUTURE)
    _make_due(clean_database, task, timedelta(seconds=1))
    assert len(clean_database.execute(FIRE).fetchall()) == 1
    assert _plan(clean_database, task) == []  # fired: nothing left to fire

    clean_database.execute(
        "UPDATE tasks SET due_at = due_at + interval '7 days' WHERE id = %s", [task]
    )
    later = FUTURE + timedelta(days=7, minutes=-15)
    assert _plan(clean_database, task) == [later]
    clean_database.execute(
        "UPDATE tasks SET due_at = due_at - interval '1 day' WHERE id = %s", [task]
    )
    assert _plan(clean_database, task) == [later - timedelta(days=1)]  # the old time is gone
    _make_due(clean_database, task, timedelta(seconds=1))
    assert len(clean_database.execute(FIRE).fetchall()) == 1
    reminders = [e for e in outbox_events(clean_database) if "reminder" in e["type"]]
    assert len(reminders) == 2
