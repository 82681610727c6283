"""`python -m todo_api serve`: the uvicorn configuration it runs with, in every mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.support import TEST_SECRET
from todo_api.cli import serve as serve_command
from todo_api.config import get_settings


@pytest.fixture
def uvicorn_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """What `serve` passes to `uvicorn.run` (which is not called)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETTER_AUTH_SECRET", TEST_SECRET)
    captured: dict[str, Any] = {}

    def run(app: str, **kwargs: Any) -> None:
        captured.update(kwargs, app=app)

    monkeypatch.setattr(uvicorn, "run", run)
    get_settings.cache_clear()
    try:
        yield captured
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("reload", [False, True], ids=["serve", "reload"])
def test_serve_never_turns_on_uvicorns_access_log(
    uvicorn_arguments: dict[str, Any], reload: bool
) -> None:
    serve_command.serve("127.0.0.1", 8000, 1, reload=reload)
    # It would print raw paths and query strings (user ids, search text).
    assert uvicorn_arguments["access_log"] is False
    assert uvicorn_arguments["reload"] is reload
    assert uvicorn_arguments["app"] == "todo_api.main:app"
