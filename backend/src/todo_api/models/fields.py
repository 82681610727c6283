"""Limits and validated string types shared by the tables (CHECK constraints) and the API.

Keeping the numbers here makes the database and the request validation enforce the same
rules: a request the API accepts can never be refused by a constraint (which would be a 500).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
USER_ID_MAX = 255
EMAIL_MAX = 320
BIGINT_MAX = 2**63 - 1

# A user id is whatever the frontend's auth system issued; we only refuse what cannot be a
# path segment or would corrupt logs: control characters (NUL included) and "/".
USER_ID_PATTERN = r"^[^\x00-\x1f\x7f/]+$"


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refusing it here turns a database error into a 422.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Title = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TITLE_MAX, strict=True),
    AfterValidator(_no_nul),
    AfterValidator(_not_blank),
]
Description = Annotated[
    str,
    StringConstraints(max_length=DESCRIPTION_MAX, strict=True),
    AfterValidator(_no_nul),
]
