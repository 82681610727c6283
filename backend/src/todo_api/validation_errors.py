"""Validation failures (pydantic's errors), as REST and MCP both say them.

Part of the error catalogue (`errors/`, which renders a 422 `detail` with it); like it, this
module imports nothing of the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as a client reads them: where, what, which rule.

    The offending input is not echoed back: it may be huge or hold a secret."""
    return [
        {
            "loc": list(error["loc"]),
            "msg": error["msg"].removeprefix("Value error, "),
            "type": error["type"],
        }
        for error in errors
    ]


def _location(loc: Sequence[Any]) -> str:
    # ("body", "title") -> "title"; ("path", "task_id") -> "task_id"
    parts = [str(part) for part in loc[1:]] or [str(part) for part in loc]
    return ".".join(parts)


def validation_summary(
    errors: Sequence[Mapping[str, Any]], location: Callable[[Sequence[Any]], str] = _location
) -> str:
    """The `detail` of a validation failure: `where: what` of the first five errors (the MCP
    tools say the same, with their own `location`)."""
    parts = []
    for error in errors[:5]:
        where = location(error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts) or "Invalid request"
