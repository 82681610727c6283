"""Limits and validated string types shared by the tables (CHECK constraints) and the API.

Keeping the numbers here makes the database and the request validation enforce the same
rules: a request the API accepts can never be refused by a constraint (which would be a 500).
"""

from __future__ import annotations

import re
from typing import Annotated, TypeGuard

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
USER_ID_MAX = 255
EMAIL_MAX = 320
BIGINT_MAX = 2**63 - 1

# A user id is whatever the frontend's auth system issued; we only refuse what cannot be a
# path segment or would corrupt logs: control characters (NUL included) and "/".
USER_ID_PATTERN = r"^[^\x00-\x1f\x7f/]+$"
_USER_ID = re.compile(USER_ID_PATTERN)


def is_user_id(value: object) -> TypeGuard[str]:
    """Whether `value` may be a user id: the `{user_id}` path rule, for tokens and the CLI."""
    return isinstance(value, str) and len(value) <= USER_ID_MAX and bool(_USER_ID.fullmatch(value))


# What a title made only of is blank: every character Python counts as white space, and the
# invisible format characters people paste by accident (zero-width space, joiners, word
# joiner, Mongolian vowel separator, byte order mark).
BLANK_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u180e"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)
_BLANK = frozenset(BLANK_CHARS)


def _class(chars: str) -> str:
    """A regex character class body of `chars`, as \\uXXXX escapes: both Python's `re` and
    ECMA-262 (JSON Schema) read them the same way."""
    return "".join(f"\\u{ord(char):04x}" for char in chars)


# The same rules as the validators below, as JSON Schema patterns for the OpenAPI contract
# (a unit test checks that both agree on every character).
NO_NUL_PATTERN = "^[^\\u0000]*$"
NOT_BLANK_PATTERN = f"^[^\\u0000]*[^\\u0000{_class(BLANK_CHARS)}][^\\u0000]*$"


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refusing it here turns a database error into a 422.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if all(char in _BLANK for char in value):
        raise ValueError("must not be blank")
    return value


Title = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TITLE_MAX, strict=True),
    AfterValidator(_no_nul),
    AfterValidator(_not_blank),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": TITLE_MAX, "pattern": NOT_BLANK_PATTERN}
    ),
]
Description = Annotated[
    str,
    StringConstraints(max_length=DESCRIPTION_MAX, strict=True),
    AfterValidator(_no_nul),
    WithJsonSchema({"type": "string", "maxLength": DESCRIPTION_MAX, "pattern": NO_NUL_PATTERN}),
]
