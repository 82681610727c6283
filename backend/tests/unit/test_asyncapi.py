"""The event contract file is what the code exports, and it is a well-formed AsyncAPI 3.0
document whose references all resolve."""

from __future__ import annotations

import json
from typing import Any

from tests.support import ROOT
from todo_api.events.asyncapi import asyncapi_document, asyncapi_json

CONTRACT = ROOT / "specs" / "001-backend-task-api" / "contracts" / "asyncapi.json"


def test_the_asyncapi_contract_file_is_fresh() -> None:
    assert CONTRACT.read_text(encoding="utf-8") == asyncapi_json(), "run `make openapi`"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_reference_resolves_and_every_event_type_has_a_message() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    for ref in _refs(document):
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
    names = {message["name"] for message in document["components"]["messages"].values()}
    assert names == {
        f"com.todoapi.task.{kind}"
        for kind in ("created", "updated", "completed", "reopened", "deleted")
    } | {"com.todoapi.reminder.due"}
    assert (
        json.loads(CONTRACT.read_text(encoding="utf-8"))["channels"]["taskEvents"]["address"]
        == "task-events"
    )
