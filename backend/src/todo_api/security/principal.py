"""The authenticated caller, as the token says."""

from __future__ import annotations

import math
from dataclasses import dataclass

PRINCIPAL = "todo_api.principal"
"""The ASGI scope key under which authentication leaves the verified caller (for the tools
of `/mcp` and the request log)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's `sub`, and its `email` claim when it has a usable one."""

    user_id: str
    email: str | None
    expires_at: float = math.inf
    """When the token stops being valid (its `exp` plus the leeway; Unix time): a live
    stream ends then (`live/`)."""
