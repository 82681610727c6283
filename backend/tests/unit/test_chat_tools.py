"""The tool list the model is sent: the MCP server's tools, without what only validators read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from todo_api.chat.tools import ChatTools, for_the_model
from todo_api.mcp_server.server import build_server

pytestmark = pytest.mark.anyio


def _keys(schema: Any) -> Iterator[str]:
    """Every keyword of a schema and its sub-schemas (property names excluded)."""
    if isinstance(schema, list):
        for each in schema:
            yield from _keys(each)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            if key == "properties":
                for each in value.values():
                    yield from _keys(each)
            elif key not in ("examples", "default", "enum", "const", "required"):
                yield from _keys(value)


async def test_the_model_gets_every_argument_without_titles_and_patterns() -> None:
    served = {tool.name: dict(tool.input_schema) for tool in await build_server().list_tools()}
    sent = {tool.name: tool.params_json_schema for tool in await ChatTools().function_tools()}
    assert sent.keys() == served.keys()
    for name, schema in sent.items():
        original = served[name]
        assert schema["properties"].keys() == original["properties"].keys(), name
        assert schema.get("required") == original.get("required"), name
        for argument, rules in schema["properties"].items():
            given = original["properties"][argument]
            kept = {k: v for k, v in given.items() if k not in ("title", "pattern")}
            assert rules.keys() == kept.keys(), (name, argument)
        keywords = set(_keys(schema))
        assert "pattern" not in keywords, name
        assert "title" not in keywords, name
    assert "title" in sent["add_task"]["properties"]  # an argument called title stays
    assert "pattern" in set(_keys(served["add_task"]))  # there was something to leave out
    size = len(json.dumps(list(sent.values())))
    assert size < len(json.dumps(list(served.values()))) / 2


def test_values_that_look_like_schemas_are_left_alone() -> None:
    schema = {
        "title": "T",
        "type": "object",
        "properties": {"pattern": {"type": "string", "pattern": "^a$", "title": "Pattern"}},
        "examples": [{"title": "x", "pattern": "y"}],
        "default": {"title": "z"},
        "enum": [{"pattern": 1}],
    }
    assert for_the_model(schema) == {
        "type": "object",
        "properties": {"pattern": {"type": "string"}},
        "examples": [{"title": "x", "pattern": "y"}],
        "default": {"title": "z"},
        "enum": [{"pattern": 1}],
    }
