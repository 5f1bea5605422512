"""The verify stage: read a whole TFRecord set back and check it before hours of training.

``crnn-toolkit verify --dataset-dir DIR [--char-dict-dir DIR]`` reads every record of every shard
listed in ``metadata.json`` and checks, with the same TensorFlow decoders that training uses:

- the metadata: present, readable, its charset consistent with its sha256, and the same charset as
  ``--char-dict-dir`` when one is given;
- every shard: present, of the size recorded when it was written, every record's CRC intact, as many
  records as its name says (``<split>_feature_<start>_<end>``: ``end - start``);
- every record: all schema features present; the image decodes and has the stored width and height;
  the label ids are classes of the charset (never the blank), decode to the stored label text, and fit
  the image's CTC time steps;
- every split: as many records as ``metadata.json`` counts.

Problems are reported with the shard and the 0-based record index; nothing is changed on disk.

``crnn-toolkit verify --model-dir DIR`` checks a model directory the same way before it is used
or copied (:func:`verify_model_dir`): ``shadownet.json`` and ``char_dict/`` agree, every
checkpoint is complete, and the one the readers pick restores into the configured network.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from toolkit import preprocess
from toolkit.charset import Charset, CharsetError
from toolkit.checkpoints import (
    CHECKPOINT_DIR,
    MODEL_JSON,
    CheckpointError,
    ModelSpec,
    checkpoint_prefixes,
    checkpoint_problem,
    load_model,
)
from toolkit.locks import LOCK_FILE, LockOwner
from toolkit.records import (
    METADATA_FILE,
    SPLITS,
    DatasetError,
    feature_spec,
    load_metadata_json,
    parse_shard_file_name,
)

logger = logging.getLogger(__name__)

MAX_REPORTED = 50
"""Problems kept in a report (all are counted)."""


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_records`.

    Attributes:
        record_dir: the record directory checked.
        counts: records read per split.
        expected: records per split according to ``metadata.json``.
        shards: shards checked.
        problems: one message per problem (the first :data:`MAX_REPORTED`), each naming the file
            and, for a record, its shard and 0-based index.
        num_problems: all problems found.
        charset_sha256: sha256 of the charset the labels were checked against.
    """

    record_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    shards: int = 0
    problems: list[str] = field(default_factory=list)
    num_problems: int = 0
    charset_sha256: str = ""

    @property
    def ok(self) -> bool:
        """True if no problem was found."""
        return self.num_problems == 0

    def add(self, message: str) -> None:
        """Record a problem."""
        self.num_problems += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(message)

    def format(self) -> str:
        """A multi-line human-readable report ending with ``OK`` or the problem count."""
        lines = [f"{self.record_dir}: {self.shards} shard(s), charset sha256 "
                 f"{self.charset_sha256[:16]}"]
        for split in SPLITS:
            if split in self.expected or split in self.counts:
                lines.append(f"  {split}: {self.counts.get(split, 0)} records read, "
                             f"{self.expected.get(split, 0)} in metadata")
        if self.ok:
            lines.append("OK: every record decodes and matches the metadata and the char dict")
        else:
            lines.append(f"FAILED: {self.num_problems} problem(s)")
            lines += [f"  {p}" for p in self.problems]
            if self.num_problems > len(self.problems):
                lines.append(f"  ... and {self.num_problems - len(self.problems)} more")
        return "\n".join(lines)


def _check_record(raw, where: str, charset: Charset, report: VerifyReport) -> None:
    import numpy as np
    import tensorflow as tf

    try:
        f = tf.io.parse_single_example(raw, feature_spec())
    except tf.errors.OpError as e:
        report.add(f"{where}: not a record of this schema ({e.message.splitlines()[0][:200]})")
        return
    width, height = int(f["image/width"]), int(f["image/height"])
    text = f["label/text"].numpy().decode("utf-8", errors="replace")
    ids = tf.sparse.to_dense(f["label/ids"]).numpy().tolist()
    try:
        image = tf.io.decode_image(f["image/encoded"], channels=1, expand_animations=False)
    except tf.errors.OpError as e:
        report.add(f"{where}: image does not decode ({e.message.splitlines()[0][:200]})")
        return
    if tuple(np.shape(image)[:2]) != (height, width):
        report.add(f"{where}: image decodes as {image.shape[1]}x{image.shape[0]} px, the record "
                   f"says {width}x{height}")
        return
    if not ids:
        report.add(f"{where}: empty label")
        return
    bad = [i for i in ids if not 0 <= i < charset.blank_index]
    if bad:
        report.add(f"{where}: label id {bad[0]} is not a char class of the char dict (classes "
                   f"0..{charset.blank_index - 1}, blank {charset.blank_index}); label text "
                   f"{text!r}")
        return
    if charset.decode(ids) != text:
        report.add(f"{where}: label ids {ids} decode to {charset.decode(ids)!r} with the char "
                   f"dict, but the label text is {text!r}")
        return
    need, steps = preprocess.ctc_min_steps(ids), preprocess.time_steps(width, height)
    if need > steps:
        report.add(f"{where}: label {text!r} needs {need} CTC time steps, the {width}x{height} "
                   f"image gives {steps}")


