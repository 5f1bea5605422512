import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from toolkit import preprocess
from toolkit.charset import Charset
from toolkit.labels import read_label_file, split_line
from toolkit.records import DatasetError, decode_images_np, make_dataset, read_metadata, write_tfrecords


def test_label_line_formats():
    assert split_line("images/1.jpg 春风 明月") == ("images/1.jpg", "春风 明月")
    assert split_line("images/1.jpg\t春风 明月") == ("images/1.jpg", "春风 明月")
    assert split_line("images/1.jpg;春风") == ("images/1.jpg", "春风")
    assert split_line("no-separator") is None


def test_round_trip_keeps_bytes_labels_and_sizes(tiny_dataset, tiny_char_dict, tiny_records):
    cs = Charset.load(tiny_char_dict)
    meta = read_metadata(tiny_records)
    train_entries, _ = read_label_file(tiny_dataset / "Train" / "sample.txt")
    test_entries, _ = read_label_file(tiny_dataset / "Test" / "sample.txt")
    assert meta["counts"]["train"] + meta["counts"]["validation"] == len(train_entries)
    assert meta["counts"]["test"] == len(test_entries)
    assert meta["charset"]["sha256"] == cs.sha256
    by_name = {e.name: e for e in test_entries}
    rows = decode_images_np(tiny_records, "test")
    assert len(rows) == len(test_entries)
    for row in rows:
        entry = by_name[row["name"]]
        assert row["text"] == entry.label
        assert row["ids"] == cs.encode(entry.label)
        src = np.asarray(Image.open(entry.image_path).convert("L"))
        assert (row["height"], row["width"]) == src.shape
        assert row["image"].shape == src.shape
        # JPEG bytes are copied, so TF's decode differs from PIL's by rounding only.
        assert np.abs(row["image"].astype(int) - src.astype(int)).mean() < 2


def test_validation_texts_never_in_train(tiny_records):
    train = {r["text"] for r in decode_images_np(tiny_records, "train")}
    val = {r["text"] for r in decode_images_np(tiny_records, "validation")}
    assert val and not train & val


def test_batches_are_padded_model_input(tiny_records):
    batch = next(iter(make_dataset(tiny_records, "test", 4, training=False)))
    images = batch["images"].numpy()
    assert images.dtype == np.float32 and images.shape[0] == 4 and images.shape[1:2] == (32,)
    assert images.shape[3] == 1 and images.shape[2] % 4 == 0
    assert images.min() >= 0 and images.max() <= 1
    widths = batch["widths"].numpy()
    assert (widths % 4 == 0).all() and widths.max() == images.shape[2]
    labels, lengths = batch["labels"].numpy(), batch["label_length"].numpy()
    for row, n in zip(labels, lengths):
        assert (row[:n] >= 0).all() and (row[n:] == -1).all()


def test_keys_keep_only_those_keys_of_the_same_batches(tiny_records):
    full = next(iter(make_dataset(tiny_records, "test", 4, training=False)))
    kept = next(iter(make_dataset(tiny_records, "test", 4, training=False,
                                  keys=("images", "widths", "labels", "label_length"))))
    assert set(kept) == {"images", "widths", "labels", "label_length"}
    for k in kept:
        np.testing.assert_array_equal(kept[k].numpy(), full[k].numpy())
    with pytest.raises(ValueError, match="hold 'widths'"):
        make_dataset(tiny_records, "test", 4, training=False, keys=("images", "labels"))
    with pytest.raises(ValueError, match="keys must be among"):
        make_dataset(tiny_records, "test", 4, training=False, keys=("images", "widths", "pixels"))


def test_paper_is_zero_and_ink_is_high():
    grey = np.full((32, 40, 1), 240, np.uint8)
    grey[10:20, 10:30] = 20
    x = preprocess.prepare_tf(grey).numpy()
    assert x.shape == (32, 40, 1)
    assert x[0, 0, 0] < 0.1 and x[15, 15, 0] > 0.9
    inverted = preprocess.prepare_tf(255 - grey).numpy()  # light text on dark paper
    np.testing.assert_allclose(inverted, x, atol=1e-6)


