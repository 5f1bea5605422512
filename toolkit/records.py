"""TFRecord sets: one declared schema shared by the writer and the reader, plus a metadata JSON.

Layout of a record directory::

    <save_dir>/train_feature_<start>_<end>.tfrecords   # shards, <end> exclusive
    <save_dir>/validation_feature_<start>_<end>.tfrecords
    <save_dir>/test_feature_<start>_<end>.tfrecords
    <save_dir>/metadata.json                            # written last

``<start>_<end>``: ``start`` is the position of the shard's first line in the split's (shuffled)
list, ``end - start`` the records it holds (fewer than the shard size when ``skip_bad`` skipped
some of its lines). A job array can write one set in parallel
(``shard_index``/``num_shards``: job ``I`` writes the shard files ``k`` with ``k % N == I`` and
``metadata.shard-<I>-of-<N>.json``; :func:`merge_record_shards` then writes ``metadata.json``); the
files are the same whatever ``N`` is.

Each record is a ``tf.train.Example`` with the features of :data:`SCHEMA`. Images are stored
encoded (the JPEG or PNG bytes of the source file, copied unchanged when the file is a JPEG/PNG in
grey or RGB mode) with their true width and height, so nothing depends on a model's input size
(the original project's width/height swap could not happen silently here).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit import preprocess
from toolkit.charset import Charset, CharsetError
from toolkit.images import ImageTooLargeError, header_size, open_image
from toolkit.io import (
    atomic_write_json,
    json_text,
    read_versioned_json,
    write_text_unrenamed,
)
from toolkit.labels import read_label_file
from toolkit.shards import check_shard, find_shards, shard_name

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
SPLITS = ("train", "validation", "test")

SHARD_GLOB = "*_feature_*.tfrecords"
"""Matches every shard file name of :func:`shard_file_name`."""
JOB_METADATA_GLOB = "metadata.shard-*-of-*.json"
"""Matches every job file name of :func:`job_metadata_name`."""
_SHARD_NAME = re.compile(r"(?P<split>[a-z]+)_feature_(?P<start>\d+)_(?P<end>\d+)\.tfrecords")


def shard_file_name(split: str, start: int, end: int) -> str:
    """``train_feature_5000_9998.tfrecords``: the shard of ``split`` whose first line is at
    position ``start`` of the split's list and that holds ``end - start`` records."""
    return f"{split}_feature_{start}_{end}.tfrecords"


def parse_shard_file_name(name: str) -> tuple[str, int, int] | None:
    """``(split, start, end)`` of a :func:`shard_file_name`, or ``None`` for another name."""
    m = _SHARD_NAME.fullmatch(name)
    return (m["split"], int(m["start"]), int(m["end"])) if m else None


def shard_tmp_name(split: str, start: int) -> str:
    """The temporary name a shard is written under before the commit,
    ``.train_00005000.tfrecords.tmp``."""
    return f".{split}_{start:08d}.tfrecords.tmp"


def job_metadata_name(shard_index: int, num_shards: int) -> str:
    """The job file of job ``I`` of an array of ``N``, ``metadata.shard-00002-of-00008.json``."""
    return f"metadata.shard-{shard_name(shard_index, num_shards)}.json"
SCHEMA_DOC = {
    "image/encoded": "bytes: PNG or JPEG file bytes",
    "image/format": "bytes: 'png' or 'jpeg'",
    "image/width": "int64: true width in px",
    "image/height": "int64: true height in px",
    "image/name": "bytes: image path as written in the label file, UTF-8",
    "label/ids": "int64 list: class indices (see char dict), length >= 1",
    "label/text": "bytes: label text, UTF-8",
}


class DatasetError(ValueError):
    """Bad input found while writing or reading a record set."""


@dataclass
class WriteReport:
    """What :func:`write_tfrecords` wrote and skipped.

    Attributes:
        counts: examples written per split.
        shards: shard file names per split.
        skipped: one message per skipped line (only with ``skip_bad``).
    """

    counts: dict[str, int] = field(default_factory=dict)
    shards: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"{s}: {self.counts.get(s, 0)} examples in {len(self.shards.get(s, []))} shard(s)"
                 for s in SPLITS]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} bad line(s), first: " + "; ".join(self.skipped[:3]))
        return "\n".join(lines)


def _in_validation(text: str, fraction: float) -> bool:
    h = int(hashlib.sha1(("validation:" + text).encode("utf-8")).hexdigest()[:8], 16)
    return h / 2**32 < fraction


def find_label_files(dataset_dir: Path) -> dict[str, Path]:
    """Find ``Train/sample.txt``, ``Test/sample.txt`` and optional ``Validation/sample.txt``.

    Raises:
        DatasetError: if there is no train label file.
    """
    found = {}
    for split, sub in (("train", "Train"), ("validation", "Validation"), ("test", "Test")):
        for name in (sub, sub.lower()):
            p = dataset_dir / name / "sample.txt"
            if p.exists():
                found[split] = p
                break
    if "train" not in found:
        raise DatasetError(f"{dataset_dir}: no Train/sample.txt label file (lines 'path label')")
    return found


