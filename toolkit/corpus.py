"""Corpus stage: read the text that the synthetic line images are drawn from.

A corpus is a UTF-8 text file with one entry per line, in one of two shapes, detected line by line:

* a plain line of text, e.g. ``春风又绿江南岸``;
* a THUOCL-style entry ``phrase<TAB>frequency``, e.g. ``明月几时有\\t1287`` (the format of
  ``THUOCL_poem.txt`` used by the original workflow). A line is taken as such an entry when it holds a
  tab and its last tab-separated field is a non-negative integer; only the phrase is kept.

Mixing: :class:`CorpusMix` draws line texts from several sources, each with a share: corpus files
(``--corpus FILE:WEIGHT``) and generated text (``--generated KIND:WEIGHT``,
:mod:`toolkit.textgen`), given one by one (:class:`SourceSpec`, :func:`parse_corpus_option`,
:func:`parse_generated_option`) or as a JSON mix config (:func:`read_mix_config`, e.g. the
bundled ``corpora/mix.json``); char-frequency balancing works over the union of their chars.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.textgen import KINDS, TextGenerator

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


# ------------------------------------------------------------------------------------- mixing
MIX_CONFIG_FORMAT_VERSION = 1


@dataclass(frozen=True)
class SourceSpec:
    """One source of a corpus mix, as ``--corpus``, ``--generated`` or a mix config names it.

    Attributes:
        path: a corpus file (:func:`read_corpus` formats), or None for generated text.
        kind: a :data:`toolkit.textgen.KINDS` name, or None for a file.
        weight: the source's weight, relative to the other sources' (any unit; the shares are the
            weights over their sum). None for a file given without one: such files are pooled,
            as gen-images has always pooled its corpora, and the pool weighs its line count.

    Raises:
        ValueError: from ``__post_init__``: neither or both of ``path`` and ``kind``, an unknown
            kind, a generated source without a weight, or a weight that is not a finite number
            >= 0; the message names the source and the value.
    """

    path: Path | None = None
    kind: str | None = None
    weight: float | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.kind is None):
            raise ValueError(f"a corpus source is a file or a generated kind, got path={self.path!r}, "
                             f"kind={self.kind!r}")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"unknown generated text kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.weight is None and self.kind is not None:
            raise ValueError(f"generated source {self.kind!r} needs a weight (KIND:WEIGHT)")
        if self.weight is not None and (isinstance(self.weight, bool)
                                        or not isinstance(self.weight, int | float)
                                        or not math.isfinite(self.weight) or self.weight < 0):
            raise ValueError(f"weight of corpus source {self.name!r} must be a number >= 0, got "
                             f"{self.weight!r}")

    @property
    def name(self) -> str:
        """The file path or ``generated:KIND``."""
        return str(self.path) if self.path is not None else f"generated:{self.kind}"


def _split_weight(value: str, what: str) -> tuple[str, float | None]:
    head, sep, tail = value.rpartition(":")
    if not sep:
        return value, None
    try:
        weight = float(tail)
    except ValueError:
        raise ValueError(f"{what} {value!r}: the text after the last ':' must be a weight, got "
                         f"{tail!r}") from None
    return head, weight


def parse_corpus_option(value: str) -> SourceSpec:
    """Parse ``FILE`` or ``FILE:WEIGHT`` (the ``--corpus`` option).

    A value naming an existing file is that file without a weight, even if it holds a ``:``.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the weight is not a number >= 0.
    """
    if Path(value).is_file():
        return SourceSpec(path=Path(value))
    head, weight = _split_weight(value, "--corpus")
    if not Path(head).is_file():
        raise FileNotFoundError(f"--corpus {value!r}: corpus file {head!r} not found")
    return SourceSpec(path=Path(head), weight=weight)


def parse_generated_option(value: str) -> SourceSpec:
    """Parse ``KIND:WEIGHT`` (the ``--generated`` option), e.g. ``number:0.05``.

    Raises:
        ValueError: for an unknown kind, a missing weight, or a weight that is not a number >= 0.
    """
    kind, weight = _split_weight(value, "--generated")
    return SourceSpec(kind=kind, weight=weight)


def read_mix_config(path: str | os.PathLike[str]) -> list[SourceSpec]:
    """Read a corpus mix config: a JSON object such as::

        {"format_version": 1,
         "sources": [{"file": "songci.txt", "weight": 0.3},
                     {"generated": "number", "weight": 0.05}]}

    ``file`` paths are relative to the config's folder; every source needs a ``weight``.

    Raises:
        FileNotFoundError: if the config or one of its files does not exist.
        CorpusError: if it is not UTF-8 JSON of that shape and version, or a source is bad; the
            message names the config and the source's position.
    """
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CorpusError(f"{path}: not a UTF-8 JSON mix config ({err})") from None
    if not isinstance(obj, dict) or obj.get("format_version") != MIX_CONFIG_FORMAT_VERSION:
        raise CorpusError(f"{path}: expected a JSON object with \"format_version\": "
                          f"{MIX_CONFIG_FORMAT_VERSION} and \"sources\"")
    sources = obj.get("sources")
    if not isinstance(sources, list) or not sources:
        raise CorpusError(f"{path}: \"sources\" must be a non-empty list")
    specs = []
    for i, item in enumerate(sources):
        where = f"{path}: sources[{i}]"
        if not isinstance(item, dict) or set(item) - {"file", "generated", "weight"} \
                or "weight" not in item:
            raise CorpusError(f"{where}: expected {{\"file\" or \"generated\", \"weight\"}}, "
                              f"got {item!r}")
        file = item.get("file")
        try:
            spec = SourceSpec(path=path.parent / file if isinstance(file, str) else file,
                              kind=item.get("generated"), weight=item["weight"])
        except ValueError as err:
            raise CorpusError(f"{where}: {err}") from None
        if spec.path is not None and not spec.path.is_file():
            raise FileNotFoundError(f"{where}: corpus file {spec.path} not found")
        specs.append(spec)
    return specs


@dataclass(frozen=True)
class _Source:
    name: str
    weight: float
    units: range = range(0)  # a file source's indices into CorpusMix.units
    kind: str | None = None  # a generated source's kind


class CorpusMix:
    """Draws the texts of synthetic lines from weighted sources: corpus files and generated text.

    A draw first picks a source with probability weight / sum of weights (no random number is
    used when there is one source), then a text from it:

    - a file source: a char position drawn uniformly over the source's text units, a length
      uniform in ``[min_chars, max_chars]`` (the whole unit if it is not longer) and a start such
      that the segment holds the position; the segment's ends are stripped;
    - a generated source: a :class:`toolkit.textgen.TextGenerator` string.

    Char-frequency balancing: with probability ``balance`` (drawn before the source), a char is
    drawn uniformly from :attr:`chars`, the union of the chars of every file source and of
    ``extra_chars`` (e.g. the named sets added to the charset), and the text is a segment around
    a uniformly drawn occurrence of it in the file sources (so the context stays real text); a
    char with no occurrence (one only ``extra_chars`` brings) gets a random sequence of
    :attr:`chars` holding it. Every char of the union is so drawn about once in
    ``len(chars) / balance`` texts, however rare it is in the files.

    With plain files only (no weights, no generated sources, no ``extra_chars``) the draws are
    those gen-images made before mixing existed: the same seed gives the same texts.

    The occurrence index is built on the first balanced draw and is not pickled, so a worker
    process receives only the units.
    """

    def __init__(self, units: Sequence[str], sources: Sequence[_Source], *, min_chars: int,
                 max_chars: int, balance: float = 0.0, extra_chars: Iterable[str] = (),
                 num_lines: int = 0) -> None:
        """Use :meth:`from_specs` or :meth:`from_units`.

        Raises:
            ValueError: no source, weights summing to 0, ``min_chars``/``max_chars`` out of
                order, or a ``random`` source with no chars to draw from.
        """
        if not sources:
            raise ValueError("a corpus mix needs at least one source")
        if not 1 <= min_chars <= max_chars:
            raise ValueError(f"need 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
        self.units = list(units)
        self.min_chars, self.max_chars, self.balance = min_chars, max_chars, balance
        self.num_lines = num_lines
        self.cumulative = np.cumsum([len(u) for u in self.units], dtype=np.int64)
        own = set("".join(self.units))
        self.chars = "".join(sorted(c for c in own.union(extra_chars) if not c.isspace()))
        self.sources = list(sources)
        self.generators = {s.kind: TextGenerator(s.kind, self.chars if s.kind == "random" else "")
                           for s in self.sources if s.kind is not None}
        total = sum(s.weight for s in self.sources)
        if total <= 0:
            raise ValueError("the corpus sources' weights sum to 0")
        self.shares = [s.weight / total for s in self.sources]
        self._bounds = np.cumsum(self.shares)
        self._index: tuple[np.ndarray, np.ndarray] | None = None

    units: list[str]
    """Text units of every file source, pooled files first, then the weighted ones in order."""
    chars: str
    """The union of the file sources' chars and ``extra_chars``, by code point, no whitespace:
    what balancing and the ``random`` kind draw from."""
    num_lines: int
    """Corpus lines read by :meth:`from_specs` (0 for :meth:`from_units`)."""

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_units(cls, units: Sequence[str], *, min_chars: int, max_chars: int,
                   balance: float = 0.0, extra_chars: Iterable[str] = ()) -> CorpusMix:
        """A mix of one pooled source made of ``units`` (text pieces to cut segments from)."""
        return cls(units, [_Source("units", 1.0, range(len(units)))], min_chars=min_chars,
                   max_chars=max_chars, balance=balance, extra_chars=extra_chars)

    @classmethod
    def from_specs(cls, specs: Sequence[SourceSpec], cut_units: Callable[[list[str]], list[str]],
                   *, min_chars: int, max_chars: int, balance: float = 0.0,
                   extra_chars: Iterable[str] = ()) -> CorpusMix:
        """Read the files of ``specs`` and build the mix.

        Args:
            specs: the sources; the files without a weight form one pooled source (their lines
                together, weighing their line count) placed first.
            cut_units: corpus lines -> text units (e.g. :func:`toolkit.synth.text_units` with a
                config); applied to the pooled lines at once and to each weighted file.
            min_chars, max_chars, balance, extra_chars: see the class docstring.

        Raises:
            FileNotFoundError, CorpusError: from :func:`read_corpus`; CorpusError also if a file
                source has no text unit (names the file).
            ValueError: if there is no source or the weights sum to 0.
        """
        units: list[str] = []
        sources: list[_Source] = []
        num_lines = 0

        def add(name: str, weight: float | None, lines: list[str]) -> None:
            nonlocal num_lines
            cut = cut_units(lines)
            if not cut:
                raise CorpusError(f"no text unit of at least {min_chars} chars (--min-chars) in {name}")
            start = len(units)
            units.extend(cut)
            sources.append(_Source(name, float(len(lines) if weight is None else weight),
                                   range(start, len(units))))
            num_lines += len(lines)

        pooled = [s for s in specs if s.path is not None and s.weight is None]
        if pooled:
            add(", ".join(str(s.path) for s in pooled), None,
                [line for s in pooled for line in read_corpus(s.path)])
        for spec in specs:
            if spec.path is not None and spec.weight is not None:
                add(str(spec.path), spec.weight, read_corpus(spec.path))
            elif spec.kind is not None:
                sources.append(_Source(spec.name, float(spec.weight), kind=spec.kind))
        return cls(units, sources, min_chars=min_chars, max_chars=max_chars, balance=balance,
                   extra_chars=extra_chars, num_lines=num_lines)

    # ---------------------------------------------------------------- sampling
    def sample(self, rng: np.random.Generator) -> str:
        """Draw one text (see the class docstring); it may be empty only if a unit is all space."""
        return self.sample_with_source(rng)[1]

    def sample_with_source(self, rng: np.random.Generator) -> tuple[int, str]:
        """Draw one text and say where it came from: the index of its source in
        :attr:`sources`, or -1 for a balanced draw's random sequence."""
        if self.balance > 0 and rng.random() < self.balance:
            return self._balanced(rng)
        k = 0 if len(self.sources) == 1 else min(
            int(np.searchsorted(self._bounds, rng.random(), side="right")), len(self.sources) - 1)
        source = self.sources[k]
        if source.kind is not None:
            return k, self.generators[source.kind](rng, self.min_chars, self.max_chars)
        first = int(self.cumulative[source.units.start - 1]) if source.units.start else 0
        last = int(self.cumulative[source.units.stop - 1])
        return k, self._segment(first + int(rng.integers(last - first)), rng)

    def _segment(self, position: int, rng: np.random.Generator) -> str:
        u = int(np.searchsorted(self.cumulative, position, side="right"))
        unit = self.units[u]
        offset = position - (int(self.cumulative[u - 1]) if u else 0)
        length = int(rng.integers(self.min_chars, self.max_chars + 1))
        if len(unit) <= length:
            return unit
        lo, hi = max(0, offset - length + 1), min(offset, len(unit) - length)
        start = int(rng.integers(lo, hi + 1))
        return unit[start : start + length].strip()

    def _occurrences(self) -> tuple[np.ndarray, np.ndarray]:
        """Corpus positions grouped by char: ``positions[starts[k]:starts[k + 1]]`` are those of
        ``chars[k]`` (an empty range for a char only ``extra_chars`` brings)."""
        if self._index is None:
            codes = np.frombuffer("".join(self.units).encode("utf-32-le"), dtype=np.uint32)
            order = np.argsort(codes, kind="stable")
            sorted_codes = codes[order]
            union = np.array([ord(c) for c in self.chars], dtype=np.uint32)
            starts = np.searchsorted(sorted_codes, union, side="left")
            stops = np.searchsorted(sorted_codes, union, side="right")
            self._index = (order.astype(np.int64), np.stack([starts, stops], axis=1))
        return self._index

    def _balanced(self, rng: np.random.Generator) -> tuple[int, str]:
        positions, ranges = self._occurrences()
        k = int(rng.integers(len(self.chars)))
        start, stop = (int(v) for v in ranges[k])
        if stop > start:
            position = int(positions[int(rng.integers(start, stop))])
            u = int(np.searchsorted(self.cumulative, position, side="right"))
            source = next(i for i, s in enumerate(self.sources) if u in s.units)
            return source, self._segment(position, rng)
        length = int(rng.integers(self.min_chars, self.max_chars + 1))
        text = [self.chars[int(i)] for i in rng.integers(len(self.chars), size=length)]
        text[int(rng.integers(length))] = self.chars[k]
        return -1, "".join(text)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_index"] = None  # rebuilt in the worker on its first balanced draw
        return state

    def describe(self) -> list[dict]:
        """The sources for ``gen_config.json``: name, weight, share, and units of a file source."""
        return [{"name": s.name, "weight": s.weight, "share": round(share, 6),
                 **({"kind": s.kind} if s.kind is not None else {"text_units": len(s.units)})}
                for s, share in zip(self.sources, self.shares, strict=True)]
