"""`GET /api/{user_id}/reminders` (upcoming reminders) and `/api/{user_id}/settings` (the
user's time zone): thin transport over services/reminders.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from todo_api.api.deps import admitted
from todo_api.api.links import link
from todo_api.api.list_query import QueryParameters
from todo_api.api.media_type import json_body
from todo_api.api.paths import UserIdPath
from todo_api.api.problems import BODY_FAILURES, CALLER_FAILURES, responses_for
from todo_api.api.responses import json_response
from todo_api.errors import InvalidCursorError, InvalidInputError, UnknownTimeZoneError
from todo_api.models.columns import due_instant
from todo_api.models.fields import DueDate
from todo_api.services.lists.cursors import cursor_key
from todo_api.services.reminders import UserReminders

UPCOMING_PAGE_MAX = 200
CURSOR_MAX = 2000
_FOREVER = datetime.max.replace(tzinfo=UTC)
_PARAMETERS = QueryParameters(("before", "limit", "cursor"))


async def user_reminders(request: Request, user_id: UserIdPath) -> UserReminders:
    """The reminders of the admitted user (401/403 as for tasks), within its turn."""
    principal = await admitted(request, user_id)
    return UserReminders(request.app.state.database, principal.user_id)


UserRemindersDep = Annotated[UserReminders, Depends(user_reminders)]


async def _known_parameters(request: Request) -> None:
    _PARAMETERS.check(request.query_params)


class UpcomingReminder(BaseModel):
    task_id: int
    title: str
    at: datetime = Field(description="When it fires (UTC).")
    reminder: dict[str, str] = Field(description="The reminder as the task holds it.")


class UserSettings(BaseModel):
    """The user's settings; `time_zone` places all-day reminders (09:00 local)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"time_zone": "Europe/Berlin"}]}
    )

    time_zone: str = Field(
        min_length=1, max_length=64, description="An IANA time zone name (default UTC)."
    )


router = APIRouter(prefix="/api/{user_id}", tags=["reminders"])


@router.get(
    "/reminders",
    operation_id="listUpcomingReminders",
    summary="The user's upcoming reminders, soonest first",
    response_model=list[UpcomingReminder],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": '`<...>; rel="next"` while more reminders follow.',
                    "schema": {"type": "string"},
                }
            }
        },
        **responses_for(*CALLER_FAILURES, InvalidCursorError, InvalidInputError),
    },
    dependencies=[Depends(_known_parameters)],
)
async def list_upcoming_reminders(
    request: Request,
    reminders: UserRemindersDep,
    before: Annotated[
        DueDate | None,
        Query(
            description="Only reminders firing before this instant (an RFC 3339 date-time "
            "with an offset; a date means the end of that day, UTC).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=UPCOMING_PAGE_MAX)] = 50,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX)] = None,
) -> Response:
    """Every reminder still to fire (of tasks not completed), soonest first, a page at a
    time (follow the `Link: rel="next"` URL): for clients that schedule notifications
    themselves (phones, service workers)."""
    until = _FOREVER if before is None else due_instant(before)
    page = await reminders.upcoming(await cursor_key(request.app.state), until, limit, cursor)
    headers = {}
    if page.next_cursor is not None:
        query = {"limit": limit, "cursor": page.next_cursor}
        if before is not None:
            query["before"] = until.isoformat()
        headers["Link"] = link(f"{request.url.path}?{urlencode(query)}", "next")
    return json_response(page.items, headers=headers)


@router.get(
    "/settings",
    operation_id="getUserSettings",
    summary="The user's settings (time zone)",
    response_model=UserSettings,
    responses=responses_for(*CALLER_FAILURES, InvalidInputError),
)
async def get_settings(reminders: UserRemindersDep) -> Response:
    return json_response({"time_zone": await reminders.time_zone()})


@router.put(
    "/settings",
    operation_id="updateUserSettings",
    summary="Change the user's time zone",
    dependencies=[Depends(json_body)],
    response_model=UserSettings,
    responses=responses_for(*CALLER_FAILURES, *BODY_FAILURES, UnknownTimeZoneError),
)
async def update_settings(
    reminders: UserRemindersDep, body: Annotated[UserSettings, Body()]
) -> Response:
    """Set `time_zone` (an IANA name such as `Europe/Berlin`; 422 for any other). Relative
    reminders of all-day due dates move to count from 09:00 in it."""
    return json_response({"time_zone": await reminders.set_time_zone(body.time_zone)})