def _tf_decode_check(data: bytes, width: int, height: int) -> None:
    """Decode stored bytes with TensorFlow, the decoder training uses (it is stricter than Pillow:
    a PNG cut before its last chunk loads in Pillow but fails in TensorFlow)."""
    import tensorflow as tf

    try:
        shape = tf.io.decode_image(data, channels=1, expand_animations=False).shape
    except tf.errors.OpError as e:
        raise DatasetError(f"unreadable image (corrupt or truncated: TensorFlow cannot decode it: "
                           f"{e.message.splitlines()[0][:200]})") from None
    if tuple(shape[:2]) != (height, width):
        raise DatasetError(f"TensorFlow decodes it as {shape[1]}x{shape[0]}, Pillow as "
                           f"{width}x{height}")


def _inspect_image(path: Path, data: bytes) -> tuple[bytes, str, int, int]:
    """Check an image decodes fully; return (bytes to store, format, width, height).

    Raises:
        DatasetError: for an empty file, a file that is not an image, a truncated or corrupt image,
            an image of zero width or height (with the size its header gives), or one of more
            pixels than :data:`toolkit.images.MAX_PIXELS` (refused before it is decoded).
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise DatasetError("unreadable image (empty file, 0 bytes)")
    try:
        with open_image(data) as im:
            im.load()
            fmt = (im.format or "").upper()
            mode = im.mode
            width, height = im.size
            if width == 0 or height == 0:
                raise DatasetError(f"image has zero size {width}x{height}")
            if fmt in ("JPEG", "PNG") and mode in ("L", "RGB"):
                _tf_decode_check(data, width, height)
                return data, "jpeg" if fmt == "JPEG" else "png", width, height
            grey = preprocess.to_grey_array(im)
    except ImageTooLargeError as e:
        raise DatasetError(str(e)) from None
    except UnidentifiedImageError:
        header = header_size(data)
        if header and 0 in header[1:]:
            raise DatasetError(f"image has zero size {header[1]}x{header[2]} (from its {header[0]} "
                               f"header)") from None
        raise DatasetError(f"unreadable image (not an image file Pillow knows: {len(data)} bytes, "
                           f"starting {data[:8]!r})") from None
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"unreadable image (corrupt or truncated: {e})") from None
    buf = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buf, format="PNG")
    return buf.getvalue(), "png", width, height


def _example(data: bytes, fmt: str, width: int, height: int, name: str, ids: list[int],
             text: str):
    import tensorflow as tf

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=v))

    return tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": b(data), "image/format": b(fmt.encode()),
        "image/width": i([width]), "image/height": i([height]),
        "image/name": b(name.encode("utf-8")),
        "label/ids": i(ids), "label/text": b(text.encode("utf-8")),
    })).SerializeToString()


def _write_error(path: Path, err) -> OSError:
    """An ``OSError`` for a failed TFRecord write (TensorFlow reports a full disk or a file size limit
    as ``ResourceExhaustedError`` / ``OutOfRangeError``)."""
    return OSError(f"{path}: writing failed ({err.message}); the disk may be full. Nothing was "
                   f"changed in {path.parent}: its complete files were kept, temporary ones removed")


def _check_output_dir(save_dir: Path, dataset_dir: Path, charset: Charset, overwrite: bool) -> None:
    """Refuse to replace another dataset's records (see :func:`write_tfrecords`).

    The set's ``metadata.json`` is compared; without one (an array's jobs not merged yet), every
    job file ``metadata.shard-<I>-of-<N>.json``. Shards with neither are refused, unless a job is
    committing (its ``.metadata.shard-*.json.tmp`` exists)."""
    if overwrite or not save_dir.is_dir():
        return
    meta_path = save_dir / METADATA_FILE
    meta_paths = [meta_path] if meta_path.exists() else sorted(save_dir.glob(JOB_METADATA_GLOB))
    if not meta_paths:
        shards = sorted(p.name for p in save_dir.glob(SHARD_GLOB))
        if shards and not any(save_dir.glob(f".{JOB_METADATA_GLOB}.tmp")):
            raise FileExistsError(
                f"{save_dir} holds TFRecord shards without {METADATA_FILE} ({shards[0]} ...): an "
                f"older project's records, or a write-tfrecords run that was killed; choose another "
                f"--save-dir or pass --overwrite to replace them")
        return
    for meta_path in meta_paths:
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
            old_source = old.get("source_dataset_dir")
            old_sha = old["charset"]["sha256"]
        except (ValueError, KeyError, TypeError) as e:
            raise FileExistsError(f"{meta_path}: exists but is not a readable record-set metadata "
                                  f"file ({e}); choose another --save-dir or pass --overwrite") from None
        different = []
        if old_source != str(dataset_dir.resolve()):
            different.append(f"written from {old_source}, not {dataset_dir.resolve()}")
        if old_sha != charset.sha256:
            different.append(f"char dict sha256 {str(old_sha)[:12]}, not {charset.sha256[:12]}")
        if different:
            raise FileExistsError(
                f"{save_dir} already holds a record set of another dataset ({'; '.join(different)}; "
                f"{meta_path.name}); choose another --save-dir or pass --overwrite to replace it")


@dataclass
class _WritePlan:
    """What one :func:`write_tfrecords` run writes (see there): the inputs it read and the shard
    files of this job."""

    dataset_dir: Path
    save_dir: Path
    charset: Charset
    label_files: dict[str, Path]
    chunks: dict[str, list[tuple[int, list]]]
    """Per split, this job's shards: ``(start position, label entries)``."""
    problems: list[str]
    """Bad lines found in the label files (the image checks add to it)."""
    label_problems: int
    meta_name: str
    meta_tmp: Path
    sharded: bool
    num_shards: int

    @property
    def total(self) -> int:
        """Lines this job checks and encodes."""
        return sum(len(c) for split in SPLITS for _, c in self.chunks[split])


