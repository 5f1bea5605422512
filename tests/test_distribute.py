"""tf.distribute training on CPU: TF_CONFIG parsing, mirrored over two logical CPU devices, and two
local multi-worker processes. Strategies are set up before TensorFlow starts, so the training runs
in subprocesses (tests/dist_helper.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN

from toolkit.distribute import DistributeError, read_tf_config, resolve_strategy_name

HELPER = Path(__file__).parent / "dist_helper.py"
TIMEOUT_S = 480  # a bound, not a timing: the machine may be shared


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **extra)
    return env


def _result(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout[-2000:]
    return json.loads(lines[-1][len("RESULT "):])


def _two_workers(tf_config_ports, args, tmpdir: Path) -> list[tuple[int, str, str]]:
    """Run the helper as worker 0 and worker 1 of a local cluster; return (rc, stdout, stderr)."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in tf_config_ports]}
    procs = []
    for index in range(2):
        conf = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, str(HELPER), "worker", *map(str, args)], cwd=HELPER.parent,
            env=_env(TF_CONFIG=conf, TMPDIR=str(tmpdir)), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=TIMEOUT_S)
            out.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return out


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_tf_config_is_checked():
    two = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    assert read_tf_config({}) is None
    assert read_tf_config({"TF_CONFIG": json.dumps(two)})["task"]["index"] == 1
    assert resolve_strategy_name("auto", {"TF_CONFIG": json.dumps(two)}) == "multi-worker"
    with pytest.raises(DistributeError, match="not valid JSON"):
        read_tf_config({"TF_CONFIG": "{worker: 1"})
    with pytest.raises(DistributeError, match="no 'cluster'"):
        read_tf_config({"TF_CONFIG": '{"task": {"type": "worker", "index": 0}}'})
    bad_task = {**two, "task": {"type": "worker", "index": 2}}
    with pytest.raises(DistributeError, match="not in its cluster"):
        read_tf_config({"TF_CONFIG": json.dumps(bad_task)})
    with pytest.raises(DistributeError, match="needs the TF_CONFIG"):
        resolve_strategy_name("multi-worker", {})
    with pytest.raises(DistributeError, match="strategy must be one of"):
        resolve_strategy_name("horovod", {})


@pytest.mark.slow
def test_mirrored_two_cpus_matches_one_device_and_resumes(tmp_path, tiny_records, tiny_char_dict):
    from toolkit.train import TrainConfig, train

    md = tmp_path / "m"
    proc = subprocess.run([sys.executable, str(HELPER), "mirrored", str(tiny_records),
                           str(tiny_char_dict), str(md)], cwd=HELPER.parent, env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = _result(proc.stdout)
    # The same global batches on 1 device and on 2 replicas (4 lines each): same losses, weights.
    assert r["replicas"] == [1, 2] and r["batches"] >= 2
    one, two = r["losses"]
    np.testing.assert_allclose(two, one, rtol=1e-4)
    assert one[-1] < one[0]  # it did train
    assert r["max_weight_diff"] < 1e-4 * max(1.0, r["max_weight"]), r
    # train() itself: the per-replica batch is logged, checkpoints are ordinary ones.
    assert "2 replica(s); global batch 8 = 4 per replica" in proc.stderr
    assert r["step"] == 4 and r["train_replicas"] == 2 and r["checkpoint"].endswith("ckpt-4")
    resumed = train(tiny_records, tiny_char_dict, md, progress=False, strategy="one-device",
                    config=TrainConfig(steps=6, **TINY_TRAIN))
    assert resumed.resumed_from.endswith("ckpt-4") and resumed.step == 6


@pytest.mark.slow
def test_two_workers_train_and_resume_from_the_chief(tmp_path, tiny_records, tiny_char_dict):
    md = tmp_path / "m"
    tmpdir = tmp_path / "worker_tmp"
    tmpdir.mkdir()
    runs = _two_workers(_free_ports(2), [tiny_records, tiny_char_dict, md, 4], tmpdir)
    for rc, _, stderr in runs:
        assert rc == 0, stderr[-3000:]
    chief, other = (_result(stdout) for _, stdout, _ in runs)
    assert chief["is_chief"] and not other["is_chief"]
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["step"] == other["step"] == 4
    assert "2 replica(s); global batch 8 = 4 per replica" in runs[0][2]
    # Only the chief wrote the model dir; the other worker's checkpoints were temporary.
    assert sorted(p.name for p in md.iterdir()) == ["char_dict", "checkpoints", "logs",
                                                  "shadownet.json"]
    assert chief["checkpoint"].endswith("ckpt-4") and Path(chief["checkpoint"] + ".index").exists()
    assert list(tmpdir.iterdir()) == []
    # A restart of both workers resumes from the chief's checkpoint, on every worker.
    runs = _two_workers(_free_ports(2), [tiny_records, tiny_char_dict, md, 6], tmpdir)
    for rc, _, stderr in runs:
        assert rc == 0, stderr[-3000:]
    for _, stdout, _ in runs:
        r = _result(stdout)
        assert r["resumed_from"].endswith("ckpt-4") and r["step"] == 6
    assert (md / "checkpoints" / "ckpt-6.index").exists()
