"""Authentication and authorization dependencies of the `/api` routes.

Order matters and is fixed here: 401 (who are you?) before 403 (is this your path?) before
anything touches the user's data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from todo_api.api.paths import UserIdPath
from todo_api.security.errors import TokenRejectedError
from todo_api.security.principal import PRINCIPAL, Principal
from todo_api.security.verifier import TokenVerifier

# auto_error=False: we answer missing tokens ourselves, as a problem document. The scheme
# still appears in OpenAPI, which gives /docs its "Authorize" button.
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A JWT from the frontend's auth (Better Auth): `Authorization: Bearer <jwt>`.",
)


# Said to a browser that sent cookies but no token (a frontend that expected a session
# cookie to work here). Cookies would make every request forgeable from other sites (CSRF).
NO_COOKIES = (
    "Missing bearer token: this API reads no cookies. Send the JWT from your frontend's "
    "auth as `Authorization: Bearer <jwt>`"
)


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller, from a verified bearer token; 401 otherwise."""
    if credentials is None:
        if "cookie" in request.headers:
            raise TokenRejectedError(NO_COOKIES, invalid_token=False)
        raise TokenRejectedError("Missing bearer token", invalid_token=False)
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    request.scope[PRINCIPAL] = principal  # for the request log (`api/request_log.py`)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticated)]


async def authorized(principal: CurrentPrincipal, user_id: UserIdPath) -> Principal:
    """The caller, when the `{user_id}` of the path is theirs; 403 otherwise."""
    if principal.user_id != user_id:
        raise HTTPException(403, "The token does not grant access to this user's tasks")
    return principal


AuthorizedPrincipal = Annotated[Principal, Depends(authorized)]
