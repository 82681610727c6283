"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz.hooks): a request that carries the
configured token (alice's, given with --header) carries one for the `{user_id}` of its own
path instead. So the free run reaches the handlers of whatever user it generates, and a
negative (invalid) user id meets the server's real validation. Requests in which
schemathesis removed or spoiled the token on purpose (its authentication checks) are left
as they are."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import jwt
import schemathesis

from todo_api.models.fields import parse_due
from todo_api.models.recurrence import normalize_recurrence, recurrence_problem
from todo_api.services.lists.query import SEARCH_WORK_MAX, search_work
from todo_api.services.reminders import iana_zones

_KEY = re.compile(r"[!-~]{1,255}")


def _never_recurs(rule: object, due: object) -> bool:
    """Whether `rule` has no occurrence after `due` (a typical date when none is sent): a
    422 by design that no JSON Schema can say (tests/integration/test_task_fields.py)."""
    try:
        return (
            recurrence_problem(
                parse_due(due) if due is not None else parse_due("2026-12-01"),
                normalize_recurrence(rule),  # type: ignore[arg-type]
            )
            is not None
        )
    except (ValueError, TypeError):
        return False  # invalid anyway: left to the server's validation


def _tests_the_token(case: Any) -> bool:
    """Whether schemathesis made this case to test the Authorization header itself (it
    removes or spoils the token after this hook: an edited case would keep it)."""
    data = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
    return str(getattr(data, "parameter", "")).lower() == "authorization"


# Without schemathesis (installed by `make fuzz` only) the decorator is Any to mypy.
@schemathesis.hook  # type: ignore[untyped-decorator, unused-ignore]
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    # No made-up `cursor`: it is opaque and valid only as a Link header issued it (a random
    # one is a 400, which tests/integration/test_list_query.py checks).
    # Nor a made-up changes `since` cursor (a 400, tests/integration/test_delta_sync.py), nor
    # a made-up `If-Match`: a tag the task never had is a 412 by design
    # (tests/integration/test_conditional_requests.py).
    for query in (kwargs.get("params"), case.query):
        if isinstance(query, dict):
            query.pop("cursor", None)
            query.pop("since", None)
            # Nor a `q` that repeats itself past the search's cost bound: a 422 by design
            # that no JSON Schema can say (tests/integration/test_list_query.py).
            q = query.get("q")
            if isinstance(q, str) and len(q) > SEARCH_WORK_MAX and search_work(q) > SEARCH_WORK_MAX:
                del query["q"]
    # Nor a recurrence rule that never recurs after its due date (see `_never_recurs`).
    for body in (kwargs.get("json"), case.body):
        if isinstance(body, dict) and _never_recurs(body.get("recurrence"), body.get("due_date")):
            if "due_date" in body:
                del body["recurrence"]
            else:
                body["recurrence"] = "daily"
    # Nor a time zone the zone database does not know: a 422 by design that no JSON Schema
    # can say without listing every zone (tests/integration/test_reminders_api.py).
    for body in (kwargs.get("json"), case.body):
        zone = body.get("time_zone") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(zone, str) and zone not in iana_zones():
            body["time_zone"] = "Europe/Berlin"
    # The generated headers, which the request is sent with (the `--header` token included).
    headers = case.headers
    configured = f"Bearer {os.environ['FUZZ_TOKEN']}"
    if (
        not isinstance(headers, MutableMapping)
        or headers.get("Authorization") != configured
        or _tests_the_token(case)
    ):
        return
    user_id = (case.path_parameters or {}).get("user_id", "alice")
    claims = {"sub": str(user_id), "exp": int(time.time()) + 3600}
    token = jwt.encode(claims, os.environ["FUZZ_TOKEN_SECRET"], algorithm="HS256")
    headers["Authorization"] = f"Bearer {token}"
    for name in list(headers):
        if name.lower() == "if-match":
            del headers[name]
        # A well-formed Idempotency-Key is made unique: generated cases that share one with
        # different bodies are a 422 by design (tests/integration/test_idempotent_creates.py).
        elif name.lower() == "idempotency-key":
            key = headers[name]
            if isinstance(key, str) and _KEY.fullmatch(key):
                headers[name] = str(uuid.uuid4())
