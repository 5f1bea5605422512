"""Runs that collide, checkpoints that are damaged, signals that come twice, workers that never
start: each reproduced with real processes where it is about processes.

- one trainer per model directory (toolkit.locks): a second train-shadownet on the same
  --model-dir is refused with the first one named; a dead trainer's lock is taken over;
- a damaged newest checkpoint (missing or truncated files) is skipped with a warning by
  train-shadownet, test-shadownet, demo and export; verify --model-dir reports it;
- a second SIGTERM during the interrupt save does not stop the save;
- a multi-worker peer that never starts: a timeout naming it, and SIGTERM ends the wait.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TINY_TRAIN

from toolkit.cli import main
from toolkit.locks import LOCK_FILE, DirectoryInUseError, DirectoryLock, LockOwner

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
ENV.pop("TF_CONFIG", None)
BOUND_S = 180  # a bound for a subprocess, not a timing: the machine may be shared


def train_cmd(records, char_dict, model_dir, *extra):
    return [sys.executable, "-m", "toolkit", "train-shadownet", "--dataset-dir", str(records),
            "--char-dict-dir", str(char_dict), "--model-dir", str(model_dir),
            "--batch-size", "4", "--checkpoint-every", "3", "--eval-every", "100000",
            "--warmup-steps", "5", *extra]


def read_until(proc: subprocess.Popen, pattern: str, seen: str = "",
               timeout: float = BOUND_S) -> str:
    """Read the process's stderr until the regex ``pattern`` matches what was read (``seen``
    included); return all of it."""
    deadline = time.time() + timeout
    while not re.search(pattern, seen):
        chunk = os.read(proc.stderr.fileno(), 4096).decode("utf-8", "replace")
        if not chunk or time.time() > deadline:
            raise AssertionError(f"{pattern!r} not seen (rc {proc.poll()}): {seen[-3000:]}")
        seen += chunk
    return seen


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


# --- 1. one trainer per model directory --------------------------------------------------------

def test_second_trainer_on_a_model_dir_is_refused_and_a_dead_ones_lock_taken_over(
        tmp_path, tiny_records, tiny_char_dict, caplog):
    from toolkit.checkpoints import ModelSpec, latest_checkpoint
    from toolkit.model import ModelConfig
    from toolkit.train import TrainConfig, train

    md = tmp_path / "model"
    first = subprocess.Popen(train_cmd(tiny_records, tiny_char_dict, md, "--model-size", "tiny",
                                       "--steps", "100000"), env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        read_until(first, "train-shadownet:")  # training (the progress bar)
        # The second run (another model size, as in the report) is refused before it writes.
        second = subprocess.run(train_cmd(tiny_records, tiny_char_dict, md, "--model-size",
                                          "small", "--steps", "6"), env=ENV, capture_output=True,
                                text=True, timeout=BOUND_S, check=False)
        assert second.returncode == 1, second.stderr[-2000:]
        assert f"{md} is in use by train-shadownet (pid {first.pid} on host " \
               f"{socket.gethostname()}" in second.stderr
        assert "command: " in second.stderr and "train-shadownet" in second.stderr
        assert "Traceback" not in second.stderr
        spec = ModelSpec.load(md)  # still the first run's model
        assert spec.model_config == ModelConfig.from_preset("tiny", spec.charset.num_classes)
        deadline = time.time() + BOUND_S
        while not (md / "checkpoints" / "checkpoint").exists():  # the first checkpoint (step 3)
            assert first.poll() is None and time.time() < deadline
            time.sleep(0.05)
    finally:
        stop(first)  # SIGKILL: the lock file stays, naming a dead process
    assert (md / LOCK_FILE).exists()
    step = int(latest_checkpoint(md).rsplit("-", 1)[1])
    result = train(tiny_records, tiny_char_dict, md, progress=False,
                   config=TrainConfig(steps=step + 2, **TINY_TRAIN))
    assert result.step == step + 2
    assert f"taking over the lock of train-shadownet (pid {first.pid}" in caplog.text
    assert not (md / LOCK_FILE).exists()  # released at the end


def _stale_owner(tmp_path: Path) -> LockOwner:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return dataclasses.replace(LockOwner.of_this_process("train-shadownet"), pid=gone.pid)


def test_lock_owner_checks(tmp_path, caplog):
    d = tmp_path / "d"
    with DirectoryLock(d, "gen-images") as lock:
        owner = LockOwner.from_json((d / LOCK_FILE).read_text(encoding="utf-8"))
        assert owner.pid == os.getpid() and owner.host == socket.gethostname()
        assert owner.token == lock.owner.token and owner.purpose == "gen-images"
        with pytest.raises(DirectoryInUseError, match=f"in use by gen-images \\(pid {os.getpid()}"):
            DirectoryLock(d, "train-shadownet").acquire()
    assert not (d / LOCK_FILE).exists()
    # Another process now runs under the recorded PID (here: this one): PID reuse is noticed.
    reused = dataclasses.replace(LockOwner.of_this_process("x"), process_start=1)
    (d / LOCK_FILE).write_text(reused.to_json(), encoding="utf-8")
    with DirectoryLock(d, "y"):
        pass
    assert "taking over the lock of x" in caplog.text
    # An owner on another host cannot be checked: refused, with the file to delete.
    remote = dataclasses.replace(reused, host="gpu-node-7")
    (d / LOCK_FILE).write_text(remote.to_json(), encoding="utf-8")
    with pytest.raises(DirectoryInUseError, match="on host gpu-node-7.*delete .*crnn-toolkit.lock"):
        DirectoryLock(d, "y").acquire()
    # A lock file whose writer died before filling it is stale once it is a few seconds old.
    (d / LOCK_FILE).write_text("", encoding="utf-8")
    old = time.time() - 60
    os.utime(d / LOCK_FILE, (old, old))
    with DirectoryLock(d, "y"):
        pass


RACER = """
import sys, time
from toolkit.locks import DirectoryLock, DirectoryInUseError
start = float(sys.argv[2])
while time.time() < start:
    pass
