"""The `tasks` table and the shapes a task takes on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, model_validator
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    false,
    func,
)
from sqlmodel import Field, SQLModel

from todo_api.models import metadata as _metadata  # noqa: F401  (naming conventions first)
from todo_api.models.fields import DESCRIPTION_MAX, TITLE_MAX, Description, Title


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
        # Serves every query of the service: the user's tasks, newest first (scanned
        # backwards), and the owner check of single-task lookups alongside the primary key.
        Index("ix_tasks_user_id_created_at_id", "user_id", "created_at", "id"),
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


class TaskRead(BaseModel):
    """A task as the API returns it."""

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime


class TaskCreate(BaseModel):
    """Body of `POST /api/{user_id}/tasks`. Unknown fields are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"title": "Buy milk", "description": "2 litres"}]},
    )

    title: Title
    description: Description | None = None


_NULL = {"type": "null"}


def _update_schema(schema: dict[str, Any]) -> None:
    """Make the documented shape what `_something_to_change` enforces: `title` and
    `completed` may be left out but are never null, and at least one field is sent."""
    properties = schema["properties"]
    for name in ("title", "completed"):
        (not_null,) = [branch for branch in properties[name].pop("anyOf") if branch != _NULL]
        properties[name].update(not_null)
    schema["anyOf"] = [{"required": [name]} for name in properties]
    schema["examples"] = [{"title": "Buy oat milk"}]


class TaskUpdate(BaseModel):
    """Body of `PUT`: a field left out keeps its value; `description: null` clears it."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_update_schema)

    title: Title | None = None
    description: Description | None = None
    completed: StrictBool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> TaskUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of title, description, completed")
        for name in ("title", "completed"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The columns to write: exactly the fields the client sent."""
        return self.model_dump(include=self.model_fields_set)


class TaskCompletion(BaseModel):
    """Optional body of `PATCH .../complete`: `completed` sets the state; absent toggles."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{}]})

    completed: StrictBool | None = None
