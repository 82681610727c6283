"""Request bodies are JSON, and a body that does not say so is refused with 415.

Without this, a body sent with no Content-Type or as `text/plain` (a common slip with
`fetch`) reaches validation as raw bytes and gets a 422 about "a valid dictionary", which
tells a frontend developer nothing about the real mistake.
"""

from __future__ import annotations

from fastapi import Request

from todo_api.errors import UnsupportedMediaTypeError


def is_json(content_type: str) -> bool:
    """`application/json` or `application/<anything>+json`, parameters (charset) allowed."""
    media_type = content_type.partition(";")[0].strip().lower()
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def json_body(request: Request) -> None:
    """415 for a non-empty body that is not declared as JSON (the body is already read)."""
    if request.method not in {"POST", "PUT", "PATCH"} or not await request.body():
        return
    if not is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaTypeError
