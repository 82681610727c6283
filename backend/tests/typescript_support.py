"""The typed TypeScript client's toolchain for the tests that run it (Node, or a browser).

`make client` installs its npm packages (`npm ci`, versions from the committed lockfile).
Without them the tests that need the client skip with the reason; CI sets
`REQUIRE_TYPESCRIPT_CLIENT=1`, which turns that skip into a failure.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

from tests.support import ROOT

CLIENT = ROOT / "specs" / "001-backend-task-api" / "client"


def missing() -> str | None:
    """Why the client cannot be built here, or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js and npm are not installed"
    if not (CLIENT / "node_modules" / ".bin" / "tsc").exists():
        return "the client's npm packages are not installed: run `make client`"
    return None


def require_client_tools() -> None:
    """Skip (or, with REQUIRE_TYPESCRIPT_CLIENT, fail) when the client cannot be built."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("REQUIRE_TYPESCRIPT_CLIENT"):
        pytest.fail(f"REQUIRE_TYPESCRIPT_CLIENT is set, but {reason}")
    pytest.skip(f"typed TypeScript client not tested: {reason}")


def npm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", "run", "--silent", *args],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@functools.cache
def build_client() -> None:
    """Generate the types from the committed contract, type-check, compile to dist/ (once per
    test process, whichever test asks first)."""
    for step in ("generate", "check", "build"):  # check: tsc --noEmit against today's contract
        done = npm(step)
        assert done.returncode == 0, f"npm run {step}: {done.stdout}{done.stderr}"