def _plan_write(dataset_dir: Path, char_dict_dir, save_dir: Path, validation_fraction: float,
                shard_size: int, seed: int, overwrite: bool, shard_index: int,
                num_shards: int, keep_spaces: bool = False) -> _WritePlan:
    """Check the arguments, read the char dict and the label files, split off validation, shuffle
    train and cut each split into shards; keep this job's shards (see :func:`write_tfrecords`)."""
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    check_shard(shard_index, num_shards)
    charset = Charset.load(char_dict_dir)
    label_files = find_label_files(dataset_dir)
    _check_output_dir(save_dir, dataset_dir, charset, overwrite)

    problems: list[str] = []
    per_split: dict[str, list] = {s: [] for s in SPLITS}
    for split, lf in label_files.items():
        entries, bad = read_label_file(lf, dataset_dir, keep_spaces=keep_spaces)
        problems += bad
        for e in entries:
            target = split
            if split == "train" and "validation" not in label_files and \
                    _in_validation(e.label, validation_fraction):
                target = "validation"
            per_split[target].append(e)
    random.Random(seed).shuffle(per_split["train"])

    # Shard file k of a split holds the lines of positions [k * shard_size, (k + 1) * shard_size)
    # of its list; it is named by shard_file_name(split, first position, first position + kept).
    chunks = {split: [(start, per_split[split][start:start + shard_size])
                      for k, start in enumerate(range(0, len(per_split[split]), shard_size))
                      if k % num_shards == shard_index]
              for split in SPLITS}
    sharded = num_shards > 1
    meta_name = job_metadata_name(shard_index, num_shards) if sharded else METADATA_FILE
    return _WritePlan(dataset_dir=dataset_dir, save_dir=save_dir, charset=charset,
                      label_files=label_files, chunks=chunks, problems=problems,
                      label_problems=len(problems), meta_name=meta_name,
                      meta_tmp=save_dir / f".{meta_name}.tmp", sharded=sharded,
                      num_shards=num_shards)


def _remove_leftovers(plan: _WritePlan) -> None:
    """Remove the temporary files of a run that was killed: under an array only this job's
    names (other jobs may be writing theirs now)."""
    own_tmps = {shard_tmp_name(split, start) for split in SPLITS for start, _ in plan.chunks[split]}
    for leftover in plan.save_dir.glob(".*.tmp"):
        if plan.sharded:
            stale = leftover.name in own_tmps or leftover == plan.meta_tmp
        else:
            stale = leftover.name.endswith(".tfrecords.tmp") or \
                leftover.name.startswith(f".{METADATA_FILE}")
        if stale:
            leftover.unlink(missing_ok=True)


def _encode_line(e, charset: Charset) -> tuple[bytes, str, int, int, list[int]]:
    """Read and check one label entry's image and label: ``(bytes to store, format, width,
    height, class ids)``.

    Raises:
        CharsetError: for a char missing from the char dict (names the file and line).
        DatasetError, OSError: for an unreadable image, or a label too long for its time steps.
    """
    ids = charset.encode(e.label, where=e.source)
    data, fmt, w, h = _inspect_image(e.image_path, e.image_path.read_bytes())
    steps = preprocess.time_steps(w, h)
    need = preprocess.ctc_min_steps(ids)
    if need > steps:
        raise DatasetError(
            f"label {e.label!r} needs {need} CTC time steps but the {w}x{h} "
            f"image gives {steps} (width {preprocess.scaled_width(w, h)} px "
            f"at height {preprocess.HEIGHT} / 4)")
    return data, fmt, w, h, ids


class _ShardWriter:
    """Writes the shards of a plan under their temporary names and remembers them for the commit
    (:func:`_commit`) or the clean-up after a failure (``opened``)."""

    def __init__(self, plan: _WritePlan, bar) -> None:
        self.plan = plan
        self.bar = bar
        self.report = WriteReport()
        self.tmp_paths: list[tuple[Path, Path]] = []
        self.opened: list[Path] = []
        self.shard_bytes: dict[str, int] = {}

    def write_all(self) -> None:
        """Write every shard of the plan; bad lines go to ``plan.problems``."""
        for split in SPLITS:
            self.report.shards[split] = []
            self.report.counts[split] = sum(self.write_shard(split, start, chunk)
                                            for start, chunk in self.plan.chunks[split])

    def write_shard(self, split: str, start: int, chunk: list) -> int:
        """Write one shard's good lines; return how many were kept (no file if none)."""
        import tensorflow as tf

        writer, shard_tmp, kept = None, None, 0
        for e in chunk:
            self.bar.update(1)
            try:
                data, fmt, w, h, ids = _encode_line(e, self.plan.charset)
            except CharsetError as err:
                self.plan.problems.append(str(err))
                continue
            except (DatasetError, OSError) as err:
                self.plan.problems.append(f"{e.source}: {e.name}: {err}")
                continue
            if writer is None:
                shard_tmp = self.plan.save_dir / shard_tmp_name(split, start)
                self.opened.append(shard_tmp)
                writer = tf.io.TFRecordWriter(str(shard_tmp))
            try:
                writer.write(_example(data, fmt, w, h, e.name, ids, e.label))
            except tf.errors.OpError as err:
                raise _write_error(shard_tmp, err) from None
            kept += 1
        if writer is not None:
            try:
                writer.close()
            except tf.errors.OpError as err:
                raise _write_error(shard_tmp, err) from None
            final = self.plan.save_dir / shard_file_name(split, start, start + kept)
            self.tmp_paths.append((shard_tmp, final))
            self.shard_bytes[final.name] = shard_tmp.stat().st_size
            self.report.shards[split].append(final.name)
        return kept


