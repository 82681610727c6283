"""Conditional requests over HTTP: the 304 answer and how OpenAPI declares ETags. The rule
itself (what an ETag is, how `If-Match` and `If-None-Match` compare) is
`services/conditional.py`."""

from __future__ import annotations

from typing import Any

from fastapi import Response

ETAG_HEADER = {
    "ETag": {
        "description": "The version of this answer, for If-Match / If-None-Match.",
        "schema": {"type": "string"},
    }
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the `ETag` in If-None-Match is current."}
}


def not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag})
