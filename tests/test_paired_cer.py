"""tools/paired_cer.py: per-line errors and the paired bootstrap interval of a CER difference."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def paired(load_tool):
    return load_tool("paired_cer")


def test_line_errors_normalize_as_compare_does(paired):
    errors, chars = paired.line_errors(["春风 明月", "ABC", ""], ["春风明月", "ＡＢＤ", "江河"])
    assert errors.tolist() == [0, 1, 2] and chars.tolist() == [4, 3, 2]


def test_interval_holds_zero_for_equal_models_and_not_for_a_clear_gap(paired):
    rng = np.random.default_rng(1)
    chars = rng.integers(8, 20, size=400)
    a = rng.binomial(chars, 0.06)
    same = paired.paired_bootstrap(a, a, chars)
    assert same == (0.0, 0.0, 0.0)
    noisy = paired.paired_bootstrap(a, rng.binomial(chars, 0.06), chars)
    assert noisy[1] < 0 < noisy[2]  # two draws of the same error rate: within noise
    worse = paired.paired_bootstrap(a, rng.binomial(chars, 0.12), chars)
    assert 0.04 < worse[0] < 0.08 and worse[1] > 0
    assert worse[1] <= worse[0] <= worse[2]
    with pytest.raises(ValueError, match="same lines"):
        paired.paired_bootstrap(a, a[:-1], chars)


def test_sets_that_cannot_be_told_apart_are_refused_before_any_model_loads(paired, tmp_path):
    for top in ("a", "b"):
        (tmp_path / top / "s1").mkdir(parents=True)
        (tmp_path / top / "s1" / "pillow.txt").write_text("x.png 春风\n", encoding="utf-8")
    with pytest.raises(ValueError, match="would both be the set 's1/pillow'"):
        paired.main(["--model-a", str(tmp_path / "no-model"), "--model-b", str(tmp_path / "no-model"),
                     "--labels", str(tmp_path / "a" / "s1" / "pillow.txt"),
                     "--labels", str(tmp_path / "b" / "s1" / "pillow.txt")])


def test_a_baseline_name_pairs_that_engine_and_a_path_the_toolkit(paired, tmp_path, monkeypatch, capsys):
    import toolkit.compare as compare

    made = []

    def fake_engine(name, weights_path=None):
        made.append((name, weights_path))
        # tesseract reads every line right; the "model" misses the last char of each
        def read(images):
            return list(texts) if name == "tesseract" else [t[:-1] for t in texts]
        return compare.Engine(name, name, read, None)

    texts = ["春风明月", "江河湖海"]
    from PIL import Image
    lines = []
    for i, text in enumerate(texts):
        Image.new("L", (40, 10), 255).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png\t{text}")
    (tmp_path / "set.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(compare, "make_engine", fake_engine)
    assert paired.main(["--model-a", "tesseract", "--model-b", "runs/m", "--labels",
                        str(tmp_path / "set.txt"), "--resamples", "50"]) == 0
    assert made == [("tesseract", None), ("toolkit", "runs/m")]
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| set | 2 ")]
    assert row == ["| set | 2 | 0.0000 | 0.2500 | +0.2500 (+0.2500 .. +0.2500) | 0 / 2 |"]
