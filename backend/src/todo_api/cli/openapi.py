"""Export the OpenAPI contract exactly as the app serves it."""

from __future__ import annotations

import json

from todo_api.config import Settings


def openapi_json() -> str:
    """The app's OpenAPI document, stably formatted (sorted keys, trailing newline)."""
    from todo_api.main import create_app

    # Building the document needs no database: the lifespan (engine) never runs here.
    settings = Settings(
        _env_file=None,
        database_url="postgresql://unused/unused",
        jwt_jwks_url="http://unused.invalid/jwks",
    )
    document = create_app(settings).openapi()
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
