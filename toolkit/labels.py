"""Label files: ``sample.txt`` and the other ``image label`` list formats users bring.

Accepted line formats (detected per line):

- ``relative/path.jpg label``   (the original gen_sample.py format; split at the first space)
- ``relative/path.jpg<TAB>label`` (PaddleOCR, trdg; split at the first tab)
- ``relative/path.jpg;label``   (tf.crnn CSV; used when the text before the first ``;`` has no
  space and ends with an image file extension)

Paths are resolved against the dataset directory first, then against the label file's directory.
A UTF-8 BOM and CRLF line ends are accepted; empty and whitespace-only lines are skipped. Labels
are folded by :func:`toolkit.charset.normalize_text` (full-width digits and Latin letters read as
ASCII, the ideographic space as the space).

Whitespace in labels: a label's leading and trailing whitespace is stripped (a second separator
space, a space before the line end), and the number of labels stripped is logged at WARNING. A
run of two or more whitespace chars inside a label is reported as a bad line unless the caller
keeps such runs (``keep_spaces``, ``--keep-spaces``): a stray space would be trained as the
charset's space class. Single spaces between words are kept.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from toolkit.charset import normalize_text
from toolkit.io import read_utf8_text

logger = logging.getLogger(__name__)

_WHITESPACE_RUN = re.compile(r"\s{2,}")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class LabelFileError(ValueError):
    """A label file line that cannot be parsed or points at a missing image."""


@dataclass(frozen=True)
class LabelEntry:
    """One line of a label file.

    Attributes:
        image_path: absolute path of the image.
        name: the path as written in the label file (used as the image name in records).
        label: the text, stripped of leading and trailing whitespace, single spaces inside
            kept (runs of them only with ``keep_spaces``), folded by
            :func:`toolkit.charset.normalize_text`.
        source: ``"<label file>:<line>"`` for error messages.
    """

    image_path: Path
    name: str
    label: str
    source: str


def split_line(line: str) -> tuple[str, str] | None:
    """Split one label-file line into ``(path, label)``; ``None`` if it has no separator."""
    if "\t" in line:
        path, label = line.split("\t", 1)
        return path.strip(), label
    head, sep, tail = line.partition(";")
    if sep and " " not in head and head.lower().endswith(IMAGE_EXTENSIONS):
        return head, tail
    head, sep, tail = line.partition(" ")
    if not sep:
        return None
    return head, tail


def read_label_file(path: str | os.PathLike, dataset_dir: str | os.PathLike | None = None,
                    check_exists: bool = True, keep_spaces: bool = False,
                    ) -> tuple[list[LabelEntry], list[str]]:
    """Parse a label file.

    Args:
        path: the label file.
        dataset_dir: base directory for relative image paths (default: the label file's parent's
            parent, i.e. the dataset directory for ``DIR/Train/sample.txt``).
        check_exists: report lines whose image file does not exist.
        keep_spaces: keep runs of whitespace inside labels as written, instead of reporting
            their lines as bad.

    Returns:
        ``(entries, problems)``: the good lines, and one message per bad line naming the file, the
        line number and the value (no separator, empty or whitespace-only label, a run of
        whitespace inside the label without ``keep_spaces``, missing image).

    Raises:
        LabelFileError: if the file is not valid UTF-8 (names the line).
    """
    path = Path(path)
    base = Path(dataset_dir) if dataset_dir is not None else path.parent.parent
    text = read_utf8_text(path, LabelFileError)
    entries: list[LabelEntry] = []
    problems: list[str] = []
    stripped: list[str] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        parts = split_line(line)
        if parts is None:
            problems.append(f"{where}: no separator between image path and label in {line!r}")
            continue
        name, label = parts[0], normalize_text(parts[1])
        if not label.strip():
            problems.append(f"{where}: empty or whitespace-only label {label!r} for image {name!r}")
            continue
        if label != label.strip():
            stripped.append(where)
            label = label.strip()
        run = None if keep_spaces else _WHITESPACE_RUN.search(label)
        if run is not None:
            problems.append(f"{where}: label {label!r} for image {name!r} has {len(run.group())} "
                            f"whitespace chars in a row at char {run.start() + 1} (each would be "
                            f"trained as a space); fix the line, or pass --keep-spaces to keep "
                            f"such runs as written")
            continue
        image_path = Path(name)
        if not image_path.is_absolute():
            candidate = base / name
            image_path = candidate if candidate.exists() else path.parent / name
        if check_exists and not image_path.exists():
            problems.append(f"{where}: image file {name!r} not found (looked in {base} and "
                            f"{path.parent})")
            continue
        entries.append(LabelEntry(image_path=image_path, name=name, label=label, source=where))
    if stripped:
        logger.warning("%s: stripped leading or trailing whitespace from %d label(s) (first: %s)",
                       path, len(stripped), ", ".join(stripped[:3]))
    return entries, problems
