"""The codebase is clean under the ruff configuration in pyproject.toml."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    ruff = pytest.importorskip("ruff", reason="ruff is not installed (pip install -e '.[test]')")
    from ruff.__main__ import find_ruff_bin

    del ruff
    out = subprocess.run([find_ruff_bin(), "check", "--no-cache", "--output-format", "concise", str(REPO)],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
