"""Path parameters shared by the routes, with the limits the database also enforces."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

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
TaskIdPath = Annotated[
    int, Path(ge=1, le=BIGINT_MAX, description="Id of the task (a positive 64-bit integer).")
]
