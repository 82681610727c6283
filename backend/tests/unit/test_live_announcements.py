"""Announcement payloads (live/announcer.py): under PostgreSQL's 8,000-byte NOTIFY limit, and
read back safely whatever arrives on the channel."""

from __future__ import annotations

from todo_api.live.announcer import GAP_SECONDS, MAX_GAPS, Announcer, announced_users, payloads


def test_many_users_are_split_into_payloads_a_notify_can_carry() -> None:
    users = [f"user-{n:05}-{'x' * 40}" for n in range(2_000)]
    chunks = payloads(users)
    assert len(chunks) > 1
    assert all(len(chunk.encode()) < 8_000 for chunk in chunks)
    assert [user for chunk in chunks for user in announced_users(chunk)] == users


def test_a_payload_of_another_shape_wakes_nobody() -> None:
    # 0008's writers sent "<seq> <user id>"; a rolling deploy may still see one.
    for payload in ("12 alice", "{}", '"alice"', "[1, null]", ""):
        assert announced_users(payload) == []


def test_gaps_are_kept_for_a_while_and_bounded() -> None:
    announcer = Announcer(last=10)
    assert announcer.take([(12, "a"), (15, "b")], now=0.0) == {"a", "b"}
    assert sorted(announcer.gaps) == [11, 13, 14]
    assert announcer.take([(13, "c")], now=1.0) == {"c"}
    assert sorted(announcer.gaps) == [11, 14]
    announcer.take([], now=GAP_SECONDS + 0.5)
    assert announcer.gaps == {}
    announcer.take([(15 + 3 * MAX_GAPS, "d")], now=20.0)  # a huge rollback before it
    assert len(announcer.gaps) == MAX_GAPS
    assert announcer.last == 15 + 3 * MAX_GAPS
    smallest = min(announcer.gaps)
    announcer.take([(25 + 3 * MAX_GAPS, "e")], now=21.0)  # nine more: the nine oldest go
    assert len(announcer.gaps) == MAX_GAPS
    assert min(announcer.gaps) == smallest + 9
