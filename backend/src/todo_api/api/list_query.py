"""The list's query parameters: parsed by hand, documented from `TaskListQuery`.

FastAPI can parse a query-parameter model itself, but it looks each field up through its
generic parameter machinery on every request, a large share of the plain list's cost (see
performance.md). This dependency does the same work
directly: no query string (nearly every list request) is the prebuilt default query; anything
else is validated by the model, and a failure is the usual 422 naming the parameter. An
unknown parameter is a 422 too, naming it and the closest known one: a misspelled filter or
sort that is ignored fails without a word. The OpenAPI document lists the same parameters,
generated from the model's JSON Schema.
"""

from __future__ import annotations

from typing import Annotated, Any, get_origin

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import QueryParams

from todo_api.models.unknown_fields import (
    QUERY_ALIASES,
    UNKNOWN_NAME,
    UNKNOWN_REPORTED,
    unknown_message,
)
from todo_api.services.lists.query import TaskListQuery

# Accepted on every query and ignored: the cache-busting parameter some fetch wrappers
# (jQuery's `cache: false`, several HTTP clients) add to each URL.
CACHE_BUSTER = "_"


class QueryParameters:
    """The query parameters an operation knows; any other is refused (`check`)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self._known = frozenset((*names, CACHE_BUSTER))

    def check(self, params: QueryParams) -> None:
        """A 422 naming each unknown parameter of `params` and what it probably meant."""
        if not self._known.issuperset(params):
            unknown = params.keys() - self._known
            errors = [
                {
                    "loc": ("query", name),
                    "msg": unknown_message(name, self.names, QUERY_ALIASES, "query parameter"),
                    "type": UNKNOWN_NAME,
                }
                for name in [name for name in params if name in unknown][:UNKNOWN_REPORTED]
            ]
            raise RequestValidationError(errors)


DEFAULT_QUERY = TaskListQuery()
_FIELDS = tuple(TaskListQuery.model_fields)
_PARAMETERS = QueryParameters(_FIELDS)
_REPEATABLE = frozenset(
    name
    for name, field in TaskListQuery.model_fields.items()
    if get_origin(field.annotation) is list
)


async def list_query(request: Request) -> TaskListQuery:
    """The query of this request; an unknown parameter is a 422 naming it. (`async`
    although it never awaits: FastAPI runs a plain `def` dependency in a worker thread.)"""
    params = request.query_params
    if not params:
        return DEFAULT_QUERY
    _PARAMETERS.check(params)
    values: dict[str, Any] = {}
    for name in _FIELDS:
        if name in _REPEATABLE:
            if items := params.getlist(name):
                values[name] = items
        elif name in params:
            values[name] = params[name]
    try:
        return TaskListQuery.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


ListQuery = Annotated[TaskListQuery, Depends(list_query)]


def _parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    # A query parameter is a string or absent: the model's `null` branch has no meaning here.
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        schema = {**branches[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": schema.get("description", ""),
        "schema": schema,
    }


def list_parameters() -> list[dict[str, Any]]:
    """OpenAPI parameter objects for every field of `TaskListQuery`."""
    schema = TaskListQuery.model_json_schema()
    assert "$defs" not in schema, "parameters cannot reference shared definitions"
    return [_parameter(name, field) for name, field in schema["properties"].items()]