def test_any_height_scaled_to_32_keeping_aspect():
    x = preprocess.prepare_tf(np.full((64, 200, 1), 255, np.uint8)).numpy()
    assert x.shape == (32, 100, 1)
    assert preprocess.time_steps(200, 64) == 25


def test_trim_crops_loose_lines_to_their_ink_rows():
    grey = np.full((100, 200, 1), 230, np.uint8)
    grey[30:70, 20:180] = 30  # text 40 px high in a 100 px box
    grey[30:70, 20:180:7] = 120  # some texture, not flat ink
    trimmed = preprocess.trim_rows_tf(1.0 - _float(grey)).numpy()
    assert trimmed.shape == (52, 200, 1)  # 40 rows of ink + 15% (6 px) above and below
    np.testing.assert_allclose(trimmed, 1.0 - _float(grey)[24:76], atol=1e-6)
    # Through prepare_tf: the trimmed line is scaled to 32 px, so it comes out ~2x wider.
    assert preprocess.prepare_tf(grey).shape == (32, 64, 1)
    assert preprocess.prepare_tf(grey, trim=True).shape == (32, 124, 1)
    # A line of flat strokes keeps half its height; an empty or low-contrast one is not cut.
    flat = np.full((100, 200, 1), 230, np.uint8)
    flat[48:50, 20:180] = 30
    assert preprocess.trim_rows_tf(1.0 - _float(flat)).shape[0] == 50
    for blank in (np.full((40, 80, 1), 230, np.uint8), np.full((40, 80, 1), 230, np.uint8) - 10 * (
            np.arange(80)[None, :, None] % 2).astype(np.uint8)):
        assert preprocess.trim_rows_tf(1.0 - _float(blank)).shape == blank.shape


def _float(grey):
    return grey.astype(np.float32) / 255.0


def _copy_dataset(src, dst):
    shutil.copytree(src, dst)
    return dst


def _append(path, line):
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def test_unknown_char_reported_and_nothing_written(tmp_path, tiny_dataset, tiny_char_dict):
    ds = _copy_dataset(tiny_dataset, tmp_path / "ds")
    first = (ds / "Train" / "sample.txt").read_text(encoding="utf-8").splitlines()[0]
    name = first.split(" ")[0]
    _append(ds / "Train" / "sample.txt", f"{name} 春雪")
    n = len((ds / "Train" / "sample.txt").read_text(encoding="utf-8").splitlines())
    with pytest.raises(DatasetError, match=rf"sample.txt:{n}: char '雪' \(U\+96EA\)"):
        write_tfrecords(ds, tiny_char_dict, tmp_path / "rec", progress=False)
    assert not (tmp_path / "rec" / "metadata.json").exists()
    assert not list((tmp_path / "rec").glob("*.tfrecords*"))


def test_skip_bad_reports_and_keeps_the_rest(tmp_path, tiny_dataset, tiny_char_dict):
    ds = _copy_dataset(tiny_dataset, tmp_path / "ds")
    _append(ds / "Train" / "sample.txt", "images/missing.jpg 春风")
    report = write_tfrecords(ds, tiny_char_dict, tmp_path / "rec", skip_bad=True, progress=False)
    assert len(report.skipped) == 1 and "images/missing.jpg" in report.skipped[0]
    meta = json.loads((tmp_path / "rec" / "metadata.json").read_text(encoding="utf-8"))
    assert meta["skipped"] == 1
    assert sum(meta["counts"].values()) > 100


def test_label_too_long_for_time_steps(tmp_path, tiny_char_dict):
    ds = tmp_path / "ds"
    (ds / "Train").mkdir(parents=True)
    Image.new("L", (16, 32), 255).save(ds / "narrow.png")  # 4 time steps
    (ds / "Train" / "sample.txt").write_text("narrow.png 春风明月天\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"sample.txt:1: narrow.png: label '春风明月天' needs 5 "
                                           r"CTC time steps but the 16x32 image gives 4"):
        write_tfrecords(ds, tiny_char_dict, tmp_path / "rec", progress=False)


