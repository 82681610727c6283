"""Dependencies of the routers, as `Annotated` aliases so signatures stay short."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.api.auth import AuthorizedPrincipal
from todo_api.database.session import SessionFactory
from todo_api.services.tasks import TaskService
from todo_api.services.users import UserProvisioner


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, from the factory the app built at startup."""
    factory: SessionFactory = request.app.state.session_factory
    async with factory() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_task_service(
    request: Request, principal: AuthorizedPrincipal
) -> AsyncIterator[TaskService]:
    """The task service of the authenticated user, whose `users` row is now up to date.

    It opens its own session instead of depending on `get_session`: one generator
    dependency fewer on the hottest path (each costs a few percent of a small request).
    """
    factory: SessionFactory = request.app.state.session_factory
    provisioner: UserProvisioner = request.app.state.user_provisioner
    async with factory() as session:
        await provisioner.ensure(session, principal)
        yield TaskService(session, principal.user_id)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
