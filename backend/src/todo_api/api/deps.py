"""Dependencies of the routers, as `Annotated` aliases so signatures stay short."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from todo_api.api.auth import AuthorizedPrincipal
from todo_api.services.tasks import TaskService


async def get_task_service(
    request: Request, principal: AuthorizedPrincipal
) -> AsyncIterator[TaskService]:
    """The task service of the authenticated user, whose `users` row is now up to date.

    By the time FastAPI calls this, the body has arrived and the token is verified; only
    now does the request take its admission turn (see `api/admission.py`). The turn ends
    when the endpoint returns (`scope="function"` below), before the response is sent.
    """
    state = request.app.state
    async with state.admission:
        await state.user_provisioner.ensure(state.database, principal)
        yield TaskService(state.database, principal.user_id)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service, scope="function")]
