"""Dependencies of the routers, as `Annotated` aliases so signatures stay short."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from todo_api.api.auth import authorized
from todo_api.api.paths import UserIdPath
from todo_api.security.principal import Principal
from todo_api.services.tasks import TaskService


async def admitted(request: Request, user_id: str) -> Principal:
    """The authenticated user of the path, admitted and with its `users` row up to date
    (401 without a valid token, 403 for another user's path: `api/auth.py`).

    By the time FastAPI calls this, the body has arrived and the token is verified; only
    now does the request take its admission turn (see `api/admission.py`). The turn ends
    when the response starts (`TurnEndMiddleware`), before its body is sent. Every
    operation that reads or writes a user's data starts here.
    """
    principal = await authorized(request, user_id)
    state = request.app.state
    await state.admission.enter(request.scope)
    await state.user_provisioner.ensure(state.database, principal)
    return principal


async def get_task_service(request: Request, user_id: UserIdPath) -> TaskService:
    """The task service of the admitted user (see `admitted`)."""
    principal = await admitted(request, user_id)
    state = request.app.state
    return TaskService(state.database, principal.user_id, state.quotas)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
