"""What a database error says about itself."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError


def constraint_name(error: DBAPIError) -> str | None:
    """The name of the constraint a statement violated (None when there is none)."""
    return getattr(getattr(error.orig, "diag", None), "constraint_name", None)
