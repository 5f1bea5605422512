"""tools/release_model.py: a weights-only release that loads, scores and checks its own sha256 sums."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def release_tool(load_tool):
    return load_tool("release_model")


def test_release_is_weights_only_loads_and_matches_its_sums(tmp_path, tiny_model, tiny_records,
                                                             tiny_dataset, release_tool):
    from toolkit.predict import Recognizer, load_image

    commands = tmp_path / "commands.sh"
    commands.write_text("crnn-toolkit train-shadownet ...\n", encoding="utf-8")
    out = tmp_path / "release"
    record = release_tool.release(tiny_model, out, tiny_records, commands, "test CPU", 0.01)

    assert record["step"] == 10 and record["images_seen"] == 10 * 8
    assert record["commands"].startswith("crnn-toolkit train-shadownet")
    assert record["test_split"]["count"] > 0
    assert record["validation"]["step"] == 10 and record["validation"]["cer"] >= 0.0
    assert json.loads((out / "RELEASE.json").read_text(encoding="utf-8"))["step"] == 10
    # Every listed file exists and has the listed sha256; the weights are listed.
    sums = (out / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in sums}
    assert "checkpoints/ckpt-10.index" in listed and "shadownet.json" in listed
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    # No optimizer slots: the release checkpoint is smaller than the training one.
    src = sum(p.stat().st_size for p in (tiny_model / "checkpoints").glob("ckpt-10.*"))
    rel = sum(p.stat().st_size for p in (out / "checkpoints").glob("ckpt-10.*"))
    assert rel < 0.6 * src
    # Same predictions from the release and the training checkpoint.
    image = load_image(sorted((tiny_dataset / "images").rglob("*.jpg"))[0])
    a, _ = Recognizer.from_weights(tiny_model).predict_batch(*_prepared(image))
    b, _ = Recognizer.from_weights(out).predict_batch(*_prepared(image))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def _prepared(image):
    import tensorflow as tf

    from toolkit.preprocess import prepare_tf

    x = prepare_tf(tf.constant(image[:, :, None]))
    return tf.expand_dims(x, 0), tf.constant([x.shape[1]], tf.int32)


BUNDLED = REPO / "model" / "shadownet"


@pytest.mark.skipif(not (BUNDLED / "shadownet.json").exists(), reason="no bundled model committed")
def test_bundled_model_matches_its_sums_and_reads_a_clean_line(tmp_path):
    """The committed release: every file has its recorded sha256, and ``demo`` without
    ``--weights-path`` reads a clean line rendered in a bundled font."""
    from click.testing import CliRunner
    from PIL import Image, ImageDraw, ImageFont

    from toolkit.cli import main

    sums = (BUNDLED / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    for line in sums:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((BUNDLED / name).read_bytes()).hexdigest() == digest, name
    text = "春风明月照江山"
    font = ImageFont.truetype(str(REPO / "fonts" / "NotoSansSC-Regular.otf"), 40)
    # The ink box sets the canvas: 8 px of white on every side, nothing cut off.
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 16, bottom - top + 16), 255)
    ImageDraw.Draw(image).text((8 - left, 8 - top), text, font=font, fill=0)
    path = tmp_path / "line.png"
    image.save(path)
    result = CliRunner().invoke(main, ["demo", "--image-path", str(path)])
    assert result.exit_code == 0, result.output
    printed = [row for row in result.output.splitlines() if "\t" in row]
    assert printed and printed[-1].split("\t")[1] == text, result.output


def test_last_validation_is_the_last_logged_at_or_before_the_step(tmp_path, release_tool):
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step, cer in ((5, 0.5), (10, 0.4), (15, 0.3)):
            tf.summary.scalar("validation/cer", cer, step=step)
            tf.summary.scalar("validation/line_accuracy", 1 - cer, step=step)
            tf.summary.scalar("loss", 9.0, step=step + 1)
    writer.close()
    last_validation = release_tool.last_validation
    found = last_validation(tmp_path, 12)
    assert found["step"] == 10 and found["cer"] == pytest.approx(0.4) \
        and found["line_accuracy"] == pytest.approx(0.6)
    assert last_validation(tmp_path, 4) is None
    assert last_validation(tmp_path / "none", 20) is None
