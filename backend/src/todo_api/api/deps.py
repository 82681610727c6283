"""Dependencies of the routers, as `Annotated` aliases so signatures stay short."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.database.session import session_scope
from todo_api.models.fields import BIGINT_MAX, USER_ID_MAX, USER_ID_PATTERN
from todo_api.services.tasks import TaskService


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, from the factory the app built at startup."""
    async for session in session_scope(request.app.state.session_factory):
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

UserIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=USER_ID_MAX,
        pattern=USER_ID_PATTERN,
        description="Id of the user the tasks belong to (as issued by the frontend's auth).",
    ),
]
TaskIdPath = Annotated[
    int, Path(ge=1, le=BIGINT_MAX, description="Id of the task (a positive 64-bit integer).")
]


def get_task_service(user_id: UserIdPath, session: SessionDep) -> TaskService:
    """The task service scoped to the user of the path."""
    return TaskService(session, user_id)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
