"""RFC 8288 `Link` headers: the next page of a list, the next occurrence of a task."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from starlette.types import Scope

from todo_api.services.lists.query import TaskListQuery


def link(target: str, rel: str) -> str:
    """`<target>; rel="rel"`, with the target relative to the server (path and query), so
    it holds behind any proxy that serves the API under the same paths."""
    return f'<{target}>; rel="{rel}"'


def with_cursor(scope: Scope, query: TaskListQuery, cursor: str) -> str:
    """This request's path with the list parameters the client set, as validated, and
    `cursor`. Built from `query`, never from the raw query string: a parameter the endpoint
    does not know (`x=>;rel="evil",<https://evil.example/`) could otherwise close the
    target and add a link to another site. Every value is percent-encoded, so `&`, `#`,
    `>`, spaces and non-ASCII text cannot leave their parameter."""
    fields_set = query.model_fields_set
    parts: list[str] = []
    for name in _LINKED_FIELDS:
        if name not in fields_set:
            continue
        value = getattr(query, name)
        if isinstance(value, list):
            parts.extend(f"{name}={quote(_text(item), safe='')}" for item in value)
        elif value is not None:
            parts.append(f"{name}={quote(_text(value), safe='')}")
    # `cursor` is base64url: safe in a URL as it is.
    parts.append(f"cursor={cursor}")
    return f"{quote(scope['path'])}?{'&'.join(parts)}"


def _text(value: object) -> str:
    """A parameter value as the query parser reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):  # a datetime too: UTC, with its offset
        return value.isoformat()
    return str(value)


_LINKED_FIELDS = tuple(name for name in TaskListQuery.model_fields if name != "cursor")


def _link_header(description: str) -> dict[str, Any]:
    """An OpenAPI response-header entry for `Link`."""
    return {"Link": {"description": description, "schema": {"type": "string"}}}


NEXT_PAGE_HEADER = _link_header(
    'With `limit`, while more tasks remain: `<url>; rel="next"`, the URL of the next page '
    "(same parameters and an opaque `cursor`)."
)
NEXT_OCCURRENCE_HEADER = _link_header(
    'When a recurring task is completed: `<url>; rel="next-occurrence"`, the URL of the task '
    "created for its next due date."
)
