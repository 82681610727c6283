"""`LongLists` remembers a bounded number of users whose full list took several pages."""

from __future__ import annotations

from todo_api.services.lists.whole import LongLists


def test_it_forgets_short_lists_and_the_least_recently_seen_user() -> None:
    long_lists = LongLists(size=2)
    for user in ("a", "b", "a", "c"):  # a seen again after b: b is the oldest
        long_lists.remember(user, long=True)
    assert "a" in long_lists
    assert "c" in long_lists
    assert "b" not in long_lists

    long_lists.remember("a", long=False)
    assert "a" not in long_lists
    long_lists.remember("nobody", long=False)  # forgetting an unknown user is fine
