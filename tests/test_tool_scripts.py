"""The shell scripts in tools/ that drive long runs: they parse, and refuse a missing input early."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"
SCRIPTS = sorted(TOOLS.glob("*.sh"))


def test_there_are_scripts():
    assert {p.name for p in SCRIPTS} >= {"train_release.sh", "train_release_v2.sh", "init_vs_scratch.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_init_vs_scratch_needs_labels_and_stage_one_records(tmp_path):
    script = str(TOOLS / "init_vs_scratch.sh")
    base = {"PATH": "/usr/bin:/bin", "R": str(tmp_path / "run")}
    no_labels = subprocess.run(["bash", script], capture_output=True, text=True, env=base)
    assert no_labels.returncode != 0 and "LABELS" in no_labels.stderr
    no_records = subprocess.run(["bash", script], capture_output=True, text=True,
                                env={**base, "LABELS": "x.txt"})
    assert no_records.returncode == 2 and f"{tmp_path / 'run'}/rec1: no records" in no_records.stderr
    assert not (tmp_path / "run").exists()  # nothing is trained or written before the check
