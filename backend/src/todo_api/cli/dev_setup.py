"""Prepare a development checkout so that `make run` works on a fresh clone."""

from __future__ import annotations

import shutil
from pathlib import Path


def ensure_dev_env(env_file: Path = Path(".env"), example: Path = Path(".env.example")) -> str:
    """Create `.env` from `.env.example` when it does not exist; never overwrite one."""
    if env_file.exists():
        return f"{env_file} exists; left as it is"
    if example.exists():
        shutil.copyfile(example, env_file)
    else:
        env_file.touch()
    return f"created {env_file}"
