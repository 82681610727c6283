"""Dependencies of the routers, as `Annotated` aliases so signatures stay short."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from todo_api.api.auth import authorized
from todo_api.api.paths import UserIdPath
from todo_api.services.tasks import TaskService


async def get_task_service(request: Request, user_id: UserIdPath) -> TaskService:
    """The task service of the authenticated user, whose `users` row is now up to date
    (401 without a valid token, 403 for another user's path: `api/auth.py`).

    By the time FastAPI calls this, the body has arrived and the token is verified; only
    now does the request take its admission turn (see `api/admission.py`). The turn ends
    when the response starts (`TurnEndMiddleware`), before its body is sent.
    """
    principal = await authorized(request, user_id)
    state = request.app.state
    await state.admission.enter(request.scope)
    await state.user_provisioner.ensure(state.database, principal)
    return TaskService(state.database, principal.user_id, state.quotas)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
