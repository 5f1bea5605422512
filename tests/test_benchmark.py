"""tools/benchmark.py: table formatting, target logic, section parsing and one tiny section run.

No timing is asserted: the benchmark prints numbers, these tests check behaviour.
"""

import argparse
import sys

import pytest


@pytest.fixture(scope="module")
def bench(load_tool):
    return load_tool("benchmark")


def test_ratio_row_pass_fail_and_unmeasured(bench):
    ok = bench.ratio_row("synth", "a / b", 30.0, 2.0, 10)
    assert ok.ratio == pytest.approx(15.0) and ok.passed is True
    bad = bench.ratio_row("synth", "a / b", 10.0, 2.0, 10)
    assert bad.ratio == pytest.approx(5.0) and bad.passed is False
    missing = bench.ratio_row("synth", "a / b", None, 2.0, 10, "trdg failed")
    assert missing.value is None and missing.passed is None and missing.note == "trdg failed"
    assert bench.ratio_row("synth", "a / b", 1.0, 0.0, 1).passed is None


def test_table_and_report(bench):
    rows = [bench.Row("tfrecords", "write", 1234.5, "images/s"),
            bench.ratio_row("synth", "gen / trdg", 12.0, 1.0, 10),
            bench.Row("input", "stub", None, "x", ">= 0.95x", note="not implemented yet")]
    table = bench.format_table(rows)
    lines = table.splitlines()
    assert len(lines) == 2 + len(rows)
    assert "| write | 1234 | images/s |" in lines[2]
    assert "PASS" in lines[3] and ">= 10x" in lines[3]
    assert "n/a" in lines[4] and "not implemented yet" in lines[4]
    report = bench.markdown_report(rows, "python tools/benchmark.py --quick", note="under load")
    assert "`python tools/benchmark.py --quick`" in report
    assert f"{bench.cpu_model()}" in report and "logical cores" in report
    assert "under load" in report and table in report
    assert report.startswith("## input, synth, tfrecords\n")  # no sections given: those of the rows


def test_report_parts_are_replaced_by_sections(bench):
    rows = [bench.Row("synth", "render", 10.0, "images/s")]
    first = bench.merge_report(None, bench.markdown_report(rows, "cmd a", sections=["synth"]))
    assert first.startswith(bench.REPORT_TITLE) and first.count("\n## ") == 1
    ft = bench.markdown_report([bench.Row("finetune", "fine-tune, 5 min", 0.2, "CER")], "cmd b",
                               sections=["finetune"])
    both = bench.merge_report(first, ft)
    assert both.count("\n## ") == 2 and "cmd a" in both and "cmd b" in both
    again = bench.markdown_report([bench.Row("synth", "render", 20.0, "images/s")], "cmd c",
                                  sections=["synth"])
    merged = bench.merge_report(both, again)
    assert merged.count("\n## ") == 2 and "cmd a" not in merged and "cmd c" in merged
    assert merged.index("## synth") < merged.index("## finetune")  # replaced in place
    assert "| 20" in merged and "| 10" not in merged
    full = bench.markdown_report([bench.Row("synth", "render", 30.0, "images/s")], "cmd d",
                                 sections=list(bench.SECTIONS))
    assert bench.merge_report(merged, full).count("\n## ") == 1  # a full run replaces every part


def test_parse_sections(bench):
    assert bench.parse_sections("memory,synth") == ["synth", "memory"]  # kept in section order
    with pytest.raises(argparse.ArgumentTypeError, match="bogus"):
        bench.parse_sections("synth,bogus")
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["--only", "nope"])


def test_generated_texts_are_the_gen_images_labels_in_image_order(bench, tmp_path):
    from toolkit.synth import gen_images

    gen_images([bench.CORPUS], [str(bench.FONT)], tmp_path / "g", 12, seed=3, workers=1,
               progress=False)
    texts = bench.generated_texts(tmp_path / "g")
    lines = []
    for split in ("Train", "Test"):
        lines += (tmp_path / "g" / split / "sample.txt").read_text(encoding="utf-8").splitlines()
    by_name = dict(line.split(" ", 1) for line in lines)
    assert len(texts) == 12
    assert texts == [by_name[name] for name in sorted(by_name)]
    with pytest.raises(ValueError, match="listed no text"):
        bench.generated_texts(tmp_path)


@pytest.mark.slow
def test_input_and_precision_sections_measure_and_report(bench, tmp_path):
    out = tmp_path / "BENCH.md"
    rows = bench.main(["--quick", "--only", "input,precision", "--output", str(out),
                       "--workdir", str(tmp_path / "work")])
    by_metric = {r.metric: r for r in rows}
    assert {r.section for r in rows} == {"input", "precision"}
    assert "section failed" not in by_metric
    for metric in ("train step fed from memory", "train step fed from TFRecords (tf.data)",
                   "train step, small, float32", "train step, shadownet, float32"):
        assert by_metric[metric].value > 0, metric
    bf16 = by_metric["train step, shadownet, mixed_bfloat16"]
    if bench._bf16_native():
        assert bf16.value > 0
    else:  # emulated bfloat16 is not timed, and the row says so
        assert bf16.value is None and bf16.note == bench.NO_BF16
    ratio = by_metric["TFRecord-fed / in-memory, all steps"]
    assert ratio.value == pytest.approx(by_metric["train step fed from TFRecords (tf.data)"].value
                                        / by_metric["train step fed from memory"].value)
    cers = [r for r in rows if r.unit == "CER" and r.metric.startswith("validation CER")]
    assert len(cers) == 2 and all(0.0 <= r.value <= 1.5 for r in cers if r.value is not None)
    assert by_metric["validation CER after 10 steps, float32"].value is not None
    text = out.read_text(encoding="utf-8")
    assert "--only input,precision" in text and "small: mixed_bfloat16 / float32 images/s" in text


