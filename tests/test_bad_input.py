"""One test per kind of bad input (issue 7): every one stops with a non-zero exit and a message
naming the file, the line (or record) and the value, or, with --skip-bad, is skipped and counted.
Run through the CLI in-process (CliRunner), on the tiny font, corpus, dataset and model."""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_LINES
from PIL import Image

from toolkit.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def failed(result, *fragments):
    """Exit status 1, one ``Error:`` line naming every fragment, and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


def png_bytes(width, height):
    """A PNG file of any size, zero included (Pillow refuses to write those)."""
    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    rows = b"".join(b"\0" + b"\xff" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def encoded(image, fmt):
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def dataset(root, lines, images):
    """A dataset dir with Train/sample.txt holding ``lines`` and the given image files."""
    (root / "Train").mkdir(parents=True)
    for name, data in images.items():
        (root / name).write_bytes(data)
    (root / "Train" / "sample.txt").write_text("".join(line + "\n" for line in lines),
                                               encoding="utf-8")
    return root


def write(ds, char_dict, out, *extra):
    return run("write-tfrecords", "--dataset-dir", ds, "--char-dict-dir", char_dict,
               "--save-dir", out, "--validation-fraction", 0, *extra)


WHITE = encoded(Image.new("L", (64, 32), 255), "PNG")


# -- 1, 2: corpus --------------------------------------------------------------------------------

def gen(corpus, font, out, *extra):
    return run("gen-images", "--corpus", corpus, "--font", font, "--output-dir", out,
               "--num-images", 6, "--min-chars", 2, "--max-chars", 4, *extra)


def test_1_corpus_not_utf8(tmp_path, tiny_font):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes("春风明月\n".encode() + "caf\xe9\n".encode("latin-1"))
    failed(gen(corpus, tiny_font, tmp_path / "out"), "corpus.txt: line 2 is not valid UTF-8",
           r"b'\xe9'")


def test_1_corpus_bom_and_crlf_are_read_transparently(tmp_path, tiny_font):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"\xef\xbb\xbf" + "春风明月\r\n江河明月\r\n".encode())
    r = gen(corpus, tiny_font, tmp_path / "out")
    assert r.exit_code == 0, r.output
    raw = (tmp_path / "out" / "Train" / "sample.txt").read_bytes()
    raw += (tmp_path / "out" / "Test" / "sample.txt").read_bytes()
    assert b"\r" not in raw and "\ufeff".encode() not in raw
    chars = (tmp_path / "out" / "chinese.txt").read_text(encoding="utf-8").split()
    assert set(chars) <= set("春风明月江河")


def test_1_label_file_bom_and_crlf(tmp_path, tiny_char_dict):
    ds = dataset(tmp_path / "ds", [], {"a.png": WHITE})
    (ds / "Train" / "sample.txt").write_bytes(b"\xef\xbb\xbf" + "a.png 春风\r\n".encode())
    r = write(ds, tiny_char_dict, tmp_path / "rec")
    assert r.exit_code == 0, r.output
    from toolkit.records import decode_images_np

    [row] = decode_images_np(tmp_path / "rec", "train")
    assert (row["name"], row["text"]) == ("a.png", "春风")


def test_2_corpus_with_only_empty_and_whitespace_lines(tmp_path, tiny_font):
    corpus = tmp_path / "blank.txt"
    corpus.write_text("\n   \n\t\n", encoding="utf-8")
    failed(gen(corpus, tiny_font, tmp_path / "out"), "blank.txt: no text in the corpus",
           "all empty or whitespace-only: lines 1, 2, 3")


def test_2_empty_corpus_lines_are_skipped_and_reported(tmp_path, tiny_font):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("春风明月\n\n   \n江河明月\n", encoding="utf-8")
    r = gen(corpus, tiny_font, tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "2 blank lines skipped: lines 2, 3" in r.output


def test_2_whitespace_only_label(tmp_path, tiny_char_dict):
    ds = dataset(tmp_path / "ds", ["a.png 春风", "a.png    "], {"a.png": WHITE})
    failed(write(ds, tiny_char_dict, tmp_path / "rec"),
           "sample.txt:2: empty or whitespace-only label '   '")
    assert not (tmp_path / "rec" / "metadata.json").exists()


# -- 3, 4: fonts ---------------------------------------------------------------------------------

def test_3_char_no_font_can_draw(tmp_path, tiny_font):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("春风明月\n江河明月\n山雪江河\n", encoding="utf-8")
    failed(gen(corpus, tiny_font, tmp_path / "out"),
           "corpus.txt:3: char '雪' (U+96EA, 1 occurrences) in '山雪江河'", "tiny_cjk.otf:0",
           "--skip-bad")
    assert not (tmp_path / "out" / "images").exists()
    r = gen(corpus, tiny_font, tmp_path / "out", "--skip-bad")
    assert r.exit_code == 0, r.output
    assert "no font covers char 雪 (U+96EA)" in r.output and "e.g. " in r.output
    labels = (tmp_path / "out" / "Train" / "sample.txt").read_text(encoding="utf-8")
    labels += (tmp_path / "out" / "Test" / "sample.txt").read_text(encoding="utf-8")
    assert labels and "雪" not in labels


def test_3_no_text_can_be_drawn_at_all(tmp_path, tiny_font):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("雪雪雪雪\n", encoding="utf-8")
    failed(gen(corpus, tiny_font, tmp_path / "out", "--skip-bad"), "wrote no image",
           "no font covers char 雪")
    assert not (tmp_path / "out" / "gen_config.json").exists()


def make_collection(path, font):
    from fontTools.ttLib import TTCollection, TTFont

    collection = TTCollection()
    collection.fonts = [TTFont(font), TTFont(font)]
    collection.save(path)
    return path


@pytest.mark.parametrize("content, message", [
    (b"this is not a font file " * 20, "not a font file fontTools can read"),
    (b"ttcf" + b"\0" * 40, "not a readable font collection"),
    (b"", "not a font file fontTools can read"),
])
def test_4_file_that_is_not_a_font(tmp_path, tiny_corpus, content, message):
    font = tmp_path / "broken.ttf"
    font.write_bytes(content)
    failed(gen(tiny_corpus, font, tmp_path / "out"), f"{font}: {message}")


def test_4_ttc_collection(tmp_path, tiny_corpus, tiny_font):
    ttc = make_collection(tmp_path / "pair.ttc", tiny_font)
    failed(gen(tiny_corpus, f"{ttc}:5", tmp_path / "a"), f"{ttc}: no face 5 in this collection",
           "0: Noto Sans CJK SC, 1: Noto Sans CJK SC")
    r = gen(tiny_corpus, ttc, tmp_path / "b")
    assert r.exit_code == 0, r.output
    assert "is a font collection and no face index was given: using face 0" in r.output
    r = gen(tiny_corpus, f"{ttc}:1", tmp_path / "c")
    assert r.exit_code == 0 and f"{ttc}:1" in r.output, r.output


# -- 5, 6, 7: images -----------------------------------------------------------------------------

def test_5_missing_image_file(tmp_path, tiny_char_dict):
    ds = dataset(tmp_path / "ds", ["a.png 春风", "gone/b.png 明月"], {"a.png": WHITE})
    failed(write(ds, tiny_char_dict, tmp_path / "rec"),
           "sample.txt:2: image file 'gone/b.png' not found", "--skip-bad")
    assert not (tmp_path / "rec").exists() or not any((tmp_path / "rec").iterdir())
    r = write(ds, tiny_char_dict, tmp_path / "rec", "--skip-bad")
    assert r.exit_code == 0, r.output
    assert "train: 1 examples" in r.output
    assert "skipped 1 bad line(s), first: " in r.output and "sample.txt:2" in r.output
    meta = json.loads((tmp_path / "rec" / "metadata.json").read_text(encoding="utf-8"))
    assert meta["skipped"] == 1 and "gone/b.png" in meta["skipped_examples"][0]


JPEG = encoded(Image.new("L", (64, 32), 200), "JPEG")


@pytest.mark.parametrize("name, data, detail", [
    ("cut.jpg", JPEG[:120], "corrupt or truncated"),
    # Pillow loads this PNG (only its last chunk is cut); TensorFlow, which training uses, does not.
    ("cut.png", WHITE[:-20], "TensorFlow cannot decode it"),
    ("noise.png", b"\x89PNG but then garbage" * 5, "not an image file Pillow knows"),
    ("empty.jpg", b"", "empty file, 0 bytes"),
])
def test_6_corrupt_or_truncated_image(tmp_path, tiny_char_dict, name, data, detail):
    ds = dataset(tmp_path / "ds", ["a.png 春风", f"{name} 明月"], {"a.png": WHITE, name: data})
    failed(write(ds, tiny_char_dict, tmp_path / "rec"),
           f"sample.txt:2: {name}: unreadable image", detail)
    r = write(ds, tiny_char_dict, tmp_path / "rec", "--skip-bad")
    assert r.exit_code == 0 and "train: 1 examples" in r.output and "skipped 1" in r.output


@pytest.mark.parametrize("width, height", [(0, 32), (64, 0)])
def test_7_zero_width_or_height(tmp_path, tiny_char_dict, width, height):
    ds = dataset(tmp_path / "ds", ["z.png 春风"], {"z.png": png_bytes(width, height)})
    failed(write(ds, tiny_char_dict, tmp_path / "rec"),
           f"sample.txt:1: z.png: image has zero size {width}x{height} (from its PNG header)")


def test_7_odd_modes_are_stored_as_grey(tmp_path, tiny_char_dict):
    half = np.zeros((32, 64), np.uint16)
    half[:, 32:] = 65535
    rgba = Image.new("RGBA", (64, 32), (0, 0, 0, 0))
    rgba.paste((0, 0, 0, 255), (0, 0, 32, 32))
    images = {
        "p.png": encoded(Image.new("P", (64, 32), 0), "PNG"),
        "rgba.png": encoded(rgba, "PNG"),
        "i16.png": encoded(Image.fromarray(half), "PNG"),
        "cmyk.tif": encoded(Image.new("CMYK", (64, 32), (0, 0, 0, 255)), "TIFF"),
        "la.png": encoded(Image.new("LA", (64, 32), (0, 255)), "PNG"),
    }
    ds = dataset(tmp_path / "ds", [f"{n} 春风" for n in images], images)
    r = write(ds, tiny_char_dict, tmp_path / "rec")
    assert r.exit_code == 0, r.output
    from toolkit.records import decode_images_np

    rows = {row["name"]: row["image"] for row in decode_images_np(tmp_path / "rec", "train")}
    assert sorted(rows) == sorted(images)
    assert all(img.shape == (32, 64) for img in rows.values())
    assert rows["i16.png"][0, 0] == 0 and rows["i16.png"][0, 63] == 255  # scaled, not clipped
    assert rows["rgba.png"][0, 0] == 0 and rows["rgba.png"][0, 63] == 255  # alpha on white paper
    assert rows["cmyk.tif"].max() < 30 and rows["la.png"].max() < 5


# -- 8, 9: labels --------------------------------------------------------------------------------

def test_8_label_char_missing_from_char_dict(tmp_path, tiny_char_dict):
    ds = dataset(tmp_path / "ds", ["a.png 春风", "a.png 春雪"], {"a.png": WHITE})
    failed(write(ds, tiny_char_dict, tmp_path / "rec"),
           "sample.txt:2: char '雪' (U+96EA) of label '春雪' is not in the char dict")
    r = write(ds, tiny_char_dict, tmp_path / "rec", "--skip-bad")
    assert r.exit_code == 0 and "skipped 1 bad line(s)" in r.output and "'雪'" in r.output


@pytest.mark.parametrize("width, label, need, steps", [
    (40, "春风明月天人山水花云江", 11, 10),
    (32, "春春春春春", 9, 8),  # each repeated neighbour needs a blank between
])
def test_9_label_too_long_for_time_steps(tmp_path, tiny_char_dict, width, label, need, steps):
    image = encoded(Image.new("L", (width, 32), 255), "PNG")
    ds = dataset(tmp_path / "ds", [f"n.png {label}"], {"n.png": image})
    failed(write(ds, tiny_char_dict, tmp_path / "rec"),
           f"sample.txt:1: n.png: label '{label}' needs {need} CTC time steps but the "
           f"{width}x32 image gives {steps}")


# -- 10: char dicts ------------------------------------------------------------------------------

def edit_json(path, change):
    obj = json.loads(path.read_text(encoding="utf-8"))
    change(obj)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize("file, change, message", [
    ("index_2_ord_map.json", lambda o: o.__setitem__("1", o["0"]),
     "index_2_ord_map.json: duplicate char '云' (U+4E91): indices 0 and 1"),
    ("ord_2_index_map.json", lambda o: o.__setitem__("20113", "5"),
     "ord_2_index_map.json: ord 20113 maps to '5', but index_2_ord_map.json says index 0"),
    ("char_dict.json", lambda o: o.__setitem__("20113", "X"),
     "char_dict.json: entry for ord 20113 is 'X', expected '云'"),
    ("index_2_ord_map.json", lambda o: o.pop("3"), "index_2_ord_map.json: index 3 missing"),
])
def test_10_inconsistent_char_dict_maps(tmp_path, tiny_dataset, tiny_char_dict, file, change,
                                        message):
    cd = tmp_path / "cd"
    shutil.copytree(tiny_char_dict, cd)
    assert json.loads((cd / "index_2_ord_map.json").read_text())["0"] == "20113"  # 云
    edit_json(cd / file, change)
    failed(write(tiny_dataset, cd, tmp_path / "rec"), message)


def test_10_duplicate_key_and_duplicate_char(tmp_path, tiny_dataset, tiny_char_dict):
    cd = tmp_path / "cd"
    shutil.copytree(tiny_char_dict, cd)
    text = (cd / "char_dict.json").read_text(encoding="utf-8")
    (cd / "char_dict.json").write_text(text.replace("{", '{\n  "20113": "云",', 1),
                                       encoding="utf-8")
    failed(write(tiny_dataset, cd, tmp_path / "rec"),
           "char_dict.json: key '20113' appears twice")
    chars = tmp_path / "chinese.txt"
    chars.write_text("春\n风\n月\n风\n", encoding="utf-8")
    failed(run("build-char-dict", "--char-dict-file", chars, "--save-dir", tmp_path / "cd2"),
           "chinese.txt:4: duplicate char '风' (U+98CE) (first at line 2)")


# -- 11: checkpoints -----------------------------------------------------------------------------

def test_11_checkpoint_of_another_char_dict(tmp_path, tiny_dataset, tiny_model):
    from toolkit.charset import Charset

    cd = tmp_path / "cd"
    Charset.from_chars("春风明月天人山水花云江河雪").save(cd)
    assert write(tiny_dataset, cd, tmp_path / "rec").exit_code == 0
    r = run("train-shadownet", "--dataset-dir", tmp_path / "rec", "--char-dict-dir", cd,
            "--model-dir", tmp_path / "m", "--weights-path", tiny_model, "--steps", 20)
    failed(r, "ckpt-10 was trained with another char dict", "its labels would be scrambled")
    assert not (tmp_path / "m" / "checkpoints").exists()


def test_11_checkpoint_of_another_model_config(tmp_path, tiny_model, tiny_records, tiny_char_dict):
    r = run("train-shadownet", "--dataset-dir", tiny_records, "--char-dict-dir", tiny_char_dict,
            "--model-dir", tiny_model, "--model-size", "small", "--steps", 20)
    failed(r, "ckpt-10 holds a model configured as", "not the requested preset 'small'")
    edited = tmp_path / "m"
    shutil.copytree(tiny_model, edited)
    edit_json(edited / "shadownet.json", lambda o: o["model"].__setitem__("lstm_units", 8))
    r = run("test-shadownet", "--dataset-dir", tiny_records, "--weights-path", edited)
    failed(r, "ckpt-10: the checkpoint does not match the model in", "shadownet.json",
           "'lstm_units': 8", "incompatible tensor with shape")
    r = run("train-shadownet", "--dataset-dir", tiny_records, "--char-dict-dir", tiny_char_dict,
            "--model-dir", edited, "--steps", 20)
    failed(r, "ckpt-10: the checkpoint does not match the model configured in")


def test_11_mix_of_another_char_dict_or_a_bad_weight(tmp_path, tiny_dataset, tiny_records,
                                                     tiny_char_dict):
    from toolkit.charset import Charset

    cd = tmp_path / "cd"
    Charset.from_chars("春风明月天人山水花云江河雪").save(cd)
    assert write(tiny_dataset, cd, tmp_path / "rec").exit_code == 0
    base = ("train-shadownet", "--dataset-dir", tiny_records, "--char-dict-dir", tiny_char_dict,
            "--model-dir", tmp_path / "m", "--steps", 5, "--model-size", "tiny")
    failed(run(*base, "--mix", f"{tmp_path / 'rec'}:0.3"), str(tmp_path / "rec"),
           "another char dict")
    for value, fragments in [((f"{tiny_records}:1.5",), ("1.5", "between 0 and 1")),
                             ((f"{tiny_records}",), ("give DIR:WEIGHT",)),
                             ((f"{tmp_path / 'nowhere'}:0.2",), ("nowhere", "not found")),
                             ((f"{tiny_records}:0.6", f"{tiny_records}:0.5"), ("sum to 1.1",))]:
        r = run(*base, *(a for v in value for a in ("--mix", v)))
        assert r.exit_code == 2 and "Invalid value for '--mix'" in r.output, r.output
        assert all(f in r.output for f in fragments), (fragments, r.output)
    assert not (tmp_path / "m" / "checkpoints").exists()


# -- 12: damaged shards --------------------------------------------------------------------------

def test_12_truncated_shard(tmp_path, tiny_records, tiny_char_dict, tiny_model):
    rec = tmp_path / "rec"
    shutil.copytree(tiny_records, rec)
    shard = rec / json.loads((rec / "metadata.json").read_text())["shards"]["train"][0]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    expected = f"{shard}: {len(data) // 2} bytes, but {rec / 'metadata.json'} says {len(data)}"
    failed(run("train-shadownet", "--dataset-dir", rec, "--char-dict-dir", tiny_char_dict,
                "--model-dir", tmp_path / "m", "--steps", 5, "--model-size", "tiny"), expected)
    failed(run("test-shadownet", "--dataset-dir", rec, "--weights-path", tiny_model,
               "--split", "train"), expected)


def test_12_corrupt_shard(tmp_path, tiny_records, tiny_model):
    rec = tmp_path / "rec"
    shutil.copytree(tiny_records, rec)
    shard = rec / json.loads((rec / "metadata.json").read_text())["shards"]["test"][0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, bad CRC
    shard.write_bytes(bytes(data))
    r = run("test-shadownet", "--dataset-dir", rec, "--weights-path", tiny_model)
    failed(r, f"{shard}: record ", "the record set is damaged", "crnn-toolkit verify")


def test_12_corrupt_shard_of_a_mix_set(tmp_path, tiny_records, tiny_char_dict):
    """A damaged record in a --mix set stops training with a checkpoint and an error naming
    that set's shard (so the mix set is read while training)."""
    rec = tmp_path / "rec"
    shutil.copytree(tiny_records, rec)
    for name in json.loads((rec / "metadata.json").read_text())["shards"]["train"]:
        data = bytearray((rec / name).read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, bad CRC
        (rec / name).write_bytes(bytes(data))
    r = run("train-shadownet", "--dataset-dir", tiny_records, "--char-dict-dir", tiny_char_dict,
            "--model-dir", tmp_path / "m", "--steps", 200, "--model-size", "tiny",
            "--batch-size", 8, "--mix", f"{rec}:0.5")
    failed(r, f"{rec}/", "the record set is damaged", f"verify --dataset-dir {rec}")
    assert (tmp_path / "m" / "checkpoints" / "checkpoint").is_file()


# -- 13: output directory holding another dataset ------------------------------------------------

def test_13_gen_images_into_another_output(tmp_path, tiny_corpus, tiny_font):
    out = tmp_path / "out"
    assert gen(tiny_corpus, tiny_font, out).exit_code == 0
    before = (out / "Train" / "sample.txt").read_bytes()
    failed(gen(tiny_corpus, tiny_font, out, "--seed", 5), f"{out} already holds gen-images output",
           "gen_config.json")
    assert (out / "Train" / "sample.txt").read_bytes() == before
    assert gen(tiny_corpus, tiny_font, out, "--seed", 5, "--overwrite").exit_code == 0


def test_13_write_tfrecords_into_another_record_set(tmp_path, tiny_dataset, tiny_char_dict):
    rec = tmp_path / "rec"
    assert write(tiny_dataset, tiny_char_dict, rec).exit_code == 0
    meta = (rec / "metadata.json").read_bytes()
    assert write(tiny_dataset, tiny_char_dict, rec).exit_code == 0  # the same dataset: rewritten
    other = dataset(tmp_path / "other", ["a.png 春风"], {"a.png": WHITE})
    failed(write(other, tiny_char_dict, rec), f"{rec} already holds a record set of another dataset",
           f"written from {tiny_dataset.resolve()}", "--overwrite")
    assert (rec / "metadata.json").read_bytes() == meta
    r = write(other, tiny_char_dict, rec, "--overwrite")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in rec.iterdir()) == ["metadata.json", "train_feature_0_1.tfrecords"]
    foreign = tmp_path / "seed_records"
    foreign.mkdir()
    (foreign / "train_feature_0_5000.tfrecords").write_bytes(b"old project")
    failed(write(other, tiny_char_dict, foreign), "holds TFRecord shards without metadata.json")
    assert (foreign / "train_feature_0_5000.tfrecords").read_bytes() == b"old project"


