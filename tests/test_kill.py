"""Killed runs lose nothing: real subprocesses (``python -m toolkit ...``) killed with SIGKILL at
random moments (fixed seeds), and Ctrl-C (SIGINT) or SIGTERM during training.

- write-tfrecords: after a kill the directory is either a complete set (verify passes) or has no
  ``metadata.json`` (readers refuse it); a rerun writes a complete set.
- train-shadownet: the newest checkpoint is complete (every tensor reads), and a rerun restores
  exactly its step, weights, Adam moments and learning rate (tests/test_cli.py checks that the
  rerun then trains on from that step).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_TRAIN

from toolkit.cli import main

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

# write-tfrecords with a slow disk: 10 ms per record and 50 ms per rename, so that random kill times
# land in every phase (shards being written, the commit's renames, the metadata rename).
SLOW_WRITER = """
import os, sys, time
import toolkit.records as records
_example, _replace = records._example, os.replace
def slow_example(*a, **k):
    time.sleep(0.01)
    return _example(*a, **k)
def slow_replace(*a, **k):
    time.sleep(0.05)
    return _replace(*a, **k)
records._example, os.replace = slow_example, slow_replace
from toolkit.cli import main
main(sys.argv[1:], prog_name="crnn-toolkit")
"""


def wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended (rc {proc.returncode}) before {path} appeared: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        if time.time() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def wait_for_glob(directory: Path, pattern: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while not (directory.is_dir() and any(directory.glob(pattern))):
        if proc.poll() is not None or time.time() > deadline:
            raise AssertionError(f"no {pattern} in {directory} (rc {proc.poll()})")
        time.sleep(0.02)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_during_write_tfrecords(tmp_path, tiny_dataset, tiny_char_dict, seed):
    from toolkit.records import DatasetError, read_metadata
    from toolkit.verify import verify_records

    rng = np.random.default_rng(seed)
    rec = tmp_path / "rec"
    args = ["write-tfrecords", "--dataset-dir", str(tiny_dataset), "--char-dict-dir",
            str(tiny_char_dict), "--save-dir", str(rec), "--shard-size", "20"]
    if seed % 2:  # an older complete set of the same dataset is being rewritten
        assert CliRunner().invoke(main, args).exit_code == 0
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, *args], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_glob(rec, ".*.tfrecords.tmp", proc, 120)  # writing has begun
        time.sleep(rng.uniform(0.0, 2.6))  # ~1.5 s of records, ~0.5 s of renames
    finally:
        proc.kill()
        proc.wait()
    if (rec / "metadata.json").exists():
        meta = read_metadata(rec)
        assert verify_records(rec, tiny_char_dict, progress=False).ok
        assert sum(meta["counts"].values()) > 100
    else:
        with pytest.raises(DatasetError, match="no metadata.json"):
            read_metadata(rec)
    # A rerun (told to replace what the killed run left) writes a complete set, no leftovers.
    r = CliRunner().invoke(main, [*args, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert verify_records(rec, tiny_char_dict, progress=False).ok
    assert not list(rec.glob(".*"))


def train_cmd(records, char_dict, model_dir, *extra):
    return [sys.executable, "-m", "toolkit", "train-shadownet", "--dataset-dir", str(records),
            "--char-dict-dir", str(char_dict), "--model-dir", str(model_dir), "--steps", "100000",
            "--batch-size", "4", "--model-size", "tiny", "--checkpoint-every", "3",
            "--eval-every", "100000", "--warmup-steps", "5", *extra]


def restored_state(monkeypatch, records, char_dict, model_dir, steps):
    """Run train() to ``steps`` and return the tf.train.Checkpoint objects it restored into."""
    import tensorflow as tf

    from toolkit.train import TrainConfig, train

    captured = []

    class Capturing(tf.train.Checkpoint):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            captured.append(kwargs)

    with monkeypatch.context() as m:
        m.setattr(tf.train, "Checkpoint", Capturing)
        result = train(records, char_dict, model_dir, progress=False,
                       config=TrainConfig(steps=steps, **TINY_TRAIN))
    return result, captured[0]["model"], captured[0]["optimizer"]


def check_resume(monkeypatch, records, char_dict, model_dir):
    """The newest checkpoint is complete and a rerun restores all of it."""
    import tensorflow as tf

    from toolkit.checkpoints import ModelSpec, latest_checkpoint
    from toolkit.train import make_schedule

    last = latest_checkpoint(model_dir)
    step = int(last.rsplit("-", 1)[1])
    reader = tf.train.load_checkpoint(last)
    saved = {}
    for key in reader.get_variable_to_shape_map():
        value = reader.get_tensor(key)  # every tensor reads: the checkpoint is not half-written
        if key != "_CHECKPOINTABLE_OBJECT_GRAPH":
            saved[key] = np.asarray(value)
    iterations = [v for k, v in saved.items() if k.startswith("optimizer/") and "iterations" in k]
    assert [int(v) for v in iterations] == [step]

    # Rerun to the step it has: nothing is trained, so what was restored is still there to compare.
    result, model, optimizer = restored_state(monkeypatch, records, char_dict, model_dir, step)
    assert result.step == step and result.resumed_from == last
    assert int(optimizer.iterations) == step
    variables = list(model.weights) + list(optimizer.variables)
    slots = [v for v in optimizer.variables if "momentum" in v.name or "velocity" in v.name]
    assert len(slots) == 2 * len(model.trainable_weights)  # Adam's m and v for every weight
    pool = list(saved.values())
    for var in variables:
        value = var.numpy()
        match = next((i for i, s in enumerate(pool)
                      if s.shape == value.shape and np.array_equal(s, value)), None)
        assert match is not None, f"{var.name} was not restored from {last}"
        pool.pop(match)
    assert any(np.abs(s.numpy()).sum() > 0 for s in slots)  # real moments, not fresh zeros
    train_cfg = ModelSpec.load(model_dir).train
    schedule = make_schedule(train_cfg["learning_rate"], train_cfg["warmup_steps"],
                             train_cfg["decay_steps"], train_cfg["min_lr_ratio"])
    assert float(optimizer.learning_rate) == pytest.approx(float(schedule(step)), rel=1e-6)
    return last, step


def kill_and_resume(tmp_path, monkeypatch, records, char_dict, seed):
    rng = np.random.default_rng(seed)
    md = tmp_path / "model"
    proc = subprocess.Popen(train_cmd(records, char_dict, md), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(md / "checkpoints" / "checkpoint", proc, 180)  # the first checkpoint is listed
        time.sleep(rng.uniform(0.0, 2.0))
    finally:
        proc.kill()
        proc.wait()
    _, step = check_resume(monkeypatch, records, char_dict, md)
    assert step >= 3


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_during_training(tmp_path, monkeypatch, tiny_records, tiny_char_dict, seed):
    kill_and_resume(tmp_path, monkeypatch, tiny_records, tiny_char_dict, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])
def test_sigkill_during_training_more_seeds(tmp_path, monkeypatch, tiny_records, tiny_char_dict,
                                            seed):
    kill_and_resume(tmp_path, monkeypatch, tiny_records, tiny_char_dict, seed)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_saves_a_checkpoint(signum, tmp_path, monkeypatch, tiny_records, tiny_char_dict):
    from toolkit.checkpoints import latest_checkpoint

    md = tmp_path / "model"
    # A shell starts background jobs with SIGINT ignored, and Python then never turns SIGINT into
    # KeyboardInterrupt; give the child the default disposition, as a terminal's Ctrl-C finds it.
    proc = subprocess.Popen(train_cmd(tiny_records, tiny_char_dict, md, "--checkpoint-every",
                                      "1000"), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(md / "shadownet.json", proc, 180)
        # Wait for training steps (the progress bar), then interrupt between checkpoints.
        deadline = time.time() + 180
        seen = ""
        while "train-shadownet:" not in seen or "1/" not in seen:
            chunk = os.read(proc.stderr.fileno(), 4096).decode("utf-8", "replace")
            assert chunk and time.time() < deadline, seen
            seen += chunk
        time.sleep(0.5)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = seen + err
    assert proc.returncode != 0
    assert "interrupted: saved" in err, err[-2000:]
    step = int(err.split("interrupted: saved", 1)[1].split("at step", 1)[1].split()[0])
    assert step >= 1 and step % 1000 != 0  # not a scheduled checkpoint
    assert latest_checkpoint(md).endswith(f"ckpt-{step}")
    check_resume(monkeypatch, tiny_records, tiny_char_dict, md)
