"""Schemathesis fuzzes the live server against its own OpenAPI contract: 0 failures.

Run by `make fuzz` (not by `make test`: it needs schemathesis and takes a minute). Two runs
of all operations with every check, each request with a valid token for its path's user
(tests/fuzz/hooks.py):
- `{user_id}` free, positive and negative cases: every component, the user id included,
  is fuzzed against the server's real validation;
- `{user_id}` fixed to alice (schemathesis.toml), positive cases: the stateful phase
  creates, reads, updates and deletes real tasks of one user. Negative cases are left to
  the free run: here a case meant to carry an invalid user id would arrive as "alice" and
  be rightly accepted, which schemathesis would report as a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support import ROOT, TEST_SECRET, running_server, sign

pytestmark = pytest.mark.fuzz

MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "40")
ALICE = sign("alice")
# The fuzzed server has no chat model (CHAT_MODEL_URL unset): the chat endpoint answers its
# documented 503 (ChatNotConfiguredError), which is the expected answer there, not a crash.
# Its turns are tested against a stand-in model (tests/integration/test_chat.py).
CHAT_CONFIG = """\
[[operations]]
include-operation-id = "chat"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]
"""
FIXED_USER_CONFIG = (
    """\
[parameters]
"path.user_id" = "alice"

"""
    + CHAT_CONFIG
)


@pytest.fixture(scope="module")
def live_server(migrated_database: URL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cwd = tmp_path_factory.mktemp("fuzz-server")
    with running_server(migrated_database, cwd, serve=True) as (base, _):
        yield base


def schemathesis(base: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base}/openapi.json",
        "--header",
        f"Authorization: Bearer {ALICE}",
        "--checks",
        "all",
        "--max-examples",
        MAX_EXAMPLES,
        "--request-timeout",
        "10",
        # The live stream answers for as long as its token lives: it has tests of its own
        # (tests/integration/test_live_updates.py), not a request a fuzzer can wait out.
        "--exclude-operation-id",
        "streamEvents",
        *extra,
    ]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
        "PYTHONPATH": str(ROOT / "backend"),
        "FUZZ_TOKEN": ALICE,
        "FUZZ_TOKEN_SECRET": TEST_SECRET,
    }
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )


def test_fixed_user_id_finds_no_failure(live_server: str, tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text(FIXED_USER_CONFIG)
    result = schemathesis(live_server, tmp_path, "--mode", "positive")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_free_user_id_finds_no_failure(live_server: str, tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text(CHAT_CONFIG)
    result = schemathesis(live_server, tmp_path)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
