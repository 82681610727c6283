"""Limits and validated string types shared by the tables (CHECK constraints) and the API.

Keeping the numbers here makes the database and the request validation enforce the same
rules: a request the API accepts can never be refused by a constraint (which would be a 500).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import AfterValidator, Field, PlainValidator, StringConstraints, WithJsonSchema

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
USER_ID_MAX = 255
EMAIL_MAX = 320
BIGINT_MAX = 2**63 - 1
# `Idempotency-Key`: 1-255 visible ASCII characters (as Stripe's and the IETF draft's keys).
IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_KEY_PATTERN = "^[!-~]+$"

# A user id is whatever the frontend's auth system issued; we only refuse what cannot be a
# path segment or would corrupt logs: control characters (NUL included) and "/".
USER_ID_PATTERN = r"^[^\x00-\x1f\x7f/]+$"
_USER_ID = re.compile(USER_ID_PATTERN)


def is_unicode(value: str) -> bool:
    """Whether `value` is Unicode text: JSON may escape a lone surrogate (`"\\ud800"`), which
    no encoder (UTF-8 to the database, to logs, to the response) can write."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_user_id(value: object) -> TypeGuard[str]:
    """Whether `value` may be a user id: the `{user_id}` path rule, for tokens and the CLI."""
    return (
        isinstance(value, str)
        and len(value) <= USER_ID_MAX
        and bool(_USER_ID.fullmatch(value))
        and is_unicode(value)
    )


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


