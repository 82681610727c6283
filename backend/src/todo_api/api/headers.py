"""The optional request headers of the task routes: `If-Match`, `If-None-Match`,
`Idempotency-Key`.

They are read straight from the request and declared to OpenAPI by hand (`openapi_extra`),
as the list's query parameters are (api/list_query.py): a `Header()` parameter costs FastAPI
its resolution on every request (see performance.md), paid by every client whether
it sends the header or not. The documented schema is exactly what is enforced here.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from todo_api.models.fields import IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN
from todo_api.models.idempotency import IDEMPOTENCY_KEY_HOURS

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_KEY_RULE = f"must be 1-{IDEMPOTENCY_KEY_MAX} visible ASCII characters (no spaces)"


def _parameter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


IF_MATCH = _parameter(
    "If-Match",
    "Write only if the task is still at this version: its `ETag` from an earlier response "
    "(several, comma-separated, allowed; `*` is no condition). When the task has changed "
    "since, nothing is written and the answer is 412 with the current `ETag`.",
)
IF_NONE_MATCH = _parameter(
    "If-None-Match",
    "The `ETag` of the answer the client already has: while it is still current, the "
    "answer is 304 with no body.",
)
IDEMPOTENCY_KEY = _parameter(
    "Idempotency-Key",
    "Makes a retried create safe: a repeat with the same key and body within "
    f"{IDEMPOTENCY_KEY_HOURS} h creates nothing and answers 201 with the task the first "
    "request created (as it is now) and `Idempotent-Replayed: true`; the same key with "
    "another body is a 422. A repeat sent while the first is still running waits for it. "
    f"Keys are per user: 1-{IDEMPOTENCY_KEY_MAX} visible ASCII characters (a UUID made by "
    "the client is a good choice).",
    minLength=1,
    maxLength=IDEMPOTENCY_KEY_MAX,
    pattern=IDEMPOTENCY_KEY_PATTERN,
)


def if_match(request: Request) -> str | None:
    return request.headers.get("if-match")


def if_none_match(request: Request) -> str | None:
    return request.headers.get("if-none-match")


def idempotency_key(request: Request) -> str | None:
    """The `Idempotency-Key`, if sent; a 422 naming it when it breaks its rule."""
    key = request.headers.get("idempotency-key")
    if key is not None and not (
        len(key) <= IDEMPOTENCY_KEY_MAX and _IDEMPOTENCY_KEY.fullmatch(key)
    ):
        error = {"loc": ("header", "Idempotency-Key"), "msg": _KEY_RULE, "type": "value_error"}
        raise RequestValidationError([error])
    return key