try:
    lock = DirectoryLock(sys.argv[1], "racer").acquire()
except DirectoryInUseError:
    print("refused")
else:
    print("locked")
    time.sleep(1.0)
    lock.release()
"""


def test_of_racers_on_a_stale_lock_exactly_one_gets_it(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / LOCK_FILE).write_text(_stale_owner(tmp_path).to_json(), encoding="utf-8")
    start = time.time() + 2.0  # all started and importing done by then
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(d), str(start)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=BOUND_S) for p in procs]
    assert sorted(o.strip() for o, _ in outs) == ["locked", "refused", "refused", "refused"], outs
    assert not (d / LOCK_FILE).exists()


# --- 2. damaged checkpoints ---------------------------------------------------------------------

def _damage(prefix: str, how: str) -> None:
    data = Path(prefix + ".data-00000-of-00001")
    if how == "missing-data":
        data.unlink()
    elif how == "truncated-data":
        with open(data, "r+b") as f:
            f.truncate(data.stat().st_size // 2)
    elif how == "missing-index":
        Path(prefix + ".index").unlink()
    elif how == "corrupt-data":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        data.write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["missing-data", "truncated-data", "missing-index"])
def test_damaged_newest_checkpoint_falls_back_to_the_newest_complete_one(
        how, tmp_path, tiny_model, tiny_records, tiny_char_dict, caplog):
    from toolkit.checkpoints import CheckpointError, latest_checkpoint, load_model
    from toolkit.train import TrainConfig, train

    md = tmp_path / "model"
    shutil.copytree(tiny_model, md)
    newest = str(md / "checkpoints" / "ckpt-10")
    _damage(newest, how)
    assert latest_checkpoint(md).endswith("ckpt-5")
    assert "ckpt-10" in caplog.text and "damaged" in caplog.text
    _, _, prefix = load_model(md)  # what demo, test-shadownet and export use
    assert prefix.endswith("ckpt-5")
    # The damaged checkpoint asked for by name is refused, naming the complete one.
    with pytest.raises(CheckpointError, match="ckpt-10.*damaged.*ckpt-5"):
        load_model(newest)
    # train-shadownet resumes from the newest complete checkpoint and trains on.
    result = train(tiny_records, tiny_char_dict, md, progress=False,
                   config=TrainConfig(steps=7, **TINY_TRAIN))
    assert result.resumed_from.endswith("ckpt-5") and result.step == 7
    caplog.clear()  # the new checkpoint is the newest: nothing skipped any more
    assert latest_checkpoint(md).endswith("ckpt-7") and "damaged" not in caplog.text


def test_cli_readers_and_verify_on_a_damaged_model_dir(tmp_path, tiny_model, tiny_dataset,
                                                       tiny_records):
    md = tmp_path / "model"
    shutil.copytree(tiny_model, md)
    runner = CliRunner()
    r = runner.invoke(main, ["verify", "--model-dir", str(md)])
    assert r.exit_code == 0 and "OK" in r.output, r.output
    _damage(str(md / "checkpoints" / "ckpt-10"), "corrupt-data")

    r = runner.invoke(main, ["verify", "--model-dir", str(md)])
    assert r.exit_code == 1, r.output
    assert "ckpt-10" in r.output and "ckpt-5" in r.output and "FAILED" in r.output

    image = next((tiny_dataset / "images").rglob("*.jpg"))
    for args in (["demo", "--image-path", str(image)],
                 ["test-shadownet", "--dataset-dir", str(tiny_records)],
                 ["export", "--format", "saved_model", "--output", str(tmp_path / "sm")]):
        r = runner.invoke(main, [*args, "--weights-path", str(md)])
        assert r.exit_code == 0, (args, r.output)
        assert "ckpt-10" in r.output and "ckpt-5" in r.output  # the warning names both
        assert "Traceback" not in r.output

    for name in ("ckpt-5", "ckpt-10"):  # nothing complete left: a clear error, no traceback
        _damage(str(md / "checkpoints" / name), "missing-data")
    r = runner.invoke(main, ["demo", "--image-path", str(image), "--weights-path", str(md)])
    assert r.exit_code == 1 and "no complete checkpoint" in r.output, r.output


# --- 4. a second signal during the interrupt save ----------------------------------------------

# train-shadownet whose checkpoint saves take a second, and say when they start.
SLOW_SAVE = """
import sys, time
import tensorflow as tf
_save = tf.train.CheckpointManager.save
def slow_save(self, *a, **k):
    print("SAVE STARTED", file=sys.stderr, flush=True)
    time.sleep(1.0)
    return _save(self, *a, **k)
