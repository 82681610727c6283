"""The next page's URL: the request's own query, its cursor replaced, nothing re-encoded."""

from __future__ import annotations

import pytest

from todo_api.api.links import with_cursor


def scope(path: str, query: bytes) -> dict[str, object]:
    return {"type": "http", "path": path, "query_string": query}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"limit=2", "limit=2&cursor=NEW.x"),
        # The previous page's cursor goes, however its name was spelled; the rest stays as
        # sent, repeats and percent-encoding included.
        (b"tag=a%20b&cursor=OLD.y&tag=c&limit=2", "tag=a%20b&tag=c&limit=2&cursor=NEW.x"),
        (b"curs%6Fr=OLD.y&q=caf%C3%A9+bar", "q=caf%C3%A9+bar&cursor=NEW.x"),
        (b"limit=2&&cursor=&", "limit=2&cursor=NEW.x"),
    ],
)
def test_the_next_page_keeps_the_query_and_replaces_the_cursor(query: bytes, expected: str) -> None:
    assert with_cursor(scope("/api/alice/tasks", query), "NEW.x") == (
        f"/api/alice/tasks?{expected}"
    )


def test_the_path_is_escaped_as_a_url_path() -> None:
    assert with_cursor(scope("/api/a b?#/tasks", b""), "c.d") == "/api/a%20b%3F%23/tasks?cursor=c.d"
