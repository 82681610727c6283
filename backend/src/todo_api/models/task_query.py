"""The query string of `GET /api/{user_id}/tasks`: filters, sort, order and paging."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from todo_api.models.fields import (
    NO_NUL_PATTERN,
    TAG_PATTERN,
    DueDate,
    Priority,
    normalize_tag,
    plain_text,
)

LIST_LIMIT_MAX = 1000
QUERY_MAX = 200
CURSOR_MAX = 2000  # a sealed title sort key: up to 200 characters of escaped UTF-8

SortKey = Literal["created", "updated", "title", "due_date", "priority"]
Order = Literal["asc", "desc"]
Status = Literal["all", "pending", "completed"]

DEFAULT_ORDER: dict[str, Order] = {
    "created": "desc",  # newest first, as the list has always been
    "updated": "desc",  # most recently changed first
    "title": "asc",  # A to Z
    "due_date": "asc",  # soonest deadline first
    "priority": "desc",  # high first
}


# One `tag=` value: a tag as tasks carry it (trimmed, NFC), matched exactly.
TagFilter = Annotated[
    str, StringConstraints(pattern=TAG_PATTERN, strict=True), AfterValidator(normalize_tag)
]
# `q=`: text searched for in the title and the description.
SearchText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=QUERY_MAX, pattern=NO_NUL_PATTERN),
    AfterValidator(plain_text),
]


class TaskListQuery(BaseModel):
    """Every parameter is optional; none at all gives the whole list, newest first."""

    model_config = ConfigDict(extra="ignore")

    status: Status = Field("all", description="`pending`: not completed; `completed`: done.")
    priority: list[Priority] = Field(
        default_factory=list, description="Repeatable: tasks of any of these priorities."
    )
    tag: list[TagFilter] = Field(
        default_factory=list,
        description="Repeatable: tasks carrying all of these tags (matched exactly as spelled).",
    )
    due_before: DueDate | None = Field(
        None,
        description=(
            "Tasks due at or before this date-time, or by the end of this date (UTC). Tasks "
            "without a due date never match."
        ),
    )
    due_after: DueDate | None = Field(
        None,
        description="Tasks due after this date-time, or after the end of this date (UTC).",
    )
    overdue: bool | None = Field(
        None,
        description=(
            "`true`: not completed and the deadline has passed (a date is due by the end "
            "of its day, UTC); `false`: every other task."
        ),
    )
    q: SearchText | None = Field(
        None, description="Case-insensitive text to find in the title or the description."
    )
    sort: SortKey = Field(
        "created",
        description=(
            "Sort key; ties are broken by `id` in the same direction. `due_date` puts tasks "
            "without a deadline last in either order; `title` ignores ASCII case."
        ),
    )
    order: Order | None = Field(
        None,
        description=(
            "Default per key: `created`, `updated`: desc; `title`, `due_date`: asc; "
            "`priority`: desc (high first)."
        ),
    )
    limit: int | None = Field(
        None,
        ge=1,
        le=LIST_LIMIT_MAX,
        description=(
            'At most this many tasks; when more remain, a `Link` header with `rel="next"` '
            "gives the URL of the next page. Without it, the whole list."
        ),
    )
    cursor: Annotated[str, StringConstraints(max_length=CURSOR_MAX)] | None = Field(
        None,
        description=(
            'Opaque position from a `Link: rel="next"` URL; valid only with the same user, '
            "filters and sort."
        ),
    )

    @property
    def direction(self) -> Order:
        return self.order or DEFAULT_ORDER[self.sort]

    def identity(self) -> list[object]:
        """What a cursor is bound to: every parameter but the page size and position."""
        return [
            self.status,
            sorted(set(self.priority)),
            sorted(set(self.tag)),
            *(
                str(bound) if bound is not None else None
                for bound in (self.due_before, self.due_after)
            ),
            self.overdue,
            self.q,
            self.sort,
            self.direction,
        ]
