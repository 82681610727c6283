"""Command line of the package: `python -m todo_api <command>`.

- `token USER`: print a signed development token for USER (uses BETTER_AUTH_SECRET).
- `openapi`: print the app's OpenAPI document (what specs/.../openapi.json must equal).
- `mcp-tools`: print the tools `/mcp` lists (what specs/.../mcp-tools.json must equal).
- `dev-setup`: prepare a development checkout (`.env` with a random secret).
- `serve`: the server (production: N workers, no access log; `--reload` for development);
  HOST, PORT and WORKERS in the environment are its defaults (the container image sets HOST).
- `migrate`: bring the database to the newest schema (Alembic, packaged migrations).
- `relay`: deliver task events to `EVENTS_URL` (serve does it in-process; this runs it alone).
- `scheduler`: fire due reminders (serve does it in-process; this runs it alone).
- `asyncapi`: print the AsyncAPI document of the events (what specs/.../asyncapi.json must equal).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


# As a container's PID 1 (the image runs `python -m todo_api ...` as its entry point), the kernel
# drops a SIGTERM that finds no handler. Until the server or worker installs its own (after
# seconds of imports, longer while the image compiles its bytecode), a stop sent during start
# would be lost and the container killed at the end of its grace period: exit at once instead.
if os.getpid() == 1:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m todo_api",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a development token for a user")
    token.add_argument("user_id", help="the user id (the token's `sub`)")
    token.add_argument("--email", default=None, help="an `email` claim to include")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    commands.add_parser("openapi", help="print the OpenAPI document as JSON")
    commands.add_parser("mcp-tools", help="print the MCP tools of /mcp as JSON")
    commands.add_parser("dev-setup", help="create .env with a development secret if missing")
    serve = commands.add_parser("serve", help="run the production server")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    # argparse converts (and rejects with a clear message) string defaults like arguments.
    serve.add_argument("--port", type=positive_int, default=os.environ.get("PORT", "8000"))
    serve.add_argument("--workers", type=positive_int, default=os.environ.get("WORKERS", "1"))
    serve.add_argument("--reload", action="store_true", help="development: restart on changes")
    commands.add_parser("relay", help="deliver task events to EVENTS_URL until stopped")
    commands.add_parser("scheduler", help="fire due reminders until stopped")
    commands.add_parser("asyncapi", help="print the AsyncAPI document of the events as JSON")
    commands.add_parser("migrate", help="bring the database to the newest schema")
    args = parser.parse_args(argv)

    if args.command == "token":
        from todo_api.config import get_settings
        from todo_api.security.issuer import issue_token

        try:
            signed = issue_token(
                get_settings(), args.user_id, email=args.email, ttl_seconds=args.ttl
            )
        except ValueError as exc:
            parser.exit(2, f"python -m todo_api token: {exc}\n")
        print(signed)
    elif args.command == "openapi":
        from todo_api.cli.openapi import openapi_json

        sys.stdout.write(openapi_json())
    elif args.command == "mcp-tools":
        from todo_api.cli.mcp_tools import mcp_tools_json

        sys.stdout.write(mcp_tools_json())
    elif args.command == "relay":
        from todo_api.cli.background import run_relay

        return run_relay()
    elif args.command == "scheduler":
        from todo_api.cli.background import run_scheduler

        return run_scheduler()
    elif args.command == "asyncapi":
        from todo_api.events.asyncapi import asyncapi_json

        sys.stdout.write(asyncapi_json())
    elif args.command == "migrate":
        from todo_api.cli.migrate import migrate

        return migrate()
    elif args.command == "serve":
        from todo_api.cli.serve import serve as run_server

        run_server(args.host, args.port, args.workers, reload=args.reload)
    else:
        from todo_api.cli.dev_setup import ensure_dev_env

        print(ensure_dev_env())
    return 0


def positive_int(value: str) -> int:
    """A port or a worker count: a whole number above zero (PORT=abc fails at once, clearly)."""
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


if __name__ == "__main__":
    raise SystemExit(main())
