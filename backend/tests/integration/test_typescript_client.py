"""The typed TypeScript client: types generated from the contract, a session run under Node.

`make client` installs its npm packages (`npm ci`, versions from the committed lockfile).
Without them (no Node on this machine) the test is skipped with the reason; CI sets
`REQUIRE_TYPESCRIPT_CLIENT=1`, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support import ROOT, sign

CLIENT = ROOT / "specs" / "001-backend-task-api" / "client"


def _missing() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js and npm are not installed"
    if not (CLIENT / "node_modules" / ".bin" / "tsc").exists():
        return "the client's npm packages are not installed: run `make client`"
    return None


@pytest.fixture
def client_tools() -> None:
    reason = _missing()
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


@pytest.mark.usefixtures("client_tools")
def test_types_generated_from_the_contract_compile_and_the_session_runs(live_server: str) -> None:
    generated = npm("generate")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    checked = npm("check")  # tsc --noEmit: the session type-checks against today's contract
    assert checked.returncode == 0, checked.stdout + checked.stderr
    built = npm("build")  # into the client's dist/, where Node finds its node_modules
    assert built.returncode == 0, built.stdout + built.stderr

    session = subprocess.run(
        ["node", str(CLIENT / "dist" / "session.js")],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "TODO_API_URL": live_server,
            "TODO_API_USER": "typed-alice",
            "TODO_API_TOKEN": sign("typed-alice"),
        },
        check=False,
    )
    assert session.returncode == 0, session.stdout + session.stderr
    assert "every step answered as the contract says" in session.stdout