tf.train.CheckpointManager.save = slow_save
from toolkit.cli import main
main(sys.argv[1:], prog_name="crnn-toolkit")
"""


def test_second_sigterm_during_the_interrupt_save_is_deferred(tmp_path, tiny_records,
                                                              tiny_char_dict):
    from toolkit.checkpoints import latest_checkpoint

    md = tmp_path / "model"
    args = train_cmd(tiny_records, tiny_char_dict, md, "--model-size", "tiny", "--steps",
                     "100000", "--checkpoint-every", "100000")[3:]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = read_until(proc, r"train-shadownet: .*\| *[1-9]\d*/")  # a step done (traced)
        time.sleep(0.5)  # then between steps
        proc.send_signal(signal.SIGTERM)
        seen = read_until(proc, "SAVE STARTED", seen)
        time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)  # the scheduler again, 20 ms later
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # and the user
        _, rest = proc.communicate(timeout=BOUND_S)
    finally:
        stop(proc)
    err = seen + rest.decode("utf-8", "replace")
    assert proc.returncode != 0
    assert "interrupted: saved" in err, err[-3000:]
    step = int(err.split("interrupted: saved", 1)[1].split("at step", 1)[1].split()[0])
    assert latest_checkpoint(md).endswith(f"ckpt-{step}") and step >= 1
    assert "SIGTERM received again" in err and "Traceback" not in err


# --- 5. a multi-worker peer that never starts ---------------------------------------------------

def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _lone_worker(tmp_path, records, char_dict, index: int, timeout_s: int) -> tuple:
    ports = _free_ports(2)
    conf = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index}}
    cmd = train_cmd(records, char_dict, tmp_path / "model", "--model-size", "tiny", "--steps",
                    "4", "--strategy", "multi-worker", "--worker-timeout", str(timeout_s))
    proc = subprocess.Popen(cmd, env={**ENV, "TF_CONFIG": json.dumps(conf)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, ports


@pytest.mark.parametrize("index", [0, 1])
def test_missing_worker_times_out_naming_it(index, tmp_path, tiny_records, tiny_char_dict):
    proc, ports = _lone_worker(tmp_path, tiny_records, tiny_char_dict, index, 3)
    try:
        _, err = proc.communicate(timeout=BOUND_S)
    finally:
        stop(proc)
    err = err.decode("utf-8", "replace")
    missing = 1 - index
    assert proc.returncode == 1, err[-3000:]
    assert f"worker {missing} (127.0.0.1:{ports[missing]}" in err and "within 3 s" in err, err
    assert "--worker-timeout" in err and "Traceback" not in err


def test_sigterm_ends_the_wait_for_workers(tmp_path, tiny_records, tiny_char_dict):
    proc, ports = _lone_worker(tmp_path, tiny_records, tiny_char_dict, 0, 600)
    try:
        seen = read_until(proc, "waiting up to 600 s")
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
        ended_after = time.time() - t0
    finally:
        stop(proc)
    err = seen + rest.decode("utf-8", "replace")
    assert proc.returncode != 0 and ended_after < 30, err[-3000:]
    assert f"worker 1 (127.0.0.1:{ports[1]}" in err.split("waiting up to 600 s", 1)[1]
    assert not (tmp_path / "model" / LOCK_FILE).exists()
