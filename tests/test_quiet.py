"""Quiet by default: no TensorFlow C++ log lines on a command's stderr unless --verbose (or
CRNN_TOOLKIT_VERBOSE) asks for them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit import quiet

REPO = Path(__file__).resolve().parent.parent

# Lines TensorFlow 2.21 printed on a CPU-only machine before the CLI was quiet.
PRE_INIT = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    (b"I0000 00:00:1796165095.550792    8246 port.cc:153] oneDNN custom operations are on. You may "
     b"see slightly different numerical results\n"),
    (b"I0000 00:00:1796165095.551052    8246 cudart_stub.cc:31] Could not find cuda drivers on "
     b"your machine, GPU will not be used.\n"),
]
LATER = [
    (b"E0000 00:00:1796165102.390765    8246 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
     b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"),
    (b"E1231 23:59:59.013353    9073 util.cc:131] oneDNN supports DT_BOOL only on platforms with "
     b"AVX-512.\n"),
    b"W0101 00:00:01.5 17 cpu_allocator_impl.cc:83] Allocation exceeds 10% of free memory.\n",
    (b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, "
     b"output_inference_type: FLOAT32\n"),
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
]
KEPT = [
    b"Traceback (most recent call last):\n",
    b"  File \"/x/train.py\", line 3, in <module>\n",
    (b"F0000 00:00:1796165095.5 8246 cpu_feature_guard.cc:40] The TensorFlow library was compiled "
     b"to use AVX instructions, but these aren't available on your machine.\n"),
    b"INFO toolkit.backends: loaded model (keras, 14 classes)\n",
    b"/x/y.py:12: UserWarning: something\n",
]
NOISE = re.compile(r"^[IWEF]\d{4} |absl::|oneDNN|cuInit|cuda|XNNPACK|fully_quantize|WARNING:absl")


def test_tensorflow_log_lines_are_recognized():
    for line in PRE_INIT + LATER:
        assert quiet.is_tensorflow_log_line(line), line
    for line in KEPT:
        assert not quiet.is_tensorflow_log_line(line), line


def test_filtered_stderr_drops_only_tensorflow_lines(capfd):
    sys.stderr.write("before\n")
    with quiet.filtered_stderr():
        for a, b in zip(PRE_INIT + LATER, KEPT + [b""] * 10):
            os.write(2, a)
            os.write(2, b)
        os.write(2, b"last line without a newline")
    sys.stderr.write("\nafter\n")
    err = capfd.readouterr().err
    assert err == "before\n" + b"".join(KEPT).decode() + "last line without a newline\nafter\n"


def test_verbose_leaves_the_tensorflow_level_alone(monkeypatch):
    from toolkit import cli

    monkeypatch.setattr(quiet, "_quiet", False)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
    cli._setup_logging(True)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and not quiet._quiet
    monkeypatch.setenv(quiet.VERBOSE_ENV, "1")
    cli._setup_logging(False)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and not quiet._quiet
    monkeypatch.setenv(quiet.VERBOSE_ENV, "0")
    cli._setup_logging(False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3" and quiet._quiet
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # the user's own setting is kept
    cli._setup_logging(False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


# Runs the CLI as a console script would, then reports the TensorFlow level it ran under.
_RUN_CLI = ("import os, sys\n"
            "from toolkit.cli import main\n"
            "main(sys.argv[1:], prog_name='crnn-toolkit', standalone_mode=False)\n"
            "print('TF_CPP_MIN_LOG_LEVEL=' + os.environ.get('TF_CPP_MIN_LOG_LEVEL', 'unset'))\n")


def _run_demo(tmp_path, model, image, *options, env_extra=()):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", quiet.VERBOSE_ENV)}
    env.update(env_extra)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", _RUN_CLI, *options, "demo", "--image-path",
                           str(image), "--weights-path", str(model)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False)


def test_a_real_command_prints_no_tensorflow_log_lines(tmp_path, tiny_model, tiny_dataset):
    image = next((tiny_dataset / "images" / "0000").glob("*.jpg"))
    out = _run_demo(tmp_path, tiny_model, image)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{image}\t") and "TF_CPP_MIN_LOG_LEVEL=3" in out.stdout
    noise = [line for line in out.stderr.splitlines() if NOISE.search(line)]
    assert not noise, out.stderr
    assert "INFO toolkit.backends: loaded" in out.stderr  # the toolkit's own log still shows

    verbose = _run_demo(tmp_path, tiny_model, image, "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert "TF_CPP_MIN_LOG_LEVEL=unset" in verbose.stdout  # not forced
    # Which lines TensorFlow logs while loading depends on the CPU (the oneDNN notice only where
    # oneDNN is on by default, i.e. CPUs with AVX-512 VNNI/BF16 or AMX) and on CUDA; a CPU-only
    # build logs at least its CUDA probe. Under --verbose those lines reach stderr untouched.
    shown = [line for line in verbose.stderr.splitlines() if NOISE.search(line)]
    assert shown, verbose.stderr


@pytest.mark.parametrize("value", ["1", "yes"])
def test_verbose_env(monkeypatch, value):
    monkeypatch.setenv(quiet.VERBOSE_ENV, value)
    assert quiet.verbose_from_env()
    monkeypatch.setenv(quiet.VERBOSE_ENV, "0")
    assert not quiet.verbose_from_env()
