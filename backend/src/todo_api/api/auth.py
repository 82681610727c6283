"""Authentication and authorization of the `/api` routes.

Order matters and is fixed here: 401 (who are you?) before 403 (is this your path?) before
anything touches the user's data.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from todo_api.errors import ForbiddenUserError, TokenRejectedError
from todo_api.security.principal import PRINCIPAL, Principal
from todo_api.security.verifier import TokenVerifier

# auto_error=False: we answer missing tokens ourselves, as a problem document. Called by
# `authorized` (not as a dependency); `declare_bearer_security` puts it in OpenAPI.
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
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller, from verified bearer `credentials` (`bearer_scheme(request)`); 401
    otherwise."""
    if credentials is None:
        if "cookie" in request.headers:
            raise TokenRejectedError(NO_COOKIES, invalid_token=False)
        raise TokenRejectedError("Missing bearer token", invalid_token=False)
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    request.scope[PRINCIPAL] = principal  # for the request log (`api/request_log.py`)
    return principal


async def authorized(request: Request, user_id: str) -> Principal:
    """The caller, when the `{user_id}` of the path is theirs: 401 (who are you?), then 403
    (is this your path?).

    Plain calls, not FastAPI dependencies: every dependency level costs its resolution on
    each request (together with the levels removed beside it, a visible share of a small
    request; see performance.md). So the scheme is declared in the OpenAPI
    document by `declare_bearer_security` instead of by a dependency."""
    principal = await authenticated(request, await bearer_scheme(request))
    if principal.user_id != user_id:
        raise ForbiddenUserError
    return principal


def declare_bearer_security(document: dict[str, Any]) -> None:
    """State in the OpenAPI `document` what `authorized` enforces: every `/api` operation
    needs the bearer scheme (which gives /docs its "Authorize" button)."""
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[_SCHEME_NAME] = bearer_scheme.model.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    for path, operations in document.get("paths", {}).items():
        if path.startswith("/api/"):
            for operation in operations.values():
                operation["security"] = [{_SCHEME_NAME: []}]


_SCHEME_NAME = "HTTPBearer"
