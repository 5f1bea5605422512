"""The comparison tool: scoring, normalization, the table, missing peers, and the toolkit engine."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from toolkit import compare as cmp
from toolkit.cli import main


def test_normalize_nfkc_and_whitespace():
    assert cmp.normalize("春 风，明\t月") == cmp.normalize("春风,明月") == "春风,明月"
    assert cmp.normalize("　天人。") == "天人。"  # ideographic space removed, 。 kept


def _labelled_set(tmp_path, tiny_dataset, n=12):
    lines = (tiny_dataset / "Test" / "sample.txt").read_text(encoding="utf-8").splitlines()[:n]
    path = tmp_path / "set.txt"
    # Absolute image paths with a tab separator; labels as written by gen-images.
    path.write_text("".join(f"{tiny_dataset / p}\t{label}\n" for p, label in
                            (line.split(" ", 1) for line in lines)), encoding="utf-8")
    return path, [line.split(" ", 1)[1] for line in lines]


def test_run_engine_scores_a_fake_engine(tmp_path, tiny_dataset):
    path, labels = _labelled_set(tmp_path, tiny_dataset)
    names, images, got = cmp.load_labelled_set(path)
    assert got == labels and len(images) == len(names) == len(labels)
    assert all(img.dtype == np.uint8 and img.ndim == 2 for img in images)
    # An engine that answers the label with spaces for half the lines and drops a char on the rest.
    answers = {id(img): (" ".join(lab) if i % 2 else lab[:-1]) for i, (img, lab) in enumerate(zip(images, labels))}
    fake = cmp.Engine("fake", "test", lambda imgs: [answers[id(i)] for i in imgs])
    result = cmp.run_engine(fake, images, labels, latency_lines=3)
    dropped = sum(1 for i in range(len(labels)) if i % 2 == 0)
    assert result.scores.count == len(labels)
    assert result.scores.edits == dropped
    assert result.scores.line_accuracy == pytest.approx(sum(1 for i in range(len(labels)) if i % 2) / len(labels))
    assert result.lines_per_second > 0 and result.latency_ms >= 0
    table = cmp.markdown_table({"set": [result]})
    assert "| set | fake | 12 |" in table and f"{result.scores.cer:.4f}" in table


def test_missing_peers_raise_or_are_skipped(monkeypatch, tmp_path, tiny_dataset, tiny_model):
    monkeypatch.setattr(cmp.shutil, "which", lambda name: None)
    with pytest.raises(cmp.EngineUnavailable, match="apt-get install tesseract-ocr"):
        cmp.make_engine("tesseract")
    with pytest.raises(ValueError, match="nonsense"):
        cmp.make_engine("nonsense")
    path, _ = _labelled_set(tmp_path, tiny_dataset, n=4)
    results = cmp.compare([path], ["toolkit", "tesseract"], tiny_model, skip_unavailable=True,
                          latency_lines=1)
    assert [r.engine.name for r in results["set"]] == ["toolkit"]
    with pytest.raises(cmp.EngineUnavailable):
        cmp.compare([path], ["tesseract"], tiny_model)


def test_compare_cli_with_the_toolkit_engine(tmp_path, tiny_dataset, tiny_model):
    path, _ = _labelled_set(tmp_path, tiny_dataset)
    out = tmp_path / "table.md"
    r = CliRunner().invoke(main, ["compare", "--labels", str(path), "--engines", "toolkit",
                                  "--weights-path", str(tiny_model), "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "| set | toolkit | 12 |" in r.output
    assert out.read_text(encoding="utf-8").startswith("| set | engine |")
    bad = tmp_path / "bad.txt"
    bad.write_text("missing.png\t春风\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["compare", "--labels", str(bad), "--engines", "toolkit",
                                  "--weights-path", str(tiny_model)])
    assert r.exit_code != 0 and "bad.txt:1" in r.output and "missing.png" in r.output


def test_images_shared_by_several_sets_are_read_once(monkeypatch, tmp_path, tiny_dataset):
    path, labels = _labelled_set(tmp_path, tiny_dataset)
    lines = path.read_text(encoding="utf-8").splitlines()
    (tmp_path / "even.txt").write_text("".join(f"{x}\n" for x in lines[::2]), encoding="utf-8")
    (tmp_path / "odd.txt").write_text("".join(f"{x}\n" for x in lines[1::2]), encoding="utf-8")
    calls = []

    def recognize(images):
        calls.append(len(images))
        return ["春"] * len(images)

    monkeypatch.setattr(cmp, "make_engine", lambda name, weights=None: cmp.Engine(name, "", recognize))
    results = cmp.compare([path, tmp_path / "even.txt", tmp_path / "odd.txt"], ["fake"],
                          latency_lines=2)
    assert calls[1] == len(lines)  # after the 2-line warm-up: one batch call on the 12 distinct images
    assert len(calls) == 1 + 1 + 2  # warm-up, batch, two single-line latency calls: no per-set call
    for name, subset in (("set", labels), ("even", labels[::2]), ("odd", labels[1::2])):
        [result] = results[name]
        assert result.scores.count == len(subset) == len(result.predictions)
        expected = cmp.Scores()
        for label in subset:
            expected.add(cmp.normalize(label), "春")
        assert result.scores.edits == expected.edits and result.scores.cer == expected.cer


def test_label_files_with_the_same_name_keep_a_set_each(monkeypatch, tmp_path, tiny_dataset):
    path, labels = _labelled_set(tmp_path, tiny_dataset)
    lines = path.read_text(encoding="utf-8").splitlines()
    for folder, part in (("general", lines[:4]), ("yuanqu", lines[4:10])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "pillow.txt").write_text("".join(f"{x}\n" for x in part), encoding="utf-8")
    a, b = tmp_path / "general" / "pillow.txt", tmp_path / "yuanqu" / "pillow.txt"
    assert cmp.set_names([path, a, b]) == ["set", "general/pillow", "yuanqu/pillow"]
    monkeypatch.setattr(cmp, "make_engine", lambda name, weights=None: cmp.Engine(
        name, "", lambda images: ["春"] * len(images)))
    results = cmp.compare([a, b], ["fake"], latency_lines=1)
    assert {name: r[0].scores.count for name, r in results.items()} == {
        "general/pillow": 4, "yuanqu/pillow": 6}
    with pytest.raises(ValueError, match="pillow.txt.*pillow.txt.*'general/pillow'"):
        cmp.set_names([a, a])
