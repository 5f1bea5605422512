"""Corpus stage: read the text that the synthetic line images are drawn from.

A corpus is a UTF-8 text file with one entry per line, in one of two shapes, detected line by line:

* a plain line of text, e.g. ``春风又绿江南岸``;
* a THUOCL-style entry ``phrase<TAB>frequency``, e.g. ``明月几时有\\t1287`` (the format of
  ``THUOCL_poem.txt`` used by the original workflow). A line is taken as such an entry when it holds a
  tab and its last tab-separated field is a non-negative integer; only the phrase is kept.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_FREQUENCY = re.compile(r"\s*\d+\s*")


class CorpusError(ValueError):
    """A corpus file cannot be used: bad encoding, or nothing usable in it."""


def _line_number_at(data: bytes, offset: int) -> int:
    """Return the 1-based line number of byte ``offset`` in ``data`` (CRLF, CR and LF end a line)."""
    prefix = data[:offset]
    return prefix.count(b"\n") + prefix.count(b"\r") - prefix.count(b"\r\n") + 1


def read_corpus(path: str | os.PathLike[str]) -> list[str]:
    """Read a UTF-8 corpus file and return its non-empty entries, in file order.

    A leading UTF-8 byte order mark is dropped; lines may end with LF, CRLF or CR. Each line is stripped
    of surrounding whitespace; a THUOCL ``phrase<TAB>frequency`` line gives its phrase (see the module
    docstring). Empty and whitespace-only lines (and THUOCL lines with an empty phrase) are skipped and
    their number is logged at INFO. Whitespace inside a line is kept as it is.

    Args:
        path: the corpus file.

    Returns:
        The entries, one ``str`` per kept line (never empty, no leading or trailing whitespace).

    Raises:
        FileNotFoundError: if ``path`` does not exist (other ``OSError`` s as raised by ``open``).
        CorpusError: if the file is not valid UTF-8; the message names the file, the 1-based line
            number and the offending bytes.
    """
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = data[err.start : err.end]
        line_no = _line_number_at(data, err.start)
        raise CorpusError(
            f"{path}: line {line_no} is not valid UTF-8 (offending bytes {bad!r}: {err.reason}); "
            f"re-encode the corpus as UTF-8"
        ) from None

    entries: list[str] = []
    blank = 0
    tabbed = 0
    # Only CR and LF end a line here: str.splitlines() would also split on form feeds, U+2028 and such.
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if "\t" in line:
            phrase, _, last = line.rpartition("\t")
            if _FREQUENCY.fullmatch(last):
                line = phrase.strip()
                tabbed += 1
        if not line:
            blank += 1
            continue
        entries.append(line)
    # A file ending with a newline yields one empty trailing piece: that is not a blank line.
    if text.endswith(("\n", "\r")) or not text:
        blank -= 1
    logger.info(
        "read %d corpus lines from %s (%d phrase<TAB>frequency entries, %d blank lines skipped)",
        len(entries),
        path,
        tabbed,
        blank,
    )
    return entries


def char_frequencies(lines: Iterable[str]) -> Counter[str]:
    """Count how often each character occurs in ``lines``.

    Whitespace characters (``str.isspace``) are not counted: they are not glyphs the recognizer is
    taught to read as characters of the charset.

    Args:
        lines: corpus entries, e.g. the result of :func:`read_corpus`.

    Returns:
        A ``Counter`` mapping each single-character ``str`` to its number of occurrences (``int``).
    """
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(line)
    for ch in [c for c in counts if c.isspace()]:
        del counts[ch]
    return counts
