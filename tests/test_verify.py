"""crnn-toolkit verify: a good record set passes; each kind of damage fails, naming shard and record."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from toolkit.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_good_set_passes(tiny_records, tiny_char_dict):
    r = run("verify", "--dataset-dir", tiny_records, "--char-dict-dir", tiny_char_dict)
    assert r.exit_code == 0, r.output
    meta = json.loads((tiny_records / "metadata.json").read_text(encoding="utf-8"))
    for split, n in meta["counts"].items():
        assert f"{split}: {n} records read, {n} in metadata" in r.output
    assert "OK: every record decodes" in r.output


@pytest.fixture
def copy(tmp_path, tiny_records):
    rec = tmp_path / "rec"
    shutil.copytree(tiny_records, rec)
    meta = json.loads((rec / "metadata.json").read_text(encoding="utf-8"))
    return rec, meta


def rewrite_record(shard, index, change):
    """Rewrite one record of a shard through ``change(tf.train.Example)``; CRCs stay valid."""
    import tensorflow as tf

    raws = [r.numpy() for r in tf.data.TFRecordDataset(str(shard))]
    example = tf.train.Example.FromString(raws[index])
    change(example)
    raws[index] = example.SerializeToString()
    with tf.io.TFRecordWriter(str(shard)) as w:
        for raw in raws:
            w.write(raw)


def fix_size(rec, meta, shard):
    """Record the shard's new size, so only the record-level check can catch the change."""
    meta["shard_bytes"][shard.name] = shard.stat().st_size
    (rec / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def failed(r, *fragments):
    assert r.exit_code == 1, r.output
    assert "FAILED" in r.output or "Error" in r.output
    for f in fragments:
        assert f in r.output, (f, r.output)


def test_corrupted_image(copy, tiny_char_dict):
    rec, meta = copy
    shard = rec / meta["shards"]["train"][1]

    def cut(example):
        data = example.features.feature["image/encoded"].bytes_list.value[0]
        example.features.feature["image/encoded"].bytes_list.value[0] = data[: len(data) // 2]

    rewrite_record(shard, 3, cut)
    fix_size(rec, meta, shard)
    failed(run("verify", "--dataset-dir", rec, "--char-dict-dir", tiny_char_dict),
           f"{shard}: record 3: image does not decode")


def test_wrong_label_id(copy, tiny_char_dict):
    rec, meta = copy
    shard = rec / meta["shards"]["validation"][0]
    blank = meta["charset"]["blank_index"]

    def to_blank(example):
        example.features.feature["label/ids"].int64_list.value[0] = blank

    rewrite_record(shard, 0, to_blank)
    fix_size(rec, meta, shard)
    failed(run("verify", "--dataset-dir", rec), f"{shard}: record 0: label id {blank} is not a char "
                                                f"class of the char dict")


def test_wrong_count(copy):
    rec, meta = copy
    meta["counts"]["test"] += 1
    (rec / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    n = meta["counts"]["test"]
    failed(run("verify", "--dataset-dir", rec),
           f"split 'test' counts {n} records, {n - 1} were read from its shards")


def test_truncated_and_corrupt_shard(copy):
    rec, meta = copy
    shard = rec / meta["shards"]["train"][0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    r = run("verify", "--dataset-dir", rec)
    failed(r, f"{shard}: record ", "unreadable TFRecord data, corrupt or truncated")
    shard.write_bytes(bytes(data[: len(data) // 3]))
    failed(run("verify", "--dataset-dir", rec), f"{shard}: {len(data) // 3} bytes, metadata.json "
                                                f"says {len(data)}")


def test_other_charset(copy, tmp_path):
    from toolkit.charset import Charset

    rec, meta = copy
    other = tmp_path / "cd"
    Charset.from_chars(meta["charset"]["chars"].replace(" ", "") + "雪").save(other)
    failed(run("verify", "--dataset-dir", rec, "--char-dict-dir", other),
           "the records were written with another char dict")


def test_incomplete_set_is_refused(tmp_path):
    (tmp_path / "train_feature_0_10.tfrecords").write_bytes(b"")
    r = run("verify", "--dataset-dir", tmp_path)
    assert r.exit_code == 1 and "no metadata.json" in r.output