# -- 14: a disk that fills up --------------------------------------------------------------------

def rec_files(rec):
    return {p.name: p.read_bytes() for p in sorted(rec.iterdir())}


def test_14_disk_full_while_writing_metadata_keeps_the_old_set(tmp_path, monkeypatch, tiny_dataset,
                                                               tiny_char_dict):
    import toolkit.records

    rec = tmp_path / "rec"
    assert write(tiny_dataset, tiny_char_dict, rec, "--shard-size", 40).exit_code == 0
    before = rec_files(rec)

    def full(path, text):
        Path(path).write_bytes(text.encode()[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(toolkit.records, "write_text_unrenamed", full)
    r = write(tiny_dataset, tiny_char_dict, rec, "--shard-size", 30)
    failed(r, "No space left on device", ".metadata.json.tmp", "the disk is full")
    assert rec_files(rec) == before  # old set complete and unchanged, no temporary file left


def test_14_file_size_limit_while_writing_shards(tmp_path, tiny_dataset, tiny_char_dict):
    """A real write failure (EFBIG from RLIMIT_FSIZE, in a subprocess) in the middle of a shard."""
    rec = tmp_path / "rec"
    assert write(tiny_dataset, tiny_char_dict, rec, "--shard-size", 10).exit_code == 0
    before = rec_files(rec)
    biggest = max(len(v) for v in before.values())

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (biggest + 1000, biggest + 1000))

    out = subprocess.run([sys.executable, "-m", "toolkit", "write-tfrecords", "--dataset-dir",
                          str(tiny_dataset), "--char-dict-dir", str(tiny_char_dict), "--save-dir",
                          str(rec), "--shard-size", "200", "--validation-fraction", "0"],
                         preexec_fn=limit, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "Error: " in out.stderr and ".train_00000000.tfrecords.tmp: writing failed" in out.stderr
    assert rec_files(rec) == before
    from toolkit.verify import verify_records

    assert verify_records(rec, tiny_char_dict, progress=False).ok


def test_14_file_size_limit_in_gen_images(tmp_path, tiny_font):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TINY_LINES) + "\n", encoding="utf-8")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    out = subprocess.run([sys.executable, "-m", "toolkit", "gen-images", "--corpus", str(corpus),
                          "--font", str(tiny_font), "--output-dir", str(tmp_path / "out"),
                          "--num-images", "200", "--min-chars", "2", "--max-chars", "4"],
                         preexec_fn=limit, capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "Error: [Errno 27] File too large" in out.stderr
    assert not (tmp_path / "out" / "gen_config.json").exists()  # not complete-looking
    assert not list((tmp_path / "out").rglob(".*.tmp"))
