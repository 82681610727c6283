"""Who calls a tool: the principal `/mcp` verified, and their task service for one call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context
from starlette.datastructures import State
from starlette.requests import Request

from todo_api.security.principal import PRINCIPAL, Principal
from todo_api.services.tasks import TaskService


def _request(ctx: Context[Any, Any]) -> Request:
    request = ctx.request_context.request
    assert isinstance(request, Request), "tools are served over HTTP only"
    return request


def app_state(ctx: Context[Any, Any]) -> State:
    """The app's state (database, server keys) for the request carrying this tool call."""
    state: State = _request(ctx).app.state
    return state


def principal_of(ctx: Context[Any, Any]) -> Principal:
    principal = _request(ctx).scope[PRINCIPAL]
    assert isinstance(principal, Principal)
    return principal


@asynccontextmanager
async def task_service(ctx: Context[Any, Any]) -> AsyncIterator[TaskService]:
    """The caller's tasks, within one admission turn, as a REST request gets them
    (`api/deps.py`): the arguments have arrived and the token is verified, so a turn is
    taken only for work that can proceed; it ends when the tool has its answer. Taking it
    starts the call's deadline, which bounds its database waits too (`database/timeouts.py`)."""
    request = _request(ctx)
    state = request.app.state
    principal = principal_of(ctx)
    async with state.admission:
        await state.user_provisioner.ensure(state.database, principal)
        yield TaskService(state.database, principal.user_id, state.quotas)


def arguments_sent(ctx: Context[Any, Any]) -> frozenset[str]:
    """The names of the arguments the client actually sent (not those left to default):
    `update_task` changes only those, as `PUT` changes only the fields in its body."""
    params = ctx.request_context.params or {}
    return frozenset(params.get("arguments") or ())