def plain_text(value: str) -> str:
    """`value`, if PostgreSQL text can hold it: ValueError (a 422) for NUL or a lone
    surrogate, which would otherwise fail in the database or the encoder (a 500)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not is_unicode(value):
        raise ValueError("must not contain lone surrogates (\\ud800-\\udfff): not Unicode text")
    return value


def _not_blank(value: str) -> str:
    if all(char in _BLANK for char in value):
        raise ValueError("must not be blank")
    return value


Title = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TITLE_MAX, strict=True),
    AfterValidator(plain_text),
    AfterValidator(_not_blank),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": TITLE_MAX, "pattern": NOT_BLANK_PATTERN}
    ),
]
Description = Annotated[
    str,
    StringConstraints(max_length=DESCRIPTION_MAX, strict=True),
    AfterValidator(plain_text),
    WithJsonSchema({"type": "string", "maxLength": DESCRIPTION_MAX, "pattern": NO_NUL_PATTERN}),
]


# --- Organizing fields: priority, tags, due date --------------------------------------------

PRIORITIES = ("low", "medium", "high")
"""In ascending order: stored as 1, 2, 3, so `ORDER BY priority DESC` puts high first."""
Priority = Literal["low", "medium", "high"]
DEFAULT_PRIORITY: Priority = "medium"

TAG_MAX = 50
TAGS_MAX = 20

# Control characters (C0, DEL, C1) may not appear inside a tag; surrounding blanks are trimmed.
CONTROL_CHARS = "".join(chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)))
# Nor may the invisible characters that make two tags look alike or reorder the text around
# them: bidi controls, and zero-width/format characters (the joiners U+200C/U+200D stay
# allowed inside: emoji sequences and Persian or Indic spelling need them).
INVISIBLE_CHARS = (
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u00ad\u180e\u200b\u2060\u2061\u2062\u2063\u2064\ufeff"
)
_FORBIDDEN_IN_TAG = CONTROL_CHARS + INVISIBLE_CHARS
_FORBIDDEN = frozenset(_FORBIDDEN_IN_TAG)
# A tag as JSON Schema sees it: blanks around 1-50 characters that are neither control nor
# invisible nor (at either end) blank. The validator below implements exactly this (a unit
# test checks), then brings the tag to Unicode NFC.
TAG_PATTERN = (
    f"^[{_class(BLANK_CHARS)}]*"
    f"[^{_class(BLANK_CHARS + _FORBIDDEN_IN_TAG)}]"
    f"(?:[^{_class(_FORBIDDEN_IN_TAG)}]{{0,{TAG_MAX - 2}}}"
    f"[^{_class(BLANK_CHARS + _FORBIDDEN_IN_TAG)}])?"
    f"[{_class(BLANK_CHARS)}]*$"
)


def normalize_tag(value: str) -> str:
    """The tag trimmed of blanks and in NFC, so one tag has one spelling whichever form the
    keyboard produced; ValueError naming it when it is blank, too long or holds a control
    or invisible character."""
    tag = value.strip(BLANK_CHARS)
    if not tag:
        raise ValueError(f"tag {value!r} is blank")
    if len(tag) > TAG_MAX:
        raise ValueError(f"tag {tag[:20]!r}... is longer than {TAG_MAX} characters")
    if tag.isascii():
        if any(char in _FORBIDDEN for char in tag):
            raise ValueError(f"tag {tag!r} contains a control character")
        return tag
    if not is_unicode(tag):
        raise ValueError("tag contains a lone surrogate (\\ud800-\\udfff): not Unicode text")
    if any(char in _FORBIDDEN for char in tag):
        raise ValueError(
            f"tag {tag!r} contains a control or invisible (bidi, zero-width) character"
        )
    tag = unicodedata.normalize("NFC", tag)
    if len(tag) > TAG_MAX:  # the few characters NFC spells with more than one code point
        raise ValueError(f"tag {tag[:20]!r}... is longer than {TAG_MAX} characters in NFC")
    return tag


def normalize_tags(values: list[str]) -> list[str]:
    """Trimmed tags in the order given, dropping later case-insensitive duplicates."""
    seen: set[str] = set()
    tags = []
    for tag in map(normalize_tag, values):
        key = tag.casefold()
        if key not in seen:
            seen.add(key)
            tags.append(tag)
    return tags


Tags = Annotated[
    list[Annotated[str, StringConstraints(strict=True)]],
    Field(max_length=TAGS_MAX),
    AfterValidator(normalize_tags),
    WithJsonSchema(
        {
            "type": "array",
            "maxItems": TAGS_MAX,
            "items": {"type": "string", "pattern": TAG_PATTERN},
            "description": (
                f"Up to {TAGS_MAX} labels, each 1-{TAG_MAX} characters after trimming, no "
                "control or invisible (bidi, zero-width) characters; stored in Unicode NFC. "
                "Later case-insensitive duplicates are dropped, the order is kept; `[]` clears."
            ),
        }
    ),
]

# A deadline is a calendar date (all day) or an RFC 3339 date-time with an offset.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_NO_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
DUE_DATE_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
    "description": (
        "A calendar date (`2026-12-01`, due by the end of that day, UTC) or an RFC 3339 "
        "date-time with an offset (`2026-12-01T17:00:00+01:00`, read back in UTC)."
    ),
}


def parse_due(value: object) -> date | datetime:
    """A date, or an aware date-time converted to UTC; ValueError for anything else."""
    if isinstance(value, datetime):  # already parsed (a model built in code)
        if value.tzinfo is None:
            raise ValueError("a date-time needs an offset such as Z or +01:00")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date (YYYY-MM-DD) or a date-time with an offset")
    if _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date") from None
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        if _NO_OFFSET.fullmatch(value):
            raise ValueError("a date-time needs an offset such as Z or +01:00 (no zone is guessed)")
        raise ValueError("must be a date (YYYY-MM-DD) or an RFC 3339 date-time with an offset")
    day, clock, fraction, offset = match.groups()
    fraction = (fraction or "")[:7]  # microseconds: Python and PostgreSQL keep six digits
    offset = "+00:00" if offset in "Zz" else offset
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}{fraction}{offset}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{value!r} is not a valid date-time in years 1-9999 (UTC)") from None


DueDate = Annotated[date | datetime, PlainValidator(parse_due), WithJsonSchema(DUE_DATE_SCHEMA)]
