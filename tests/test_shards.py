"""Job-array sharding of gen-images and write-tfrecords: the merged shards equal one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.shards import find_shards
from toolkit.synth import SynthConfig, gen_images, merge_gen_shards, shard_range

CONFIG = SynthConfig(min_chars=2, max_chars=5, test_fraction=0.3)


def _files(root: Path) -> dict[str, bytes]:
    """Every file under root except the shard pieces, by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "shards" not in p.relative_to(root).parts}


def _pairs(root: Path) -> set[tuple[str, str, bytes]]:
    out = set()
    for split in ("Train", "Test"):
        for line in (root / split / "sample.txt").read_text(encoding="utf-8").splitlines():
            path, text = line.split(" ", 1)
            out.add((text, path, (root / path).read_bytes()))
    return out


@pytest.mark.parametrize("n", [7, 10, 1])
def test_shard_ranges_cover_every_index_once(n):
    for shards in (1, 3, 4, 12):
        blocks = [shard_range(n, i, shards) for i in range(shards)]
        assert [i for b in blocks for i in b] == list(range(n))
        assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    with pytest.raises(ValueError, match="0 <= shard_index < num_shards"):
        shard_range(n, 3, 3)


def test_gen_images_shards_union_equals_one_run(tmp_path, tiny_corpus, tiny_font):
    args = ([tiny_corpus], [str(tiny_font)])
    one = tmp_path / "one"
    whole = gen_images(*args, one, 40, seed=3, config=CONFIG, progress=False)
    three = tmp_path / "three"
    parts = [gen_images(*args, three, 40, seed=3, config=CONFIG, progress=False, shard_index=i,
                        num_shards=3) for i in (2, 0, 1)]  # any order, as a job array runs
    assert sorted(p.num_requested for p in parts) == [13, 13, 14]
    assert not (three / "Train" / "sample.txt").exists()  # nothing merged yet
    merged = merge_gen_shards(three)
    # The same (text, image) pairs, the same file names and bytes, the same lists and preview.
    assert _pairs(three) == _pairs(one) and len(_pairs(one)) == whole.num_written
    a, b = _files(one), _files(three)
    assert a.keys() == b.keys()
    for name in a:
        if name != "gen_config.json":
            assert a[name] == b[name], name
    conf_one, conf_three = (json.loads(d["gen_config.json"]) for d in (a, b))
    assert conf_three.pop("shards") == 3 and conf_three == conf_one
    assert (merged.num_train, merged.num_test, merged.chars_used) == \
        (whole.num_train, whole.num_test, whole.chars_used)


def test_merge_refuses_missing_or_mixed_shards(tmp_path, tiny_corpus, tiny_font):
    args = ([tiny_corpus], [str(tiny_font)], tmp_path / "d", 6)
    gen_images(*args, seed=0, config=CONFIG, progress=False, shard_index=0, num_shards=2)
    with pytest.raises(ValueError, match=r"shard\(s\) \[1\] of 2 missing or unfinished"):
        merge_gen_shards(tmp_path / "d")
    with pytest.raises(FileExistsError, match="already holds gen-images output"):
        gen_images(*args, seed=0, config=CONFIG, progress=False, shard_index=0, num_shards=2)
    gen_images(*args, seed=1, config=CONFIG, progress=False, shard_index=1, num_shards=2)
    with pytest.raises(ValueError, match="seed 1 differs from shard 0's 0"):
        merge_gen_shards(tmp_path / "d")


def test_find_shards_reports_runs_of_several_sizes(tmp_path):
    paths = [tmp_path / "a-00000-of-00002", tmp_path / "a-00000-of-00003"]
    with pytest.raises(ValueError, match="several runs"):
        find_shards(paths, tmp_path, "x")


def _write_jobs(dataset, char_dict, out, n, **kw):
    from toolkit.records import merge_record_shards, write_tfrecords

    for i in reversed(range(n)):
        write_tfrecords(dataset, char_dict, out, shard_size=20, progress=False, shard_index=i,
                        num_shards=n, **kw)
    return merge_record_shards(out)


def test_write_tfrecords_jobs_merge_to_the_same_set(tmp_path, tiny_dataset, tiny_char_dict):
    from toolkit.records import decode_images_np, read_metadata, write_tfrecords

    one, three = tmp_path / "one", tmp_path / "three"
    whole = write_tfrecords(tiny_dataset, tiny_char_dict, one, shard_size=20, progress=False)
    assert len(whole.shards["train"]) >= 3
    merged = _write_jobs(tiny_dataset, tiny_char_dict, three, 3)
    assert merged.counts == whole.counts and merged.shards == whole.shards
    for names in whole.shards.values():
        for name in names:
            assert (one / name).read_bytes() == (three / name).read_bytes(), name
    meta_one, meta_three = read_metadata(one), read_metadata(three)
    assert meta_three.pop("jobs") == 3 and meta_three == meta_one
    assert [r["name"] for r in decode_images_np(three, "train")] == \
        [r["name"] for r in decode_images_np(one, "train")]


