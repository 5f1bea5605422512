"""int8 export without a record set: calibration lines rendered from the model's charset with the
bundled corpus and fonts (toolkit.calibration), and the export command that uses them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from toolkit.calibration import (
    MIN_CHARS,
    calibration_texts,
    rendered_calibration_images,
)
from toolkit.cli import main


def test_texts_are_windows_of_corpus_runs_of_usable_chars():
    lines = ["春风又绿江南岸", "明月何时照我还", "山", "x"]
    texts, from_corpus = calibration_texts("春风绿江明月", lines, 50, 4,
                                           np.random.default_rng(0))
    assert from_corpus and len(texts) == 50
    runs = ["春风", "绿江", "明月"]  # the runs of >= 2 usable chars in those lines
    assert all(any(t in r for r in runs) and MIN_CHARS <= len(t) <= 4 for t in texts)
    assert set(texts) == set(runs)  # every run drawn in 50 tries


def test_texts_fall_back_to_the_charset_without_corpus_runs():
    texts, from_corpus = calibration_texts("春风", ["山水", "春山风水"], 20, 5,
                                           np.random.default_rng(1))
    assert not from_corpus and len(texts) == 20
    assert all(set(t) <= set("春风") and MIN_CHARS <= len(t) <= 5 for t in texts)
    assert len(set(texts)) > 5
    with pytest.raises(ValueError, match="no char of the model's charset"):
        calibration_texts("", ["春风"], 3, 5, np.random.default_rng(1))


def test_rendered_lines_look_like_model_inputs_and_repeat_with_the_seed(tiny_char_dict,
                                                                       tiny_corpus, tiny_font):
    from toolkit.charset import Charset

    charset = Charset.load(tiny_char_dict)
    a = rendered_calibration_images(charset, 96, 6, seed=3, corpora=[tiny_corpus],
                                    fonts=[tiny_font])
    assert len(a.images) == 6 and a.texts_from == "corpus"
    for x in a.images:
        assert x.shape == (1, 32, 96, 1) and x.dtype == np.float32
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.std() > 0.05  # ink on paper
    b = rendered_calibration_images(charset, 96, 6, seed=3, corpora=[tiny_corpus],
                                    fonts=[tiny_font])
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images))
    assert a.describe() == {"source": "rendered", "lines": 6, "texts_from": "corpus",
                            "corpora": [tiny_corpus.name], "fonts": [tiny_font.name]}


def test_export_int8_without_a_dataset_calibrates_on_rendered_lines(tiny_model, tmp_path):
    from toolkit.backends import TFLiteBackend

    out = tmp_path / "crnn_int8.tflite"
    r = CliRunner().invoke(main, ["export", "--weights-path", str(tiny_model), "--format",
                                  "tflite", "--quantize", "int8", "--width", "96",
                                  "--calibration-lines", "12", "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "calibrating int8 on 12 lines rendered from the model's charset" in r.stderr
    info = json.loads((tmp_path / "crnn_int8.export.json").read_text(encoding="utf-8"))
    calibration = info["calibration"]
    assert calibration["source"] == "rendered" and calibration["lines"] == 12
    assert calibration["texts_from"] == "corpus"  # the tiny chars occur in the bundled Song ci
    assert calibration["corpora"] == ["songci.txt"] and calibration["fonts"]
    lite = TFLiteBackend(out)
    kernels = [d for d in lite.interpreter.get_tensor_details()
               if len(d["shape"]) == 4 and d["shape"][0] > 1]  # conv kernels, not the input
    assert kernels and all(d["dtype"] == np.int8 for d in kernels)
