"""RFC 8288 `Link` headers: the next page of a list, the next occurrence of a task."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote_plus

from starlette.types import Scope


def link(target: str, rel: str) -> str:
    """`<target>; rel="rel"`, with the target relative to the server (path and query), so
    it holds behind any proxy that serves the API under the same paths."""
    return f'<{target}>; rel="{rel}"'


def with_cursor(scope: Scope, cursor: str) -> str:
    """This request's path and query with `cursor` set (any cursor it had replaced), the
    other parameters exactly as the client sent them: `cursor` is base64url and a dot, safe
    in a URL as it is. Built from the query string directly: starlette's
    `URL.include_query_params` parses and re-encodes the whole URL, 15 us of a paged list's
    ~600 (measured)."""
    kept = [
        item
        for item in scope["query_string"].decode("latin-1").split("&")
        if item and unquote_plus(item.partition("=")[0]) != "cursor"
    ]
    return f"{quote(scope['path'])}?{'&'.join([*kept, f'cursor={cursor}'])}"


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