def test_peak_rss_of_a_child(bench):
    # A child that allocates ~64 MiB must report a peak above that; a failing child raises.
    mib, rc = bench.peak_rss_mib([sys.executable, "-c", "b = bytearray(64 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    assert rc == 0 and mib > 64
    with pytest.raises(RuntimeError, match="failed"):
        bench.peak_rss_mib([sys.executable, "-c", "raise SystemExit(3)"])


def test_mixed_corpus_and_grown_charset(bench, tmp_path):
    from toolkit.charset import Charset

    src = tmp_path / "src.txt"
    src.write_text("春风明月\t12\n\n人山水花\n江河天云\n", encoding="utf-8")
    out = bench.mixed_corpus(src, tmp_path / "mixed.txt", lines=2, seed=1)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    for line, base in zip(lines, ("春风明月", "人山水花"), strict=True):
        assert "".join(c for c in line if not c.isascii()) == base  # tokens put in, text kept
        assert any(c.isascii() and c.isalnum() for c in line)
    source = Charset.from_chars("春风明月人山水花江河天云")
    grown = bench.grown_charset(source, out)
    assert grown.chars[:12] == source.chars[:12] and " " in grown
    new = set(grown.chars[12:]) - {" "}
    assert new == {c for c in "".join(lines) if c.isascii()}
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no text"):
        bench.mixed_corpus(empty, tmp_path / "x.txt", lines=5)


def test_parse_minutes(bench):
    assert bench.parse_minutes("15,5, 30") == [5.0, 15.0, 30.0]
    for bad in ("", "5,x", "0,5"):
        with pytest.raises(argparse.ArgumentTypeError, match="positive minutes"):
            bench.parse_minutes(bad)


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_run_with_budget_stops_the_command_with_sigterm(bench, tmp_path, clock):
    # A child that spins until SIGTERM, then writes a file (as train-shadownet saves a checkpoint).
    marker = tmp_path / f"stopped-{clock}"
    script = ("import signal, sys, time\n"
              "def stop(*_):\n"
              f"    open({str(marker)!r}, 'w').write('x'); sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, stop)\n"
              "while True: sum(range(10000))\n")
    used = bench.run_with_budget([sys.executable, "-c", script], 1.0, clock, tmp_path / "log",
                                 poll_s=0.05)
    assert marker.exists()
    assert 1.0 <= used < 30
    done = bench.run_with_budget([sys.executable, "-c", "pass"], 60.0, clock, tmp_path / "log")
    assert done < 30  # a command that ends by itself is not signalled
    with pytest.raises(ValueError, match="clock must be"):
        bench.run_with_budget([sys.executable, "-c", "pass"], 1.0, "gpu", tmp_path / "log")


@pytest.mark.slow
def test_finetune_section_scores_both_runs(bench, tmp_path, tiny_model, tiny_corpus):
    # The tiny model as the source, its corpus with digits and letters mixed in, a font that has
    # both; budgets of CPU seconds that cover a process start and some steps.
    rows = bench.main(["--only", "finetune", "--no-output", "--workdir", str(tmp_path / "w"),
                       "--finetune-from", str(tiny_model), "--finetune-font", str(bench.FONT),
                       "--finetune-corpus", str(tiny_corpus), "--finetune-lines", "12",
                       "--finetune-images", "120", "--finetune-budgets", "0.4",
                       "--scratch-budgets", "0.4", "--finetune-clock", "cpu",
                       "--finetune-precision", "float32"])
    by_metric = {r.metric: r for r in rows}
    assert "section failed" not in by_metric, by_metric.get("section failed")
    start = by_metric["source weights mapped to the new charset, no step"]
    assert 0 <= start.value <= 1.5 and "dropped 0" in start.note and "added" in start.note
    for name in ("fine-tune, 0.4 CPU min", "scratch, 0.4 CPU min"):
        assert by_metric[name].value is not None and 0 <= by_metric[name].value <= 1.5, name
        assert "step " in by_metric[name].note
    target = by_metric["fine-tune at 0.4 CPU min vs scratch at 0.4 CPU min"]
    assert target.value == by_metric["fine-tune, 0.4 CPU min"].value
    assert target.passed is (target.value < by_metric["scratch, 0.4 CPU min"].value)
    assert (tmp_path / "w" / "finetune" / "model-fine-tune" / "shadownet.json").exists()
