"""Dependencies of the routers, as `Annotated` aliases so signatures stay short."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.api.auth import AuthorizedPrincipal
from todo_api.database.session import session_scope
from todo_api.services.tasks import TaskService
from todo_api.services.users import UserProvisioner


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, from the factory the app built at startup."""
    async for session in session_scope(request.app.state.session_factory):
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_task_service(
    request: Request, principal: AuthorizedPrincipal, session: SessionDep
) -> TaskService:
    """The task service of the authenticated user, whose `users` row is now up to date."""
    provisioner: UserProvisioner = request.app.state.user_provisioner
    await provisioner.ensure(session, principal)
    return TaskService(session, principal.user_id)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
