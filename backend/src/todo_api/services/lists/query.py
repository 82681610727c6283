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
# How much matching one `q` may cost: characters ILIKE compares per character of a task's
# text (see `search_work`). Any `q` this long or shorter is within it.
SEARCH_WORK_MAX = 16


def search_work(text: str) -> float:
    """At most how many characters ILIKE '%text%' compares per character of a task's text.

    After the trigram index, PostgreSQL checks each candidate with ILIKE, which tries every
    position of the text and compares as far as the text goes on like `text`: positions
    that match a prefix of length n at once lie at least that prefix's shortest period
    apart, so the work per character of the text is at most the sum, over the prefixes of
    `text`, of one over their shortest period. For ordinary words that is a few; for a text
    that repeats itself (`tttt...xy`) it is its length: 200 x 1,200 characters for each of
    a user's tasks crafted to match every trigram (0.4 s of database CPU at 2,000 tasks).
    """
    folded = text.lower()  # ILIKE compares lower() of both sides
    border = [0] * len(folded)  # the longest proper prefix that is also a suffix (KMP)
    work = 1.0
    for end in range(1, len(folded)):
        length = border[end - 1]
        while length and folded[end] != folded[length]:
            length = border[length - 1]
        border[end] = length + 1 if folded[end] == folded[length] else 0
        work += 1 / (end + 1 - border[end])
    return work


def _bounded_search(text: str) -> str:
    if len(text) > SEARCH_WORK_MAX and search_work(text) > SEARCH_WORK_MAX:
        raise ValueError(
            "repeats itself too much to be searched for in full (at most "
            f"{SEARCH_WORK_MAX} characters of a repeated pattern): search for a shorter piece"
        )
    return text


# `q=`: text searched for in the title and the description.
SearchText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=QUERY_MAX, pattern=NO_NUL_PATTERN),
    AfterValidator(plain_text),
    AfterValidator(_bounded_search),
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
        None,
        description=(
            "Case-insensitive text to find in the title or the description. A text that "
            "repeats itself too much to be matched cheaply (more than 16 characters of a "
            "repeated pattern, such as `tttt...` or `abab...`) is refused (422)."
        ),
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
