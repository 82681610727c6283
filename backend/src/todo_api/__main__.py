"""Command line of the package: `python -m todo_api <command>`.

- `openapi`: print the app's OpenAPI document (what specs/.../openapi.json must equal).
- `dev-setup`: prepare a development checkout (creates `.env` from `.env.example`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from todo_api.cli.dev_setup import ensure_dev_env
from todo_api.cli.openapi import openapi_json


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m todo_api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("openapi", help="print the OpenAPI document as JSON")
    commands.add_parser("dev-setup", help="create .env for local development if missing")
    args = parser.parse_args(argv)

    if args.command == "openapi":
        sys.stdout.write(openapi_json())
    elif args.command == "dev-setup":
        print(ensure_dev_env())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
