"""Reliability of the data stages and of reading (issue 21 items 1, 3, 6-9; issue 19 part 4).

Each test reproduces a failure seen before the fix: gen-images runs colliding on one output
directory, a worker killed as the out-of-memory killer does, decompression-bomb images, an
``--overwrite`` that deleted the user's own files, stray spaces in labels, empty predictions
reported at high confidence, and demo over a directory stopping at its first bad file. Process
tests use real subprocesses (``python -m toolkit`` or a small script that slows rendering down).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import main

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}

# gen-images with slow rendering (20 ms an image), so a test can act while the pool works. The
# patch sits at module level: spawn workers re-import this file as __mp_main__ and get it too.
SLOW_GEN = """
import sys, time
import toolkit.synth.pool as pool
_render_line = pool.render_line
def slow_render_line(*args, **kwargs):
    time.sleep(0.02)
    return _render_line(*args, **kwargs)
pool.render_line = slow_render_line
if __name__ == "__main__":
    from toolkit.cli import main
    main(sys.argv[1:], prog_name="crnn-toolkit")
"""


def _children(pid: int) -> list[int]:
    """PIDs of the live child processes of ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _count_images(out: Path) -> int:
    return sum(1 for _ in (out / "images").rglob("*.jpg")) if (out / "images").is_dir() else 0


def _wait(condition, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"process ended (rc {proc.returncode}) before {what}: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        if time.time() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.02)


def _gen_args(corpus: Path, font: Path, out: Path, num: int, *extra: str) -> list[str]:
    return ["gen-images", "--corpus", str(corpus), "--font", str(font), "--output-dir", str(out),
            "--num-images", str(num), "--seed", "5", *extra]


def _files(root: Path) -> dict[str, bytes]:
    skip = {"gen_config.json", ".crnn-toolkit.lock"}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in skip}


# -- item 3: a dead worker ------------------------------------------------------------------------


