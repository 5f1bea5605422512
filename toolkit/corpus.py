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


def read_corpus_numbered(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """Read a UTF-8 corpus file and return its non-empty entries with their 1-based line numbers.

    The same reading as :func:`read_corpus` (which returns only the texts); the line numbers let a later
    stage name the place of a text, e.g. the first line holding a char that no font can draw.

    Returns:
        ``(line number, entry)`` pairs in file order.

    Raises:
        FileNotFoundError, CorpusError: as :func:`read_corpus`.
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

    entries: list[tuple[int, str]] = []
    blank_lines: list[int] = []
    tabbed = 0
    # Only CR and LF end a line here: str.splitlines() would also split on form feeds, U+2028 and such.
    pieces = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # A file ending with a newline yields one empty trailing piece: that is not a blank line.
    if pieces and pieces[-1] == "":
        pieces.pop()
    for line_no, raw in enumerate(pieces, start=1):
        line = raw.strip()
        if "\t" in line:
            phrase, _, last = line.rpartition("\t")
            if _FREQUENCY.fullmatch(last):
                line = phrase.strip()
                tabbed += 1
        if not line:
            blank_lines.append(line_no)
            continue
        entries.append((line_no, line))
    logger.info(
        "read %d corpus lines from %s (%d phrase<TAB>frequency entries, %d blank lines skipped%s)",
        len(entries),
        path,
        tabbed,
        len(blank_lines),
        f": lines {', '.join(map(str, blank_lines[:5]))}{' ...' if len(blank_lines) > 5 else ''}"
        if blank_lines
        else "",
    )
    if not entries:
        raise CorpusError(
            f"{path}: no text in the corpus ({len(pieces)} lines, all empty or whitespace-only"
            f"{': lines ' + ', '.join(map(str, blank_lines[:5])) if blank_lines else ''}"
            f"{' ...' if len(blank_lines) > 5 else ''})"
        )
    return entries


def read_corpus(path: str | os.PathLike[str]) -> list[str]:
    """Read a UTF-8 corpus file and return its non-empty entries, in file order.

    A leading UTF-8 byte order mark is dropped; lines may end with LF, CRLF or CR. Each line is stripped
    of surrounding whitespace; a THUOCL ``phrase<TAB>frequency`` line gives its phrase (see the module
    docstring). Empty and whitespace-only lines (and THUOCL lines with an empty phrase) are skipped; their
    number and the first of their line numbers are logged at INFO. Whitespace inside a line is kept as it
    is.

    Args:
        path: the corpus file.

    Returns:
        The entries, one ``str`` per kept line (never empty, no leading or trailing whitespace).

    Raises:
        FileNotFoundError: if ``path`` does not exist (other ``OSError`` s as raised by ``open``).
        CorpusError: if the file is not valid UTF-8 (the message names the file, the 1-based line
            number and the offending bytes), or holds no text at all (empty, or only empty and
            whitespace-only lines; the message names the file and the first such lines).
    """
    return [line for _, line in read_corpus_numbered(path)]


def first_occurrences(
    paths: Iterable[str | os.PathLike[str]], chars: Iterable[str]
) -> dict[str, tuple[Path, int, str]]:
    """Find where each of ``chars`` first occurs in the corpus files.

    Args:
        paths: corpus files, searched in order.
        chars: single characters to look for.

    Returns:
        ``{char: (file, 1-based line number, the stripped line)}`` for each char found.

    Raises:
        FileNotFoundError, CorpusError: as :func:`read_corpus`.
    """
    wanted = set(chars)
    found: dict[str, tuple[Path, int, str]] = {}
    for path in paths:
        for line_no, line in read_corpus_numbered(path):
            for ch in wanted.intersection(line):
                found[ch] = (Path(path), line_no, line)
            wanted -= found.keys()
            if not wanted:
                return found
    return found


def char_frequencies(lines: Iterable[str]) -> Counter[str]:
    """Count how often each character occurs in ``lines``.

    Whitespace characters (``str.isspace``) are not counted: they are not glyphs the recognizer is
    taught to read as characters of the charset.

    Args:
        lines: corpus entries, e.g. the result of :func:`read_corpus`.

    Returns:
        A ``Counter`` mapping each single-character ``str`` to its number of occurrences (``int``).
    """
    counts: Counter[str] = Counter("".join(lines))  # one C-level count, not one call per line
    for ch in [c for c in counts if c.isspace()]:
        del counts[ch]
    return counts
