"""Unknown names in a request: refused, each with the closest known name ("did you mean").

An ignored field or query parameter fails without a word (a `recurrence_rule` that never
repeats, a `sort_by` that never sorts), so the API refuses it with a 422 that names it and
suggests what was probably meant: first the usual names other APIs and frontends use for our
fields (the aliases below), then the closest spelling.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

# Names frontends send for the body's fields; a target is suggested only where it is a field.
BODY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "recurrence_rule": ("recurrence",),
    "is_recurring": ("recurrence",),
    "recurring": ("recurrence",),
    "rrule": ("recurrence",),
    "repeat": ("recurrence",),
    "status": ("completed",),
    "done": ("completed",),
    "is_completed": ("completed",),
    "isCompleted": ("completed",),
    "dueDate": ("due_date",),
    "due": ("due_date",),
    "deadline": ("due_date",),
    "labels": ("tags",),
    "name": ("title",),
    "text": ("title",),
}
# The same for the query strings of the list and the changes feed.
QUERY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "sort_by": ("sort",),
    "sortBy": ("sort",),
    "order_by": ("sort", "order"),
    "orderBy": ("sort", "order"),
    "direction": ("order",),
    "search": ("q",),
    "query": ("q",),
    "page_size": ("limit",),
    "per_page": ("limit",),
    "pageSize": ("limit",),
    "perPage": ("limit",),
    "completed": ("status",),
    "done": ("status",),
    "cursor": ("since",),
    "after": ("cursor", "since"),
    "page": ("cursor",),
    "offset": ("cursor",),
    "tags": ("tag",),
}

# How alike two names must be to suggest one for the other (difflib's ratio): `titel` and
# `title` are, `status` and `tags` (a body's `status` meaning `completed`) are not.
_CLOSE = 0.7
UNKNOWN_NAME = "extra_forbidden"  # pydantic's own error type for an unexpected field
# A body of thousands of made-up keys gets a suggestion for the first few only: each costs
# a comparison with every known name.
UNKNOWN_REPORTED = 10


def suggestion(name: str, known: Collection[str], aliases: Mapping[str, tuple[str, ...]]) -> str:
    """What to say about the unknown `name`: the known names it probably meant, else all."""
    meant = [target for target in aliases.get(name, ()) if target in known]
    if not meant:
        meant = difflib.get_close_matches(name, known, n=1, cutoff=_CLOSE)
    if not meant:
        meant = difflib.get_close_matches(name.lower(), known, n=1, cutoff=_CLOSE)
    if meant:
        return "did you mean " + "/".join(f"`{target}`" for target in meant) + "?"
    return "known: " + ", ".join(f"`{target}`" for target in known)


def unknown_message(
    name: str, known: Collection[str], aliases: Mapping[str, tuple[str, ...]], kind: str
) -> str:
    """The error message for the unknown `name`, a "field" or a "query parameter"."""
    return f"unknown {kind}, {suggestion(name, known, aliases)}"


def unknown_errors(
    names: Collection[str],
    known: Collection[str],
    aliases: Mapping[str, tuple[str, ...]],
    kind: str,
    data: Mapping[str, Any],
) -> list[InitErrorDetails]:
    """One error per unknown name, at most `UNKNOWN_REPORTED` of them (in `data`'s order),
    each located at the name itself."""
    ordered = [name for name in data if name in names][:UNKNOWN_REPORTED]
    return [
        InitErrorDetails(
            type=PydanticCustomError(UNKNOWN_NAME, unknown_message(name, known, aliases, kind)),
            loc=(name,),
            input=data[name],
        )
        for name in ordered
    ]


class BodyFields:
    """The fields a request body may hold: its model's own, and the task's `read_only`
    fields, accepted so a task read can be sent back, and dropped."""

    def __init__(self, model: str, names: Iterable[str], read_only: Iterable[str] = ()) -> None:
        self.model = model
        self.names = tuple(names)
        self.read_only_names = tuple(read_only)
        self.read_only = frozenset(self.read_only_names)
        self._known = frozenset(self.names)

    def check(self, data: Any) -> Any:
        """`data` without its read-only fields, or a ValidationError naming each unknown
        field. For a model's `before` validator: a body of known fields costs one subset
        test."""
        if not isinstance(data, dict) or self._known.issuperset(data):
            return data
        if unknown := data.keys() - self._known - self.read_only:
            errors = unknown_errors(unknown, self.names, BODY_ALIASES, "field", data)
            raise ValidationError.from_exception_data(self.model, errors)
        return {name: value for name, value in data.items() if name not in self.read_only}

    def read_only_schema(self) -> dict[str, Any]:
        """JSON Schema properties for the read-only fields: any value, ignored."""
        description = "read-only: accepted and ignored, so a task read can be sent back"
        return {name: {"description": description} for name in self.read_only_names}
