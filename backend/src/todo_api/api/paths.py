"""Path parameters shared by the routes, with the limits the database also enforces."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator
from starlette.convertors import Convertor, register_url_convertor

from todo_api.models.fields import BIGINT_MAX, USER_ID_MAX, USER_ID_PATTERN

UserIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=USER_ID_MAX,
        pattern=USER_ID_PATTERN,
        description="Id of the user the tasks belong to: the `sub` of the caller's token.",
    ),
]


def _decimal_digits(value: object) -> object:
    """Ids are written in plain decimal digits: `+5`, ` 5` or `5.0` are not ids, even though
    a lax integer parser would read them as 5."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a positive integer written in decimal digits")
    return value


TaskIdPath = Annotated[
    int,
    Path(ge=1, le=BIGINT_MAX, description="Id of the task (a positive 64-bit integer)."),
    BeforeValidator(_decimal_digits),
]


class TaskIdSegment(Convertor[str]):
    """The `{task_id}` path segment: anything but `changes`, which names the changes feed
    (api/sync.py). So `PUT .../tasks/changes` is a 405 of that route, not a 422 about a
    task id; any other segment reaches `TaskIdPath`'s validation (and its clear 422)."""

    regex = r"(?!changes(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("task_id", TaskIdSegment())
TASK_ID = "{task_id:task_id}"
"""The route path segment of a task id (with `TaskIdSegment`)."""