def test_killed_worker_stops_gen_images_and_a_rerun_completes_it(tmp_path, tiny_corpus, tiny_font):
    script = tmp_path / "slow_gen.py"
    script.write_text(SLOW_GEN, encoding="utf-8")
    out = tmp_path / "out"
    args = _gen_args(tiny_corpus, tiny_font, out, 400, "--workers", "2")
    proc = subprocess.Popen([sys.executable, str(script), *args], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(lambda: _count_images(out) >= 40, proc, 120, "40 images")
        workers = [p for p in _children(proc.pid) if "spawn_main" in _cmdline(p)
                   and "resource_tracker" not in _cmdline(p)]
        assert len(workers) == 2, [_cmdline(p) for p in _children(proc.pid)]
        os.kill(workers[0], signal.SIGKILL)  # what the out-of-memory killer does
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("gen-images still waits 60 s after one of its workers was killed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    assert "worker process" in stderr and "died" in stderr, stderr
    assert "not written" in stderr and "images/0000/" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    assert all(not Path(f"/proc/{p}").exists() or _cmdline(p) == "" for p in workers)
    assert not (out / "gen_config.json").exists()

    rerun = subprocess.run([sys.executable, "-m", "toolkit", *args], env=ENV, text=True,
                           capture_output=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "resum" in rerun.stderr, rerun.stderr
    assert "images: 400 written of 400 requested" in rerun.stdout

    whole = tmp_path / "whole"
    result = CliRunner().invoke(main, _gen_args(tiny_corpus, tiny_font, whole, 400))
    assert result.exit_code == 0, result.output
    assert _files(out) == _files(whole)


# -- item 1: two gen-images runs on one output directory ------------------------------------------


def test_second_gen_images_on_a_busy_output_dir_is_refused_by_the_lock(tmp_path, tiny_corpus,
                                                                       tiny_font):
    script = tmp_path / "slow_gen.py"
    script.write_text(SLOW_GEN, encoding="utf-8")
    out = tmp_path / "out"
    args = _gen_args(tiny_corpus, tiny_font, out, 150, "--overwrite")
    first = subprocess.Popen([sys.executable, str(script), *args], env=ENV, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(lambda: _count_images(out) >= 5, first, 120, "5 images")
        second = CliRunner().invoke(main, args)
        _, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.exit_code == 1, second.output
    assert f"is in use by gen-images (pid {first.pid}" in second.output
    assert "No such file" not in second.output
    assert first.returncode == 0, stderr
    listed = (out / "Train" / "sample.txt").read_text(encoding="utf-8").splitlines()
    listed += (out / "Test" / "sample.txt").read_text(encoding="utf-8").splitlines()
    assert len(listed) == 150 and all((out / line.split(" ")[0]).is_file() for line in listed)
    assert not (out / ".crnn-toolkit.lock").exists()


def test_gen_images_takes_over_the_lock_of_a_dead_run(tmp_path, tiny_corpus, tiny_font):
    from toolkit.locks import LOCK_FILE, LockOwner

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    owner = LockOwner.of_this_process("gen-images")
    stale = LockOwner(**{**owner.__dict__, "pid": int(dead.stdout), "process_start": None})
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text(stale.to_json(), encoding="utf-8")
    result = CliRunner().invoke(main, _gen_args(tiny_corpus, tiny_font, out, 10))
    assert result.exit_code == 0, result.output
    assert f"taking over the lock of gen-images (pid {dead.stdout.strip()}" in result.output
    assert not (out / LOCK_FILE).exists()


# -- item 7: --overwrite deletes only what gen-images wrote --------------------------------------


def test_overwrite_keeps_the_users_own_files_and_names_the_flag(tmp_path, tiny_corpus, tiny_font):
    out = tmp_path / "out"
    photos = [out / "images" / "holiday.jpg", out / "images" / "0000" / "mine.png",
              out / "Train" / "notes.txt"]
    for photo in photos:
        photo.parent.mkdir(parents=True, exist_ok=True)
        photo.write_bytes(b"the user's own file")
    refused = CliRunner().invoke(main, _gen_args(tiny_corpus, tiny_font, out, 30))
    assert refused.exit_code == 1
    assert "pass --overwrite" in refused.output and "overwrite=True" not in refused.output
    assert "--output-dir" in refused.output

    for num in (30, 10):
        result = CliRunner().invoke(main, _gen_args(tiny_corpus, tiny_font, out, num,
                                                    "--overwrite"))
        assert result.exit_code == 0, result.output
        assert all(p.read_bytes() == b"the user's own file" for p in photos)
        assert "kept 2 file(s) that no gen-images list" in result.output
    assert sorted(p.name for p in (out / "images" / "0000").glob("*.jpg")) == \
        [f"{i:08d}.jpg" for i in range(10)]  # images 10-29 of the first run were deleted

    # A shard run replaces only its own lists; the merge's lists name every shard's images.
    assert CliRunner().invoke(main, _gen_args(tiny_corpus, tiny_font, out, 10, "--overwrite",
                                              "--num-shards", "2")).exit_code == 0
    assert CliRunner().invoke(main, _gen_args(tiny_corpus, tiny_font, out, 10, "--overwrite",
                                              "--num-shards", "2", "--shard-index",
                                              "1")).exit_code == 0
    assert CliRunner().invoke(main, ["merge-shards", str(out)]).exit_code == 0
    result = CliRunner().invoke(main, _gen_args(tiny_corpus, tiny_font, out, 4, "--overwrite"))
    assert result.exit_code == 0, result.output
    assert not (out / "shards").exists()
    assert all(p.read_bytes() == b"the user's own file" for p in photos)
    assert len(list((out / "images" / "0000").glob("*.jpg"))) == 4


# -- item 6: decompression bombs ------------------------------------------------------------------


def _bomb_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit all-black PNG of ``width x height`` px: tiny on disk, huge decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row * 1000) for _ in range(height // 1000))
    body += packer.compress(row * (height % 1000)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body)
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> list[Path]:
    """The issue's 40000x40000 PNG (Pillow itself refuses it) and a 9000x6000 one (54 Mpx: under
    Pillow's own limit, over the toolkit's)."""
    folder = tmp_path_factory.mktemp("bombs")
    return [_bomb_png(folder / "bomb_40000.png", 40000, 40000),
            _bomb_png(folder / "bomb_54m.png", 9000, 6000)]


def test_decompression_bombs_are_bad_items_that_skip_bad_skips(tmp_path, tiny_dataset,
                                                             tiny_char_dict, bombs):
    import shutil

    assert bombs[0].stat().st_size < 400_000
    data = tmp_path / "data"
    lines = (tiny_dataset / "Train" / "sample.txt").read_text(encoding="utf-8").splitlines()[:6]
    for line in lines:
        name = line.split(" ")[0]
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_dataset / name, data / name)
    label = lines[0].split(" ", 1)[1]
    for bomb in bombs:
        shutil.copy(bomb, data / "images" / bomb.name)
        lines.append(f"images/{bomb.name} {label}")
    (data / "Train").mkdir()
    (data / "Train" / "sample.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["write-tfrecords", "--dataset-dir", str(data), "--char-dict-dir", str(tiny_char_dict),
            "--save-dir", str(tmp_path / "rec"), "--validation-fraction", "0"]
    stopped = CliRunner().invoke(main, args)
    assert stopped.exit_code == 1, stopped.output
    assert "2 bad line(s)" in stopped.output
    assert "bomb_40000.png: image too large: 40000x40000 px" in stopped.output
    assert "bomb_54m.png: image too large: 9000x6000 px" in stopped.output
    assert "Traceback" not in stopped.output
    skipped = CliRunner().invoke(main, [*args, "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output
    assert "train: 6 examples" in skipped.output and "skipped 2 bad line(s)" in skipped.output


# -- item 9: an empty prediction has confidence 0 -----------------------------------------------


def test_empty_predictions_report_confidence_zero_and_blank(tmp_path, tiny_model):
    import numpy as np
    from PIL import Image

    from toolkit.ctc import greedy_decode, greedy_decode_tf
    from toolkit.predict import demo

    logits = np.zeros((2, 6, 4), np.float32)
    logits[:, :, 3] = 20.0  # every step is a certain blank (class 3)
    logits[1, 2, 1] = 40.0  # ... but one char in line 1
    decoded = greedy_decode(logits, np.array([6, 6]), 3)
    assert decoded[0] == ([], 0.0) and decoded[1][0] == [1] and decoded[1][1] > 0.99
    ids, conf = greedy_decode_tf(logits, np.array([6, 6]), 3)
    assert ids.to_list() == [[], [1]] and conf.numpy()[0] == 0.0 and conf.numpy()[1] > 0.99

    shapes = {"blank.png": (100, 32), "vertical.png": (20, 400), "pixel.png": (1, 1)}
    for name, size in shapes.items():
        Image.new("L", size, 255).save(tmp_path / name)
    results = demo([tmp_path], tiny_model)
    assert len(results) == 3
    empty = [r for r in results if r.text == ""]
    assert empty, "the tiny model is expected to read nothing on blank images"
    assert all(r.confidence == 0.0 and r.blank for r in empty)
    assert all(not r.blank and r.confidence > 0 for r in results if r.text)


# -- issue 19 part 4 (and item 6 in demo): a batch survives bad files ----------------------------


def test_demo_over_a_directory_reports_bad_files_and_reads_the_rest(tmp_path, tiny_dataset,
                                                                    tiny_model, bombs):
    import shutil

    folder = tmp_path / "batch"
    folder.mkdir()
    good = sorted((tiny_dataset / "images" / "0000").glob("*.jpg"))[:3]
    for path in good:
        shutil.copy(path, folder / path.name)
    (folder / "empty.png").write_bytes(b"")
    (folder / "cut.jpg").write_bytes(good[0].read_bytes()[:40])
    shutil.copy(bombs[0], folder / "zbomb.png")
    tsv = tmp_path / "out.tsv"
    result = CliRunner().invoke(main, ["demo", "--image-path", str(folder), "--weights-path",
                                       str(tiny_model), "--output", str(tsv)])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    for bad in ("empty.png", "cut.jpg", "zbomb.png"):
        assert f"{folder / bad}: cannot read image" in result.stderr
    assert "image too large: 40000x40000 px" in result.stderr
    assert "3 of 6 images could not be read" in result.stderr
    printed = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    assert [Path(p).name for p, _, _ in printed] == [p.name for p in good]
    rows = [line.split("\t") for line in tsv.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["path", "text", "confidence", "blank", "error"]
    by_name = {Path(row[0]).name: row for row in rows[1:]}
    assert sorted(by_name) == sorted([p.name for p in good] + ["empty.png", "cut.jpg", "zbomb.png"])
    for path in good:
        assert by_name[path.name][4] == "" and 0 <= float(by_name[path.name][2]) <= 1
    for bad in ("empty.png", "cut.jpg", "zbomb.png"):
        assert by_name[bad][1:4] == ["", "", "0"] and "cannot read image" in by_name[bad][4]


# -- item 8: stray spaces in labels ---------------------------------------------------------------


def _record_labels(save_dir: Path) -> list[str]:
    import tensorflow as tf

    labels = []
    for path in sorted(save_dir.glob("*.tfrecords")):
        for raw in tf.data.TFRecordDataset(str(path)):
            example = tf.train.Example.FromString(raw.numpy())
            labels.append(example.features.feature["label/text"].bytes_list.value[0].decode())
    return sorted(labels)


def test_stray_spaces_in_labels_are_stripped_or_reported(tmp_path, tiny_dataset, tiny_char_dict):
    import shutil

    data = tmp_path / "data"
    names = [line.split(" ")[0] for line in
             (tiny_dataset / "Train" / "sample.txt").read_text(encoding="utf-8").splitlines()[:4]]
    for name in names:
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_dataset / name, data / name)
    (data / "Train").mkdir()
    (data / "Train" / "sample.txt").write_text(
        f"{names[0]}  春风\n"        # two separators: a leading space
        f"{names[1]} 明月 \n"        # a trailing space
        f"{names[2]}\t山水\u3000\n"   # a trailing ideographic space after a tab
        f"{names[3]} 江  河\n",      # a doubled space inside
        encoding="utf-8")
    base = ["write-tfrecords", "--dataset-dir", str(data), "--char-dict-dir", str(tiny_char_dict),
            "--validation-fraction", "0"]

    stopped = CliRunner().invoke(main, [*base, "--save-dir", str(tmp_path / "a")])
    assert stopped.exit_code == 1, stopped.output
    assert "1 bad line(s)" in stopped.output
    assert "sample.txt:4: label '江  河'" in stopped.output and "--keep-spaces" in stopped.output
    assert "stripped leading or trailing whitespace from 3 label(s)" in stopped.output
    assert "sample.txt:1" in stopped.output

    skipped = CliRunner().invoke(main, [*base, "--save-dir", str(tmp_path / "b"), "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output
    assert _record_labels(tmp_path / "b") == sorted(["春风", "明月", "山水"])

    kept = CliRunner().invoke(main, [*base, "--save-dir", str(tmp_path / "c"), "--keep-spaces"])
    assert kept.exit_code == 0, kept.output
    assert _record_labels(tmp_path / "c") == sorted(["春风", "明月", "山水", "江  河"])
