"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz.hooks): a request that carries the
configured token (alice's, given with --header) carries one for the `{user_id}` of its own
path instead. So the free run reaches the handlers of whatever user it generates, and a
negative (invalid) user id meets the server's real validation. Requests in which
schemathesis removed or spoiled the token on purpose (its authentication checks) are left
as they are."""

from __future__ import annotations

import os
import time
from typing import Any

import jwt
import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    # No made-up `cursor`: it is opaque and valid only as a Link header issued it (a random
    # one is a 400, which tests/integration/test_list_query.py checks).
    for query in (kwargs.get("params"), case.query):
        if isinstance(query, dict):
            query.pop("cursor", None)
    headers = kwargs.get("headers")
    configured = f"Bearer {os.environ['FUZZ_TOKEN']}"
    if not isinstance(headers, dict) or headers.get("Authorization") != configured:
        return
    user_id = (case.path_parameters or {}).get("user_id", "alice")
    claims = {"sub": str(user_id), "exp": int(time.time()) + 3600}
    token = jwt.encode(claims, os.environ["FUZZ_TOKEN_SECRET"], algorithm="HS256")
    headers["Authorization"] = f"Bearer {token}"