def verify_records(record_dir: str | os.PathLike, char_dict_dir: str | os.PathLike | None = None,
                   progress: bool = True) -> VerifyReport:
    """Read and check every record of a record set (see the module docstring for the checks).

    Args:
        record_dir: a directory written by write-tfrecords.
        char_dict_dir: the char dict to check the labels against (default: the charset stored in
            ``metadata.json``); a different char dict is reported as a problem.
        progress: show a tqdm progress bar over records.

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is False if anything is wrong.

    Raises:
        DatasetError: if ``metadata.json`` is missing or unreadable (nothing else can be checked).
        CharsetError, FileNotFoundError: if ``char_dict_dir`` cannot be loaded.
    """
    import tensorflow as tf
    from tqdm import tqdm

    record_dir = Path(record_dir)
    meta_path = record_dir / METADATA_FILE
    meta = load_metadata_json(record_dir)
    try:
        shards_by_split = meta["shards"]
        expected = meta["counts"]
        stored_charset = meta["charset"]
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{meta_path}: not a readable record-set metadata file ({e!r})") from None
    report = VerifyReport(record_dir=record_dir, expected=dict(expected))

    try:
        charset = Charset.from_json(stored_charset)
        if stored_charset.get("num_classes") not in (None, charset.num_classes):
            report.add(f"{meta_path}: num_classes {stored_charset['num_classes']} does not match "
                       f"its {len(charset)} chars (+ blank = {charset.num_classes})")
    except CharsetError as e:
        report.add(f"{meta_path}: charset: {e}")
        charset = None
    if char_dict_dir is not None:
        given = Charset.load(char_dict_dir)
        if charset is not None and given.sha256 != charset.sha256:
            report.add(f"{meta_path}: the records were written with another char dict "
                       f"({charset.num_classes} classes, sha256 {charset.sha256[:12]}) than "
                       f"{char_dict_dir} ({given.num_classes} classes, sha256 "
                       f"{given.sha256[:12]}); their label ids would be wrong")
        charset = given
    if charset is None:
        return report
    report.charset_sha256 = charset.sha256

    sizes = meta.get("shard_bytes", {})
    total = sum(int(v) for v in expected.values())
    with tqdm(total=total, desc="verify", unit="rec", disable=not progress) as bar:
        for split, names in shards_by_split.items():
            read = 0
            for name in names:
                path = record_dir / name
                report.shards += 1
                if not path.exists():
                    report.add(f"{path}: shard listed in {METADATA_FILE} is missing")
                    continue
                size = path.stat().st_size
                if name in sizes and size != sizes[name]:
                    report.add(f"{path}: {size} bytes, {METADATA_FILE} says {sizes[name]} "
                               f"(truncated or changed after writing)")
                index = 0
                try:
                    for raw in tf.data.TFRecordDataset(str(path)):
                        _check_record(raw, f"{path}: record {index}", charset, report)
                        index += 1
                        bar.update(1)
                except tf.errors.OpError as e:
                    report.add(f"{path}: record {index}: unreadable TFRecord data, corrupt or "
                               f"truncated ({e.message.splitlines()[0][:200]})")
                parsed = parse_shard_file_name(name)
                if parsed and parsed[2] - parsed[1] != index:
                    report.add(f"{path}: {index} records read, its name says "
                               f"{parsed[2] - parsed[1]}")
                read += index
            report.counts[split] = read
            if read != int(expected.get(split, 0)):
                report.add(f"{meta_path}: split {split!r} counts {expected.get(split, 0)} records, "
                           f"{read} were read from its shards")
    logger.info("verified %s: %s", record_dir, "OK" if report.ok else
                f"{report.num_problems} problem(s)")
    return report