def _write_metadata(plan: _WritePlan, shards: _ShardWriter, validation_fraction: float,
                    shard_index: int, shard_size: int, seed: int) -> dict:
    """The ``metadata.json`` (or job file) of a written set."""
    problems = plan.problems
    metadata = {
        "format_version": FORMAT_VERSION,
        "schema": SCHEMA_DOC,
        "counts": shards.report.counts,
        "shards": shards.report.shards,
        "shard_bytes": shards.shard_bytes,
        "skipped": len(problems),
        "skipped_examples": problems[:10],
        "charset": plan.charset.to_json(),
        "image_height": preprocess.HEIGHT,
        "source_dataset_dir": str(plan.dataset_dir.resolve()),
        "label_files": {k: str(v) for k, v in plan.label_files.items()},
        "validation_fraction": validation_fraction,
    }
    if plan.sharded:
        metadata["job"] = {"index": shard_index, "count": plan.num_shards, "shard_size": shard_size,
                           "seed": seed, "skipped_in_label_files": plan.label_problems}
    return metadata


def _commit(plan: _WritePlan, tmp_paths: list[tuple[Path, Path]], metadata: dict,
            overwrite: bool) -> None:
    """Put a written set in place, in the order :func:`write_tfrecords` documents."""
    save_dir = plan.save_dir
    # The one step that can fail for lack of space comes first.
    write_text_unrenamed(plan.meta_tmp, json_text(metadata))
    old_meta = save_dir / METADATA_FILE
    old_listed: set[str] = set()
    if old_meta.exists():
        try:
            old_listed = {n for names in json.loads(old_meta.read_text(encoding="utf-8"))
                          ["shards"].values() for n in names}
        except (ValueError, KeyError, TypeError, AttributeError):
            old_listed = set()
        old_meta.unlink()
    if plan.sharded:
        # This job's older file (its shards are about to change) and runs with another N.
        for old in save_dir.glob(JOB_METADATA_GLOB):
            if old.name == plan.meta_name or not old.name.endswith(f"-of-{plan.num_shards:05d}.json"):
                old.unlink(missing_ok=True)
    for tmp, final in tmp_paths:
        os.replace(tmp, final)
    if not plan.sharded:  # an array's other files are left to merge_record_shards
        new_names = {final.name for _, final in tmp_paths}
        for old in save_dir.glob(SHARD_GLOB):
            if old.name not in new_names and (overwrite or old.name in old_listed):
                old.unlink()
        for old in save_dir.glob(JOB_METADATA_GLOB):
            old.unlink()
    os.replace(plan.meta_tmp, save_dir / plan.meta_name)


def _bad_lines_error(plan: _WritePlan) -> DatasetError:
    problems = plan.problems
    shown = "\n  ".join(problems[:10])
    more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    return DatasetError(f"{len(problems)} bad line(s) in {plan.dataset_dir}; nothing was written "
                        f"(use --skip-bad to skip them):\n  {shown}{more}")


