"""The next page's URL: the list's own validated parameters, re-encoded, and the new cursor."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlsplit

import pytest
from starlette.requests import Request

from todo_api.api.links import link, with_cursor
from todo_api.api.list_query import list_query
from todo_api.services.lists.query import TaskListQuery


def scope(path: str, query: bytes) -> dict[str, object]:
    return {"type": "http", "path": path, "query_string": query}


def parsed(query_string: bytes) -> TaskListQuery:
    """The query the endpoint's own parser reads from `query_string`."""
    return asyncio.run(list_query(Request(scope("/api/alice/tasks", query_string))))


def next_url(query_string: bytes, cursor: str = "NEW") -> str:
    return with_cursor(scope("/api/alice/tasks", query_string), parsed(query_string), cursor)


def test_a_hostile_parameter_cannot_add_a_link_to_another_site() -> None:
    # `_` (a cache-buster) is the one name the list accepts and ignores: it must not reach the link.
    hostile = b"limit=1&_=%3E%3Brel%3D%22evil%22%2C%3Chttps%3A%2F%2Fevil.example%2F"
    raw = b'limit=1&_=>;rel="evil",<https://evil.example/'
    for query_string in (hostile, raw):
        header = link(next_url(query_string), "next")
        assert header == '</api/alice/tasks?limit=1&cursor=NEW>; rel="next"'


def test_the_next_link_round_trips_every_filter() -> None:
    query_string = (
        b"status=pending&priority=high&priority=low&tag=a%20b&tag=caf%C3%A9&tag=x%26y%23z"
        b"&due_before=2026-12-31&due_after=2026-12-01T17:00:00.5%2B01:00&overdue=false"
        b"&q=rock+%26+roll%20%23%E2%9C%93&sort=title&order=desc&limit=2&cursor=OLD"
    )
    url = next_url(query_string)
    split = urlsplit(url)
    assert (split.path, split.fragment) == ("/api/alice/tasks", "")
    assert "OLD" not in url
    assert dict(parse_qsl(split.query))["cursor"] == "NEW"
    again = parsed(split.query.encode())
    assert again.model_dump(exclude={"cursor"}) == parsed(query_string).model_dump(
        exclude={"cursor"}
    )
    assert again.q == "rock & roll #\u2713"
    assert again.tag == ["a b", "caf\u00e9", "x&y#z"]


@pytest.mark.parametrize("query_string", [b"", b"limit=2", b"limit=2&&cursor=&"])
def test_only_the_parameters_sent_appear(query_string: bytes) -> None:
    expected = "limit=2&cursor=NEW" if query_string else "cursor=NEW"
    assert next_url(query_string) == f"/api/alice/tasks?{expected}"


def test_the_path_is_escaped_as_a_url_path() -> None:
    url = with_cursor(scope("/api/a b?#/tasks", b""), TaskListQuery(), "c")
    assert url == "/api/a%20b%3F%23/tasks?cursor=c"
