"""The `tasks` table and the shapes a task takes on the wire."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StrictBool, WithJsonSchema, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    Text,
    false,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)
from todo_api.models.fields import (
    DEFAULT_PRIORITY,
    DESCRIPTION_MAX,
    DUE_DATE_SCHEMA,
    PRIORITIES,
    TITLE_MAX,
    Description,
    DueDate,
    Priority,
    Tags,
    Title,
)
from todo_api.models.recurrence import RECURRENCE_MAX, Recurrence, recurrence_problem
from todo_api.models.reminders import REMINDERS_SCHEMA, Reminders, has_relative
from todo_api.models.unknown_fields import BodyFields
from todo_api.models.xid8 import CURRENT_XID, Xid8

GIN_STORAGE = {"gin_pending_list_limit": 128}
# What `q=` searches: title and description as one text, so one index answers a search. A
# match could span the newline between them only if the search text holds one; services/
# scope.py checks those against each field. The search condition must spell the same
# expression for PostgreSQL to use the index.
# Spelled as PostgreSQL prints it back, so `alembic check` sees the index unchanged.
SEARCH_TEXT = "((title || '\n') || coalesce(description, ''))"
# `priority` is stored as its position in PRIORITIES, counted from 1.
DEFAULT_PRIORITY_LEVEL = PRIORITIES.index(DEFAULT_PRIORITY) + 1


class Task(SQLModel, table=True):
    """A task owned by exactly one user. Timestamps are always set by the database."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            f"char_length(title) BETWEEN 1 AND {TITLE_MAX} AND btrim(title) <> ''",
            name="title_length",
        ),
        CheckConstraint(
            f"char_length(description) <= {DESCRIPTION_MAX}", name="description_length"
        ),
        CheckConstraint(f"priority BETWEEN 1 AND {len(PRIORITIES)}", name="priority_level"),
        # Per-element rules need a function (a CHECK cannot hold a subquery); the migration
        # that added `tags` defines it.
        # `tags = '{}'` first: the function is skipped for tasks without tags (validating
        # this constraint is far cheaper without the call; see performance.md).
        CheckConstraint("tags = '{}' OR task_tags_are_valid(tags)", name="tags_valid"),
        CheckConstraint(
            f"char_length(recurrence) BETWEEN 1 AND {RECURRENCE_MAX}", name="recurrence_length"
        ),
        CheckConstraint("recurrence IS NULL OR due_at IS NOT NULL", name="recurrence_needs_due"),
        CheckConstraint("due_at IS NOT NULL OR NOT due_all_day", name="all_day_needs_due"),
        # The shape of `reminders` (their values are checked by the API); migration 0006.
        CheckConstraint(
            "reminders = '[]' OR task_reminders_are_valid(reminders)", name="reminders_valid"
        ),
        CheckConstraint(
            "reminders = '[]' OR due_at IS NOT NULL OR NOT reminders @? '$[*].before'",
            name="relative_reminders_need_due",
        ),
        # Serves every query of the service: the user's tasks, newest first (scanned
        # backwards), and the owner check of single-task lookups alongside the primary key.
        # With `updated_at` included, a list's ETag digest (id, updated_at in list order) is
        # an index-only scan (see migration 0003 and performance.md).
        Index(
            "ix_tasks_user_id_created_at_id",
            "user_id",
            "created_at",
            "id",
            postgresql_include=["updated_at"],
        ),
        # The list sorted by deadline, soonest first, tasks without one last (the sort key
        # of services/scope.py): the first page is read off the index.
        Index(
            "ix_tasks_user_id_due_key_id",
            "user_id",
            text("coalesce(due_at, 'infinity'::timestamptz)"),
            "id",
        ),
        # `tag=` filters (containment, @>) and `q=` searches (ILIKE '%...%' on SEARCH_TEXT,
        # through pg_trgm trigrams), keyed by user first (btree_gin): a word common to many
        # users' tasks is still looked up among one user's only. One index beats trigrams alone
        # and title and description indexed apart (see performance.md).
        # A small pending list (kB): a search reads it in full (migration 0002 says why).
        Index(
            "ix_tasks_user_id_tags",
            "user_id",
            "tags",
            postgresql_using="gin",
            postgresql_with=GIN_STORAGE,
        ),
        # The changes feed: a user's tasks written since a cursor (see models/xid8.py).
        Index("ix_tasks_user_id_change_xid", "user_id", "change_xid"),
        Index(
            "ix_tasks_user_id_search_trgm",
            "user_id",
            literal_column(SEARCH_TEXT),
            postgresql_using="gin",
            postgresql_ops={SEARCH_TEXT: "gin_trgm_ops"},
            postgresql_with=GIN_STORAGE,
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    user_id: str = Field(
        sa_column=Column(Text, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_column=Column(Text, nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    completed: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    priority: int = Field(
        default=DEFAULT_PRIORITY_LEVEL,
        sa_column=Column(
            SmallInteger, nullable=False, server_default=text(str(DEFAULT_PRIORITY_LEVEL))
        ),
    )
    # The instant the deadline passes. A date-only deadline (`due_all_day`) is due by the
    # end of that day in UTC and is stored as its last microsecond, so one column orders,
    # filters and finds overdue tasks of both kinds.
    due_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    due_all_day: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    tags: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text), nullable=False, server_default=text("'{}'")),
    )
    recurrence: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Up to 5 `{"before": "<ISO 8601 duration>"}` / `{"at": "<instant>"}`; the trigger of
    # migration 0006 keeps their firing times in `task_reminders` (see reminders/).
    reminders: list[dict[str, str]] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    # The task whose completion created this one. Unique: completing a task again (after
    # un-completing it, or concurrently) can never create a second next occurrence.
    previous_occurrence_id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger,
            ForeignKey("tasks.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
    )
    # The transaction that wrote this version of the task (every INSERT and UPDATE sets it;
    # see models/xid8.py). Tasks written before the changes feed existed hold 1, a
    # transaction every snapshot sees.
    change_xid: str | None = Field(
        default=None, sa_column=Column(Xid8(), nullable=False, server_default=CURRENT_XID)
    )


_NULL = {"type": "null"}


class TaskRead(BaseModel):
    """A task as the API returns it."""

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime
    priority: Priority
    due_date: Annotated[
        date | datetime | None,
        WithJsonSchema({**DUE_DATE_SCHEMA, "anyOf": [*DUE_DATE_SCHEMA["anyOf"], _NULL]}),
    ]
    tags: list[str]
    recurrence: str | None
    reminders: Annotated[list[dict[str, str]], WithJsonSchema(REMINDERS_SCHEMA)]


# Reminders that count from the due date (`before`) need one: the rule, as JSON Schema.
_RELATIVE_REMINDERS = {"reminders": {"contains": {"required": ["before"]}}}
_DUE_DATE_NOT_NULL = {"due_date": {"not": {"type": "null"}}}


def _create_schema(schema: dict[str, Any]) -> None:
    """Document the rules across fields: a recurrence, and relative reminders, need a due
    date."""
    schema["allOf"] = [
        {
            "if": {"required": ["recurrence"], "properties": {"recurrence": {"type": "string"}}},
            "then": {"required": ["due_date"], "properties": _DUE_DATE_NOT_NULL},
        },
        {
            "if": {"required": ["reminders"], "properties": _RELATIVE_REMINDERS},
            "then": {"required": ["due_date"], "properties": _DUE_DATE_NOT_NULL},
        },
    ]
    schema["properties"].update(_CREATE_FIELDS.read_only_schema())
    schema["examples"] = [
        {"title": "Buy milk", "description": "2 litres"},
        {"title": "Water the plants", "due_date": "2026-12-01", "recurrence": "weekly"},
    ]


def _check_recurrence(due: date | datetime | None, recurrence: str | None) -> None:
    """Refuse a rule that has no occurrence after the due date it is sent with."""
    if due is not None and recurrence is not None:
        problem = recurrence_problem(due, recurrence)
        if problem is not None:
            raise ValueError(problem)


class TaskCreate(BaseModel):
    """Body of `POST /api/{user_id}/tasks`. An unknown field is a 422 naming it; the fields
    the server sets (`id`, `user_id`, `completed`, timestamps) are accepted and ignored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_create_schema)

    title: Title
    description: Description | None = None
    priority: Priority = DEFAULT_PRIORITY
    due_date: DueDate | None = None
    tags: Tags = PydanticField(default_factory=list)
    recurrence: Recurrence | None = None
    reminders: Reminders = PydanticField(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: Any) -> Any:
        return _CREATE_FIELDS.check(data)

    @model_validator(mode="after")
    def _recurrence_needs_due_date(self) -> TaskCreate:
        if self.recurrence is not None and self.due_date is None:
            raise ValueError("a recurring task needs a due_date")
        if has_relative(self.reminders) and self.due_date is None:
            raise ValueError("reminders with `before` need a due_date")
        _check_recurrence(self.due_date, self.recurrence)
        return self


# The fields of a task read that only the server sets: a body may hold them (a frontend that
# sends back the task it read, changed), and they are ignored.
READ_ONLY = ("id", "user_id", "created_at", "updated_at")
_CREATE_FIELDS = BodyFields("TaskCreate", TaskCreate.model_fields, (*READ_ONLY, "completed"))


# Fields of `PUT` that may be left out but never sent as null.
NOT_NULL = ("title", "completed", "priority", "tags", "reminders")


def _update_schema(schema: dict[str, Any]) -> None:
    """Make the documented shape what `_something_to_change` enforces: the `NOT_NULL`
    fields may be left out but are never null, and at least one field is sent."""
    properties = schema["properties"]
    for name in NOT_NULL:
        (not_null,) = [branch for branch in properties[name].pop("anyOf") if branch != _NULL]
        properties[name].update(not_null)
    schema["anyOf"] = [{"required": [name]} for name in properties]
    # Relative reminders and a due date cleared in the same body: refused.
    schema["not"] = {
        "required": ["reminders", "due_date"],
        "properties": {**_RELATIVE_REMINDERS, "due_date": {"type": "null"}},
    }
    properties.update(_UPDATE_FIELDS.read_only_schema())
    schema["examples"] = [{"title": "Buy oat milk"}]


class TaskUpdate(BaseModel):
    """Body of `PUT`: a field left out keeps its value; `description: null` clears it. An
    unknown field is a 422 naming it; `id`, `user_id` and the timestamps are accepted and
    ignored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_schema)

    title: Title | None = None
    description: Description | None = None
    completed: StrictBool | None = None
    priority: Priority | None = None
    due_date: DueDate | None = None
    tags: Tags | None = None
    recurrence: Recurrence | None = None
    reminders: Reminders | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: Any) -> Any:
        return _UPDATE_FIELDS.check(data)

    @model_validator(mode="after")
    def _something_to_change(self) -> TaskUpdate:
        if not self.model_fields_set:
            raise ValueError(f"give at least one of {', '.join(type(self).model_fields)}")
        for name in NOT_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        _check_recurrence(self.due_date, self.recurrence)  # without due_date: the service
        if (
            has_relative(self.reminders)
            and "due_date" in self.model_fields_set
            and self.due_date is None
        ):
            raise ValueError("reminders with `before` need a due_date")
        return self

    def changes(self) -> dict[str, Any]:
        """The columns to write: exactly the fields the client sent."""
        return self.model_dump(include=self.model_fields_set)


_UPDATE_FIELDS = BodyFields("TaskUpdate", TaskUpdate.model_fields, READ_ONLY)


class TaskCompletion(BaseModel):
    """Optional body of `PATCH .../complete`: `completed` sets the state; absent toggles.
    Any other field is a 422 naming it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})

    completed: StrictBool | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: Any) -> Any:
        return _COMPLETION_FIELDS.check(data)


_COMPLETION_FIELDS = BodyFields("TaskCompletion", TaskCompletion.model_fields)