def write_tfrecords(dataset_dir: str | os.PathLike, char_dict_dir: str | os.PathLike,
                    save_dir: str | os.PathLike, validation_fraction: float = 0.1,
                    shard_size: int = 5000, skip_bad: bool = False, seed: int = 0,
                    progress: bool = True, overwrite: bool = False, *, shard_index: int = 0,
                    num_shards: int = 1, keep_spaces: bool = False) -> WriteReport:
    """The write-tfrecords stage: label files + images -> sharded TFRecords + ``metadata.json``.

    Crash safety: shards are written under temporary names (``.<split>_<start>.tfrecords.tmp``) and
    ``metadata.json`` (the mark of a complete set: readers refuse a directory without it) is written
    last. Commit order: new metadata to a temporary file; the old ``metadata.json`` removed; shards
    renamed into place; the old set's other shards removed; the new metadata renamed into place. A
    run killed at any moment leaves either a complete set or no ``metadata.json``; one that fails
    (bad lines, a full disk) before the commit leaves the directory as it was. A job of an array
    commits the same way with its job file ``metadata.shard-<I>-of-<N>.json`` in place of
    ``metadata.json`` (which it removes: the set is incomplete until :func:`merge_record_shards`)
    and removes no other job's files.

    Args:
        dataset_dir: holds ``Train/sample.txt`` and ``Test/sample.txt`` (optionally
            ``Validation/sample.txt``; otherwise a validation split is taken off train by a hash of
            the label text, so validation texts never occur in train).
        char_dict_dir: the three JSON maps (see :mod:`toolkit.charset`).
        save_dir: output directory (created).
        validation_fraction: share of train texts moved to validation, in [0, 1).
        shard_size: examples per shard.
        skip_bad: skip bad lines and report them instead of stopping.
        seed: shuffles train examples before sharding (deterministic).
        progress: show a tqdm progress bar.
        overwrite: replace whatever record set ``save_dir`` holds. Without it, a directory whose
            ``metadata.json`` (or, between the jobs of an array and the merge, job file) names
            another source dataset directory or another char dict, or that holds shards without
            any metadata, is refused; the same dataset is rewritten.
        shard_index, num_shards: write only the shard files ``k`` (of each split, numbered from 0)
            with ``k % num_shards == shard_index``, and ``metadata.shard-<I>-of-<N>.json`` instead
            of ``metadata.json``; every job reads all label files (the same split and shuffle)
            but checks and encodes only its own lines. Other jobs' files are left alone. Join
            the jobs with :func:`merge_record_shards`.
        keep_spaces: keep runs of whitespace inside labels (otherwise their lines are bad; see
            :mod:`toolkit.labels`, which also strips every label's ends).

    Returns:
        A :class:`WriteReport` (for a job of an array: of its files).

    Raises:
        DatasetError: without ``skip_bad``, if any line is bad: a missing or unreadable image, a
            char missing from the char dict, a label too long for the image's time steps, a run of
            whitespace in a label (without ``keep_spaces``). The
            message lists the first problems with file, line and value.
        FileExistsError: if ``save_dir`` holds another dataset's records and not ``overwrite``.
        OSError: if writing fails (a full disk); the message names the file.
        ValueError, TypeError: for a bad ``validation_fraction``, ``shard_size`` or job place.
    """
    from tqdm import tqdm

    dataset_dir, save_dir = Path(dataset_dir), Path(save_dir)
    plan = _plan_write(dataset_dir, char_dict_dir, save_dir, validation_fraction, shard_size, seed,
                       overwrite, shard_index, num_shards, keep_spaces)
    save_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(plan)
    bar = tqdm(total=plan.total, desc="write-tfrecords", unit="img", disable=not progress)
    shards = _ShardWriter(plan, bar)
    try:
        shards.write_all()
        bar.close()
        if plan.problems and not skip_bad:
            raise _bad_lines_error(plan)
        shards.report.skipped = plan.problems
        metadata = _write_metadata(plan, shards, validation_fraction, shard_index, shard_size, seed)
        _commit(plan, shards.tmp_paths, metadata, overwrite)
    except BaseException:
        bar.close()
        for tmp in shards.opened:
            tmp.unlink(missing_ok=True)
        if not plan.sharded:  # other jobs of an array may be writing theirs
            for leftover in save_dir.glob(".*.tfrecords.tmp"):
                leftover.unlink(missing_ok=True)
        plan.meta_tmp.unlink(missing_ok=True)
        raise
    if plan.problems:
        logger.warning("skipped %d bad line(s); first: %s", len(plan.problems), plan.problems[0])
    return shards.report