def test_record_jobs_count_a_bad_label_line_once(tmp_path, tiny_dataset, tiny_char_dict):
    import shutil

    from toolkit.records import DatasetError, merge_record_shards, write_tfrecords

    ds = tmp_path / "ds"
    shutil.copytree(tiny_dataset, ds)
    with (ds / "Train" / "sample.txt").open("a", encoding="utf-8") as fh:
        fh.write("images/missing.jpg 春风\n")
    with pytest.raises(DatasetError, match="missing.jpg"):
        write_tfrecords(ds, tiny_char_dict, tmp_path / "r", shard_size=20, progress=False,
                        shard_index=0, num_shards=2)
    with pytest.raises(DatasetError, match="no finished write-tfrecords shards"):
        merge_record_shards(tmp_path / "r")
    report = _write_jobs(ds, tiny_char_dict, tmp_path / "r", 2, skip_bad=True)
    meta = json.loads((tmp_path / "r" / "metadata.json").read_text(encoding="utf-8"))
    assert meta["skipped"] == 1 and len(report.skipped) == 1 and "missing.jpg" in report.skipped[0]


def test_merged_record_set_passes_verify_and_keeps_shard_sizes(tmp_path, tiny_dataset,
                                                               tiny_char_dict):
    import shutil

    from toolkit.records import DatasetError, merge_record_shards, read_metadata, write_tfrecords
    from toolkit.verify import verify_records

    ds = tmp_path / "ds"
    shutil.copytree(tiny_dataset, ds)
    with (ds / "Train" / "sample.txt").open("a", encoding="utf-8") as fh:
        fh.write("images/missing.jpg 春风\n")
    rec = tmp_path / "rec"
    _write_jobs(ds, tiny_char_dict, rec, 3, skip_bad=True)
    meta = read_metadata(rec)
    listed = [n for names in meta["shards"].values() for n in names]
    assert sorted(meta["shard_bytes"]) == sorted(listed)
    assert all(meta["shard_bytes"][n] == (rec / n).stat().st_size for n in listed)
    report = verify_records(rec, tiny_char_dict, progress=False)
    assert report.ok, report.format()
    assert sum(report.counts.values()) == sum(meta["counts"].values())
    assert not list(rec.glob(".*.tmp"))

    # Jobs run again over the merged set of the same dataset: accepted, merged again.
    _write_jobs(ds, tiny_char_dict, rec, 2, skip_bad=True)
    assert verify_records(rec, tiny_char_dict, progress=False).ok
    # A job of another dataset is refused while the jobs' files name this one.
    (rec / "metadata.json").unlink()
    other = tmp_path / "other"
    shutil.copytree(tiny_dataset, other)
    with pytest.raises(FileExistsError, match="another dataset"):
        write_tfrecords(other, tiny_char_dict, rec, shard_size=20, progress=False, shard_index=0,
                        num_shards=2)

    # A truncated shard: the merge and the reader refuse it, verify names it.
    _write_jobs(ds, tiny_char_dict, rec, 2, skip_bad=True)
    shard = rec / listed[0]
    shard.write_bytes(shard.read_bytes()[:-7])
    with pytest.raises(DatasetError, match="truncated"):
        read_metadata(rec)
    with pytest.raises(DatasetError, match=listed[0]):
        merge_record_shards(rec)
    assert not verify_records(rec, progress=False).ok


def test_job_array_through_the_cli(tmp_path, tiny_corpus, tiny_font):
    from toolkit.cli import main

    def run(*args):
        r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.output

    ds, cd, rec = tmp_path / "ds", tmp_path / "cd", tmp_path / "rec"
    gen = ["gen-images", "--corpus", tiny_corpus, "--font", tiny_font, "--output-dir", ds,
           "--num-images", 12, "--min-chars", 2, "--max-chars", 4, "--test-fraction", 0.3]
    for i in (1, 0):
        assert "run: crnn-toolkit merge-shards" in run(*gen, "--shard-index", i, "--num-shards", 2)
    assert "images: " in run("merge-shards", ds)
    lines = sum(len((ds / s / "sample.txt").read_text(encoding="utf-8").splitlines())
                for s in ("Train", "Test"))
    assert lines == 12
    run("build-char-dict", "--char-dict-file", ds / "chinese.txt", "--save-dir", cd)
    for i in (0, 1):
        run("write-tfrecords", "--dataset-dir", ds, "--char-dict-dir", cd, "--save-dir", rec,
            "--shard-size", 3, "--shard-index", i, "--num-shards", 2)
    assert not (rec / "metadata.json").exists()
    out = run("merge-shards", rec)
    meta = json.loads((rec / "metadata.json").read_text(encoding="utf-8"))
    assert sum(meta["counts"].values()) == 12 and f"train: {meta['counts']['train']}" in out
    assert "OK: every record decodes" in run("verify", "--dataset-dir", rec, "--char-dict-dir", cd)
    bad = CliRunner().invoke(main, ["merge-shards", str(cd)])
    assert bad.exit_code != 0 and "neither gen-images shards" in bad.output


def test_new_options_help_without_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from toolkit.cli import main; "
            "r = [CliRunner().invoke(main, [c, '--help']) for c in ('merge-shards', 'gen-images', "
            "'write-tfrecords', 'train-shadownet')]; assert all(x.exit_code == 0 for x in r); "
            "print('tensorflow' in sys.modules, all('--num-shards' in x.output for x in r[1:3]), "
            "'multi-worker' in r[3].output)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]
