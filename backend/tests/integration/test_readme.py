"""The docs stay true: the README's curl session runs against a real server, and the
operations guide's configuration table lists every setting."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, TEST_SECRET
from todo_api.config import Settings

README = (ROOT / "README.md").read_text(encoding="utf-8")
OPERATIONS = (ROOT / "specs/001-backend-task-api/operations.md").read_text(encoding="utf-8")


def curl_session() -> str:
    marker = README.index("<!-- curl-session")
    start = README.index("```bash\n", marker) + len("```bash\n")
    return README[start : README.index("```", start)]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_session_gives_the_documented_statuses(
    live_server: str, tmp_path: Path
) -> None:
    script = curl_session()
    expected = [int(code) for code in re.findall(r"^# (\d{3})", script, re.MULTILINE)]
    # The README runs the CLI from the checkout's venv; here, from the interpreter under test.
    script = script.replace(".venv/bin/python", shlex.quote(sys.executable))
    script = script.replace("API=http://127.0.0.1:8000", f"API={live_server}")

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "BETTER_AUTH_SECRET": TEST_SECRET},
        check=False,
    )

    assert result.returncode == 0, result.stderr
    statuses = [int(code) for code in re.findall(r" -> (\d{3})$", result.stdout, re.MULTILINE)]
    assert statuses == expected, result.stdout
    assert '"title":"Buy oat milk","description":null' in result.stdout
    assert '"detail":"title: must not be blank"' in result.stdout


def test_operations_guide_configuration_table_lists_every_setting() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", OPERATIONS, re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^# ([A-Z_]+)=", example, re.MULTILINE))
    assert listed == {name.upper() for name in Settings.model_fields}