def test_corrupt_image_reported(tmp_path, tiny_char_dict):
    ds = tmp_path / "ds"
    (ds / "Train").mkdir(parents=True)
    buf = io.BytesIO()
    Image.new("L", (64, 32), 255).save(buf, format="JPEG")
    (ds / "cut.jpg").write_bytes(buf.getvalue()[:100])
    (ds / "Train" / "sample.txt").write_text("cut.jpg\t春风\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"sample.txt:1: cut.jpg: unreadable image"):
        write_tfrecords(ds, tiny_char_dict, tmp_path / "rec", progress=False)


def test_odd_modes_are_stored_as_grey_png(tmp_path, tiny_char_dict):
    ds = tmp_path / "ds"
    (ds / "Train").mkdir(parents=True)
    Image.new("RGBA", (64, 32), (0, 0, 0, 0)).save(ds / "a.png")
    Image.new("P", (64, 32), 3).save(ds / "p.png")
    (ds / "Train" / "sample.txt").write_text("a.png 春风\np.png 明月\n", encoding="utf-8")
    write_tfrecords(ds, tiny_char_dict, tmp_path / "rec", validation_fraction=0.0,
                    progress=False)
    rows = decode_images_np(tmp_path / "rec", "train")
    assert sorted(r["name"] for r in rows) == ["a.png", "p.png"]
    transparent = next(r for r in rows if r["name"] == "a.png")
    assert (transparent["image"] == 255).all()  # transparency composited on white paper


@pytest.fixture(scope="module")
def other_records(tmp_path_factory, tiny_dataset, tiny_char_dict):
    """A second record set whose train split holds the texts of ``tiny_records``' test split
    (the same images), so a batch shows which set each line came from."""
    ds = tmp_path_factory.mktemp("other") / "data"
    for split in ("Train", "Test"):
        (ds / split).mkdir(parents=True)
        (ds / split / "sample.txt").write_bytes((tiny_dataset / "Test" / "sample.txt").read_bytes())
    (ds / "images").symlink_to(tiny_dataset / "images")
    out = ds.parent / "tfrecords"
    write_tfrecords(ds, tiny_char_dict, out, validation_fraction=0.0, progress=False)
    return out


def _share_of_texts(dataset, texts: set, batches: int) -> float:
    seen = [t.decode() for b in dataset.take(batches) for t in b["texts"].numpy()]
    return sum(t in texts for t in seen) / len(seen)


def test_mix_draws_each_set_by_its_weight(tiny_records, other_records):
    other = {r["text"] for r in decode_images_np(other_records, "train")}
    own = {r["text"] for r in decode_images_np(tiny_records, "train")}
    assert other and not own & other
    plain = make_dataset(tiny_records, "train", 8, training=True, seed=3)
    assert _share_of_texts(plain, other, 30) == 0
    mixed = make_dataset(tiny_records, "train", 8, training=True, seed=3,
                         mix=[(other_records, 0.25)])
    assert 0.15 < _share_of_texts(mixed, other, 60) < 0.35
    mostly = make_dataset(tiny_records, "train", 8, training=True, seed=3,
                          mix=[(other_records, 0.75)])
    assert 0.65 < _share_of_texts(mostly, other, 60) < 0.85


def test_mix_refuses_bad_weights_and_evaluation(tiny_records, other_records):
    with pytest.raises(ValueError, match="sum to 1.2"):
        make_dataset(tiny_records, "train", 8, training=True,
                     mix=[(other_records, 0.6), (other_records, 0.6)])
    with pytest.raises(ValueError, match="must be > 0"):
        make_dataset(tiny_records, "train", 8, training=True, mix=[(other_records, 0)])
    with pytest.raises(ValueError, match="training only"):
        make_dataset(tiny_records, "test", 8, training=False, mix=[(other_records, 0.5)])
    with pytest.raises(DatasetError, match="has no records"):
        make_dataset(tiny_records, "validation", 8, training=True, mix=[(other_records, 0.5)])
