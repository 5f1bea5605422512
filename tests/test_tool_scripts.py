"""The shell scripts in tools/ that drive long runs: they parse, and refuse a missing input early."""
from __future__ import annotations

import json
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


STUB = r"""#!/usr/bin/env bash
# A stand-in for crnn-toolkit: logs its arguments, marks datasets and records done, writes a
# compare table for --output and, for --model-dir, a checkpoint at the run's --steps (0 without).
echo "$@" >> "$STUB_LOG"
steps=0; md=
while [ $# -gt 0 ]; do
  case $1 in
    --output-dir) mkdir -p "$2"; touch "$2/gen_config.json"; shift ;;
    --save-dir) mkdir -p "$2"; touch "$2/metadata.json"; shift ;;
    --output) echo "| set | toolkit |" > "$2"; shift ;;
    --model-dir) md=$2; shift ;;
    --steps) steps=$2; shift ;;
  esac
  shift
done
if [ -n "$md" ]; then
  mkdir -p "$md/checkpoints"; echo "model_checkpoint_path: \"ckpt-$steps\"" > "$md/checkpoints/checkpoint"
fi
"""


def _stub_path(tmp_path) -> str:
    """A PATH whose crnn-toolkit is :data:`STUB`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "crnn-toolkit").write_text(STUB)
    (bin_dir / "crnn-toolkit").chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def test_init_vs_scratch_gives_a_resumed_run_only_the_rest_of_its_minutes(tmp_path):
    run_dir = tmp_path / "run"
    for d in ("rec1", "rrec1"):
        (run_dir / d).mkdir(parents=True)
        (run_dir / d / "metadata.json").write_text("{}")
    out = run_dir / "init_vs_scratch"
    out.mkdir()
    (out / "finetune.seconds").write_text("600\n")  # 10 of its 12 minutes trained before a stop
    (out / "scratch-large.done").touch()  # had all its time
    (out / "scratch-large" / "checkpoints").mkdir(parents=True)
    (out / "scratch-large" / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-900"\n')
    log = tmp_path / "calls.log"
    env = {"PATH": _stub_path(tmp_path), "R": str(run_dir), "MINUTES": "12",
           "LABELS": "a.txt", "STUB_LOG": str(log)}
    result = subprocess.run(["bash", str(TOOLS / "init_vs_scratch.sh")], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr
    trains = [line.split() for line in log.read_text().splitlines() if line.startswith("train-shadownet")]
    limits = {t[t.index("--model-dir") + 1].rsplit("/", 1)[1]: t[t.index("--time-limit") + 1]
              for t in trains}
    assert limits == {"finetune": "2", "scratch-small": "12"}
    assert int((out / "finetune.seconds").read_text()) >= 600
    assert (out / "finetune.done").exists() and (out / "scratch-small.done").exists()
    assert "## scratch-large: step 900 after 12 minutes" in result.stdout


@pytest.mark.parametrize("clean, third_set", [("0", False), ("0.0", False), ("0.00", False), ("0.3", True)])
def test_train_release_v2_makes_the_clean_set_only_for_a_share_above_zero(tmp_path, clean, third_set):
    log = tmp_path / "calls.log"
    env = {"PATH": _stub_path(tmp_path), "R": str(tmp_path / "run"), "STEPS": "800",
           "IMAGES": "10", "CLEAN": clean, "STUB_LOG": str(log)}
    result = subprocess.run(["bash", str(TOOLS / "train_release_v2.sh")], capture_output=True,
                            text=True, env=env, cwd=TOOLS.parent)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    trains = [c.split() for c in calls if c.startswith("train-shadownet")]
    assert [t[t.index("--steps") + 1] for t in trains] == ["300", "600", "800"]
    clean_mixes = [t[i + 1] for t in trains for i, a in enumerate(t) if a == "--mix" and "crec" in t[i + 1]]
    clean_sets = [c for c in calls if c.startswith("gen-images") and "/clean" in c]
    if third_set:
        assert clean_mixes == [f"{tmp_path}/run/crec{n}:{clean}" for n in (1, 2, 3)]
        assert len(clean_sets) == 3
    else:
        assert clean_mixes == [] and clean_sets == []


@pytest.mark.parametrize("latin, halfwidth", [("0", "0"), ("0.5", "0"), ("0", "0.3"), (".5", "0.3")])
def test_train_release_v2_gives_latin_and_halfwidth_to_the_mix_sets_only(tmp_path, latin, halfwidth):
    log = tmp_path / "calls.log"
    env = {"PATH": _stub_path(tmp_path), "R": str(tmp_path / "run"), "STEPS": "800", "IMAGES": "10",
           "CLEAN": "0.3", "LATIN": latin, "HALFWIDTH": halfwidth, "STUB_LOG": str(log)}
    result = subprocess.run(["bash", str(TOOLS / "train_release_v2.sh")], capture_output=True,
                            text=True, env=env, cwd=TOOLS.parent)
    assert result.returncode == 0, result.stderr
    gens = [c.split() for c in log.read_text().splitlines() if c.startswith("gen-images")]
    synth = tmp_path / "run" / "synth.json"
    with_synth = [g[g.index("--output-dir") + 1].rsplit("/", 1)[1] for g in gens if str(synth) in g]
    if latin == halfwidth == "0":
        assert with_synth == [] and not synth.exists()
    else:
        # the mix and clean sets of the three stages, never the v1 rehearsal sets
        assert sorted(with_synth) == sorted(f"{k}{n}" for k in ("data", "clean") for n in (1, 2, 3))
        assert json.loads(synth.read_text()) == {"latin_face_prob": float(latin),
                                                 "halfwidth_punct_prob": float(halfwidth)}