def merge_record_shards(save_dir: str | os.PathLike) -> WriteReport:
    """Join the jobs of ``write_tfrecords(..., shard_index=I, num_shards=N)``: write
    ``metadata.json`` from the ``N`` job files ``metadata.shard-<I>-of-<N>.json`` (counts summed,
    shard lists in position order, shard byte sizes joined, bad lines counted once), and delete
    shard files of an older set that no job listed. The job files are kept, so the merge can be
    repeated. ``metadata.json`` is written last (atomically), as by :func:`write_tfrecords`.

    Returns:
        A :class:`WriteReport` of the whole set (``skipped``: the first messages only).

    Raises:
        DatasetError: if a job file is missing (job not run, failed, or not finished) or
            unreadable, job files of several ``N`` are present, the jobs disagree on the char dict
            or the settings (validation fraction, shard size, seed, label files, source dataset),
            or a listed shard is missing or not of the size its job recorded.
    """
    save_dir = Path(save_dir)
    try:
        count, jobs = find_shards(save_dir.glob(JOB_METADATA_GLOB), save_dir,
                                  "write-tfrecords")
    except ValueError as e:
        raise DatasetError(str(e)) from None
    metas = []
    for i in range(count):
        try:
            meta = json.loads(jobs[i].read_text(encoding="utf-8"))
            meta["job"]["skipped_in_label_files"], meta["counts"], meta["shards"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as e:
            raise DatasetError(f"{jobs[i]}: not a readable write-tfrecords job file ({e!r}); run "
                               f"that job again") from None
        metas.append(meta)
    first = metas[0]
    for i, meta in enumerate(metas):
        for what, get in (("char dict", lambda m: m["charset"]["sha256"]),
                          ("validation_fraction", lambda m: m["validation_fraction"]),
                          ("label files", lambda m: m["label_files"]),
                          ("source dataset", lambda m: m.get("source_dataset_dir")),
                          ("shard_size", lambda m: m["job"]["shard_size"]),
                          ("seed", lambda m: m["job"]["seed"])):
            if get(meta) != get(first):
                raise DatasetError(f"{jobs[i]}: {what} {get(meta)!r} differs from job 0's "
                                   f"{get(first)!r}; run every job with the same arguments")

    def start_of(name: str) -> int:
        parsed = parse_shard_file_name(name)
        if parsed is None:
            raise DatasetError(f"{save_dir}: {name!r} listed in a job file is not a shard name")
        return parsed[1]

    report = WriteReport()
    shard_bytes: dict[str, int] = {}
    for meta in metas:
        shard_bytes.update(meta.get("shard_bytes", {}))
    for split in SPLITS:
        report.counts[split] = sum(m["counts"].get(split, 0) for m in metas)
        report.shards[split] = sorted((n for m in metas for n in m["shards"].get(split, [])),
                                      key=start_of)
        for n in report.shards[split]:
            path = save_dir / n
            if not path.exists():
                raise DatasetError(f"{save_dir}: shard {n} of split {split} is missing")
            if n in shard_bytes and path.stat().st_size != shard_bytes[n]:
                raise DatasetError(f"{path}: {path.stat().st_size} bytes, but its job file says "
                                   f"{shard_bytes[n]}: truncated or changed after it was written; "
                                   f"run that job again")
    label_skipped = first["job"]["skipped_in_label_files"]
    skipped = label_skipped + sum(m["skipped"] - label_skipped for m in metas)
    # Problems in the label files are found by every job: list each once.
    report.skipped = list(dict.fromkeys(x for m in metas for x in m["skipped_examples"]))[:10]
    listed = {n for names in report.shards.values() for n in names}
    for old in save_dir.glob(SHARD_GLOB):
        if old.name not in listed:
            logger.info("removing %s: not part of the merged set", old)
            old.unlink()
    metadata = {k: v for k, v in first.items() if k != "job"}
    metadata.update(counts=report.counts, shards=report.shards,
                    shard_bytes={n: shard_bytes[n] for n in sorted(listed) if n in shard_bytes},
                    skipped=skipped, skipped_examples=report.skipped, jobs=count)
    atomic_write_json(save_dir / METADATA_FILE, metadata)
    return report


def load_metadata_json(record_dir: str | os.PathLike) -> dict:
    """Read ``metadata.json`` of a record directory without checking its shards.

    Raises:
        DatasetError: if it is missing (the set was not completely written), not JSON, or of
            another format version.
    """
    record_dir = Path(record_dir)
    return read_versioned_json(record_dir / METADATA_FILE, FORMAT_VERSION, DatasetError,
                               f"{record_dir}: no {METADATA_FILE}: not a record set written by "
                               f"write-tfrecords, or its writing did not finish")


def read_metadata(record_dir: str | os.PathLike) -> dict:
    """Read and check ``metadata.json`` of a record directory.

    Raises:
        DatasetError: if it is missing (the set was not completely written), not JSON, of another
            format version, or names shards that do not exist or whose size differs from the one
            recorded when they were written (a truncated shard).
    """
    record_dir = Path(record_dir)
    p = record_dir / METADATA_FILE
    meta = load_metadata_json(record_dir)
    sizes = meta.get("shard_bytes", {})
    for split, names in meta["shards"].items():
        for n in names:
            shard = record_dir / n
            if not shard.exists():
                raise DatasetError(f"{p}: shard {n} of split {split} is missing")
            if n in sizes and shard.stat().st_size != sizes[n]:
                raise DatasetError(
                    f"{shard}: {shard.stat().st_size} bytes, but {p} says {sizes[n]}: the shard "
                    f"was truncated or changed after it was written; write the set again "
                    f"('crnn-toolkit verify --dataset-dir {record_dir}' checks every record)")
    return meta


def check_charset(meta: dict, charset: Charset, record_dir) -> None:
    """Raise :class:`DatasetError` if a record set was written with another char dict."""
    stored = meta["charset"]["sha256"]
    if stored != charset.sha256:
        raise DatasetError(
            f"{record_dir}: records were written with another char dict "
            f"({meta['charset']['num_classes']} classes, sha256 {stored[:12]}) than the one given "
            f"({charset.num_classes} classes, sha256 {charset.sha256[:12]}); label ids would be wrong")



def feature_spec():
    import tensorflow as tf

    return {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/format": tf.io.FixedLenFeature([], tf.string),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/name": tf.io.FixedLenFeature([], tf.string),
        "label/ids": tf.io.VarLenFeature(tf.int64),
        "label/text": tf.io.FixedLenFeature([], tf.string),
    }


def parse_example(serialized):
    """Parse one serialized example into a dict of model-ready tensors.

    Returns:
        ``images`` float32 ``(32, W, 1)`` (see :mod:`toolkit.preprocess`), ``widths`` int32 (W),
        ``labels`` int32 ``(n,)``, ``label_length`` int32, ``texts`` and ``names`` strings.
    """
    import tensorflow as tf

    f = tf.io.parse_single_example(serialized, feature_spec())
    grey = tf.io.decode_image(f["image/encoded"], channels=1, expand_animations=False)
    image = preprocess.prepare_tf(grey)
    labels = tf.cast(tf.sparse.to_dense(f["label/ids"]), tf.int32)
    return {
        "images": image,
        "widths": tf.shape(image)[1],
        "labels": labels,
        "label_length": tf.shape(labels)[0],
        "texts": f["label/text"],
        "names": f["image/name"],
    }


def shard_paths(record_dir: str | os.PathLike, split: str) -> list[str]:
    """Paths of a split's shards as listed in ``metadata.json``.

    Raises:
        DatasetError: if the split is unknown or empty.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    meta = read_metadata(record_dir)
    names = meta["shards"].get(split, [])
    if not names:
        raise DatasetError(f"{record_dir}: split {split!r} has no records")
    return [str(Path(record_dir) / n) for n in names]


def find_damaged_record(record_dir: str | os.PathLike,
                        splits: tuple[str, ...] = SPLITS) -> str | None:
    """Read the shards of ``splits`` record by record and name the first one that cannot be read.

    Returns:
        ``"<shard path>: record <index>: <TensorFlow's message>"`` (index 0-based), or ``None`` if
        every record of those splits reads (CRC checked).
    """
    import tensorflow as tf

    meta = read_metadata(record_dir)
    for split in splits:
        for name in meta["shards"].get(split, []):
            path = Path(record_dir) / name
            index = 0
            try:
                for _ in tf.data.TFRecordDataset(str(path)):
                    index += 1
            except tf.errors.OpError as e:
                return f"{path}: record {index}: {e.message.splitlines()[0][:200]}"
    return None


def damaged_records_error(record_dir: str | os.PathLike, splits: tuple[str, ...],
                          err: Exception, also: Sequence[str | os.PathLike] = ()) -> DatasetError:
    """The error to raise when reading records failed with a ``tf.errors.DataLossError``: names the
    damaged shard and record (see :func:`find_damaged_record`) and what to do. ``also``: other
    record sets the failed read drew from (a training ``mix``), searched after ``record_dir``;
    the message names the first that holds a damaged record."""
    where = None
    for directory in (record_dir, *also):
        where = find_damaged_record(directory, splits)
        if where:
            record_dir = directory
            break
    where = where or f"{record_dir}: {err}"
    return DatasetError(f"{where}: the record set is damaged (corrupt or truncated TFRecord data); "
                        f"check it with 'crnn-toolkit verify --dataset-dir {record_dir}' and write "
                        f"it again with write-tfrecords")


WIDTH_BUCKETS = tuple(range(32, 512, 16)) + (576, 640, 768, 1024, 1536)


def make_dataset(record_dir: str | os.PathLike, split: str, batch_size: int,
                 training: bool, seed: int = 0, shuffle_buffer: int = 2000,
                 repeat: bool | None = None, input_shard: tuple[int, int] | None = None,
                 keys: Sequence[str] | None = None,
                 mix: Sequence[tuple[str | os.PathLike, float]] = ()):
    """A ``tf.data.Dataset`` of padded batches from a record split.

    Args:
        record_dir: a directory written by :func:`write_tfrecords`.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: examples per batch.
        training: shuffle, repeat and drop incomplete batches. Both modes batch lines of similar
            widths (buckets of :data:`WIDTH_BUCKETS` px), so evaluation order is by bucket.
        seed: shuffle seed.
        repeat: repeat forever (default: ``training``).
        input_shard: ``(index, count)``: read only this input pipeline's part of the split, for
            ``tf.distribute`` workers: shard files ``index, index + count, ...`` of the split's
            list; with fewer files than ``count``, every ``count``-th example instead (each
            worker then reads every file; a warning says so).
        keys: keep only these keys of each batch (e.g. what a train step reads), dropped right after
            parsing so nothing runs on them and no extra map runs after the prefetch.
        mix: other record directories and their weights, ``[(dir, weight), ...]``: examples are
            drawn from ``record_dir`` and from each of them at random in proportion to the
            weights, ``record_dir`` weighing ``1 - sum(weights)`` (``tf.data.Dataset.
            sample_from_datasets``, seeded by ``seed``), before batching, so a batch mixes the
            sets. Each set is read, shuffled and repeated on its own, so a small set repeats
            more often than a large one. Only with ``training`` (a mixed evaluation would hide
            which set a score belongs to).

    Returns:
        Batches as dicts: ``images`` float32 ``(batch, 32, W, 1)`` padded with 0, ``widths`` int32
        ``(batch,)`` true widths, ``labels`` int32 ``(batch, L)`` padded with -1, ``label_length``
        int32 ``(batch,)``, ``texts`` and ``names`` string ``(batch,)``; only ``keys`` if given.

    Raises:
        ValueError: if ``keys`` names a key batches do not have (or misses ``widths``, which
            batching by width needs), or ``input_shard`` is out of range, or for ``mix`` without
            ``training``, a weight <= 0 or weights that leave ``record_dir`` nothing (sum >= 1).
        DatasetError: if a directory of ``mix`` has no records in ``split``.
    """
    import tensorflow as tf

    mix = check_mix(record_dir, mix)
    if mix and not training:
        raise ValueError("mix (other record sets drawn with record_dir) is for training only")
    streams = [_example_stream(record_dir, split, training, seed, shuffle_buffer, repeat,
                               input_shard)]
    streams += [_example_stream(d, split, training, seed + 1 + i, shuffle_buffer, repeat,
                                input_shard) for i, (d, _) in enumerate(mix)]
    if mix:
        weights = [1.0 - sum(w for _, w in mix)] + [w for _, w in mix]
        ds = tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=seed)
    else:
        ds = streams[0]
    return _parse_and_batch(ds, batch_size, training, keys)


def check_mix(record_dir: str | os.PathLike, mix: Sequence[tuple[str | os.PathLike, float]],
              ) -> list[tuple[Path, float]]:
    """``mix`` (see :func:`make_dataset`) as ``[(Path, float), ...]``.

    Raises:
        ValueError: for a weight that is not > 0, or weights that sum to 1 or more (leaving
            ``record_dir`` no share).
    """
    mix = [(Path(d), float(w)) for d, w in mix]
    bad = [(str(d), w) for d, w in mix if not w > 0]
    if bad:
        raise ValueError(f"mix weights must be > 0, got {bad}")
    total = sum(w for _, w in mix)
    if total >= 1:
        raise ValueError(f"mix weights sum to {total:g}: they must leave {record_dir} (weighing "
                         f"1 minus their sum) a share > 0")
    return mix


def _example_stream(record_dir, split: str, training: bool, seed: int, shuffle_buffer: int,
                    repeat: bool | None, input_shard: tuple[int, int] | None):
    """The serialized examples of one record split for :func:`make_dataset`: this input
    pipeline's shard files, shuffled, interleaved and repeated when training."""
    import tensorflow as tf

    files = shard_paths(record_dir, split)
    by_example = None
    if input_shard is not None:
        index, count = input_shard
        if not 0 <= index < count:
            raise ValueError(f"input_shard must be (index, count) with 0 <= index < count, got "
                             f"{input_shard!r}")
        if len(files) >= count:
            files = files[index::count]
        elif count > 1:
            logger.warning("%s: split %s has %d shard file(s) for %d input pipelines: each reads "
                           "every file and keeps every %d-th example; write smaller shards "
                           "(write-tfrecords --shard-size) to divide files instead", record_dir,
                           split, len(files), count, count)
            by_example = (count, index)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    if by_example is not None:
        ds = ds.shard(*by_example)
    if repeat if repeat is not None else training:
        ds = ds.repeat()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    return ds


def _parse_and_batch(ds, batch_size: int, training: bool, keys: Sequence[str] | None):
    """Parse serialized examples and batch them by width for :func:`make_dataset`."""
    import tensorflow as tf

    padded_shapes = {"images": [preprocess.HEIGHT, None, 1], "widths": [], "labels": [None],
                     "label_length": [], "texts": [], "names": []}
    padding_values = {"images": 0.0, "widths": 0, "labels": -1, "label_length": 0,
                      "texts": "", "names": ""}
    parse = parse_example
    if keys is not None:
        keys = tuple(keys)
        unknown = sorted(set(keys) - set(padded_shapes))
        if unknown or "widths" not in keys:
            raise ValueError(f"keys must be among {sorted(padded_shapes)} and hold 'widths' (batching "
                             f"by width needs it), got {list(keys)}")
        padded_shapes = {k: padded_shapes[k] for k in keys}
        padding_values = {k: padding_values[k] for k in keys}

        def parse(serialized):
            example = parse_example(serialized)
            return {k: example[k] for k in keys}

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    # Batches of similar widths (little padding), in training and in evaluation alike: the
    # backward LSTM reads the padding first, so scores should not depend on batch neighbours.
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda x: x["widths"],
        bucket_boundaries=list(WIDTH_BUCKETS),
        bucket_batch_sizes=[batch_size] * (len(WIDTH_BUCKETS) + 1),
        padded_shapes=padded_shapes, padding_values=padding_values,
        drop_remainder=training)
    # The input work (read, decode, pad: ~5 ms of CPU per batch of 32) runs on its own pool of half
    # the cores, so on a small machine it cannot crowd out the training step's ops. Measured with
    # tools/benchmark.py --only input: with every batch width warmed, a step fed from these records
    # runs within noise of the same step fed from memory.
    options = tf.data.Options()
    options.threading.private_threadpool_size = max(1, len(os.sched_getaffinity(0)) // 2) \
        if hasattr(os, "sched_getaffinity") else max(1, (os.cpu_count() or 2) // 2)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def decode_images_np(record_dir, split: str) -> list[dict]:
    """Read a split into memory as a list of dicts (``image`` grey uint8 ``(h, w)``, ``text``,
    ``name``, ``ids``); for tests and small sets."""
    import tensorflow as tf

    out = []
    for raw in tf.data.TFRecordDataset(shard_paths(record_dir, split)):
        f = tf.io.parse_single_example(raw, feature_spec())
        img = tf.io.decode_image(f["image/encoded"], channels=1, expand_animations=False)
        out.append({"image": np.asarray(img)[:, :, 0], "text": f["label/text"].numpy().decode(),
                    "name": f["image/name"].numpy().decode(),
                    "ids": tf.sparse.to_dense(f["label/ids"]).numpy().tolist(),
                    "width": int(f["image/width"]), "height": int(f["image/height"])})
    return out