@dataclass
class ModelDirReport:
    """Outcome of :func:`verify_model_dir`.

    Attributes:
        model_dir: the model directory checked.
        checkpoints: ``(prefix, problem or None)`` for every checkpoint, newest first (the order
            of :func:`toolkit.checkpoints.checkpoint_prefixes`).
        used: the checkpoint that train-shadownet, test-shadownet, demo and export use (the
            newest complete one), or ``None``.
        problems: one message per problem, each naming the file.
        notes: facts worth knowing that are not problems (the run holding the directory's lock).
    """

    model_dir: Path
    checkpoints: list[tuple[str, str | None]] = field(default_factory=list)
    used: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if no problem was found."""
        return not self.problems

    def format(self) -> str:
        """A multi-line human-readable report ending with ``OK`` or the problem count."""
        lines = [f"{self.model_dir}: {len(self.checkpoints)} checkpoint(s)"]
        for prefix, problem in self.checkpoints:
            state = "complete" if problem is None else f"DAMAGED: {problem}"
            mark = "  <- used" if prefix == self.used else ""
            lines.append(f"  {Path(prefix).name}: {state}{mark}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.ok:
            lines.append("OK: shadownet.json, char_dict/ and every checkpoint are complete and "
                         "consistent")
        else:
            lines.append(f"FAILED: {len(self.problems)} problem(s)")
            lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def verify_model_dir(model_dir: str | os.PathLike) -> ModelDirReport:
    """Check a model directory written by train-shadownet; nothing is changed on disk.

    Checks: ``shadownet.json`` readable; ``char_dict/`` holds the charset it names (same sha256);
    every checkpoint complete (:func:`toolkit.checkpoints.checkpoint_problem`); the newest complete
    one restores into the network ``shadownet.json`` describes. A lock held by a live run (or left
    by a dead one) is noted, not counted as a problem.

    Returns:
        A :class:`ModelDirReport`; ``report.ok`` is False if anything is wrong.
    """
    model_dir = Path(model_dir)
    report = ModelDirReport(model_dir=model_dir)
    try:
        spec = ModelSpec.load(model_dir)
    except (CheckpointError, ValueError, KeyError, TypeError) as e:
        report.problems.append(f"{model_dir / MODEL_JSON}: {e}")
        return report
    try:
        saved = Charset.load(model_dir / "char_dict")
        if saved.sha256 != spec.charset.sha256:
            report.problems.append(
                f"{model_dir / 'char_dict'}: another charset ({saved.num_classes} classes, sha256 "
                f"{saved.sha256[:12]}) than {MODEL_JSON} ({spec.charset.num_classes} classes, "
                f"sha256 {spec.charset.sha256[:12]}), which the readers use")
    except (CharsetError, OSError, ValueError) as e:
        report.problems.append(f"{model_dir / 'char_dict'}: {e}")

    lock = model_dir / LOCK_FILE
    if lock.exists():
        try:
            owner = LockOwner.from_json(lock.read_text(encoding="utf-8"))
            state = "left by" if owner.is_dead() else "held by"
            report.notes.append(f"{lock}: {state} {owner.describe()}")
        except (OSError, ValueError):
            report.notes.append(f"{lock}: a lock file without a readable owner")

    ckpt_dir = model_dir / CHECKPOINT_DIR
    for prefix in checkpoint_prefixes(ckpt_dir):
        problem = checkpoint_problem(prefix)
        report.checkpoints.append((prefix, problem))
        if problem is not None:
            report.problems.append(f"{prefix}: damaged checkpoint ({problem})")
        elif report.used is None:
            report.used = prefix
    if not report.checkpoints:
        report.problems.append(f"{ckpt_dir}: no checkpoint")
    elif report.used is None:
        report.problems.append(f"{ckpt_dir}: no complete checkpoint; the readers refuse this "
                               f"model directory")
    else:
        try:
            load_model(report.used)
        except CheckpointError as e:
            report.problems.append(str(e))
    logger.info("verified %s: %s", model_dir, "OK" if report.ok else
                f"{len(report.problems)} problem(s)")
    return report
