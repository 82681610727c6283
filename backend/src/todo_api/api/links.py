"""RFC 8288 `Link` headers: the next page of a list, the next occurrence of a task."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import URL


def link(target: URL | str, rel: str) -> str:
    """`<target>; rel="rel"`, with the target relative to the server (path and query), so
    it holds behind any proxy that serves the API under the same paths."""
    if isinstance(target, URL):
        target = f"{target.path}?{target.query}" if target.query else target.path
    return f'<{target}>; rel="{rel}"'


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
