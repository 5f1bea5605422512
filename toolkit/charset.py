"""The charset: the one place that knows chars, class indices, the space class and the CTC blank.

File formats (kept from the original CRNN_Tensorflow project, REFERENCE.md step 5; all JSON keys and
values are strings):

- ``chinese.txt``: one char per line, UTF-8. Its order is the class order.
- ``char_dict.json``:       ``{"<ord>": "<char>"}``, e.g. ``{"23398": "学"}``
- ``ord_2_index_map.json``: ``{"<ord>": "<index>"}``
- ``index_2_ord_map.json``: ``{"<index>": "<ord>"}``

Class layout: the chars of ``chinese.txt`` in file order take indices ``0 .. n-1``; the space
(U+0020) is a class of its own, appended at index ``n`` unless ``chinese.txt`` already lists it; the
CTC blank is the last index, ``num_classes - 1``, and is not in the JSON maps. Hence
``num_classes = chars + space + blank = len(ord_2_index_map) + 1``. Nothing else in the toolkit
computes ``num_classes``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit.io import atomic_write_json, read_utf8_text

logger = logging.getLogger(__name__)

SPACE = " "
CHAR_DICT_FILE = "char_dict.json"
ORD_2_INDEX_FILE = "ord_2_index_map.json"
INDEX_2_ORD_FILE = "index_2_ord_map.json"
MAP_FILES = (CHAR_DICT_FILE, ORD_2_INDEX_FILE, INDEX_2_ORD_FILE)


class CharsetError(ValueError):
    """A char list, a char dict or a label that does not fit the charset."""


def _describe(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})"


@dataclass(frozen=True)
class Charset:
    """An ordered list of chars with the space class and the CTC blank.

    Attributes:
        chars: the classes in index order, the space included; ``chars[i]`` is class ``i``.
    """

    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for i, c in enumerate(self.chars):
            if len(c) != 1:
                raise CharsetError(f"charset entry {i} is {c!r}: each entry must be exactly one char")
            if c in seen:
                raise CharsetError(
                    f"duplicate char {_describe(c)} at indices {seen[c]} and {i}")
            seen[c] = i
        if SPACE not in seen:
            raise CharsetError("charset has no space class; build it with Charset.from_chars()")
        object.__setattr__(self, "_index", seen)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_chars(cls, chars: Iterable[str]) -> Charset:
        """Build a charset from chars in class order, appending the space class if absent.

        Raises:
            CharsetError: on an entry that is not one char, or a duplicate char (names the char and
                both indices).
        """
        out = list(chars)
        if SPACE not in out:
            out.append(SPACE)
        return cls(tuple(out))

    @classmethod
    def from_char_file(cls, path: str | os.PathLike) -> Charset:
        """Read ``chinese.txt``: one char per line, UTF-8; a UTF-8 BOM and CR line ends are accepted.

        A line holding a single space is the space class. Empty lines are skipped.

        Raises:
            FileNotFoundError: if the file does not exist.
            CharsetError: on invalid UTF-8, a line with more than one char, or a duplicate char; the
                message names the file, the line and the value.
        """
        path = Path(path)
        text = read_utf8_text(path, CharsetError)
        chars: list[str] = []
        first: dict[str, int] = {}
        for lineno, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip("\r")
            if line == "":
                continue
            if line != SPACE:
                line = line.strip() or line
            if len(line) != 1:
                raise CharsetError(f"{path}:{lineno}: expected one char per line, got {line!r}")
            if line in first:
                raise CharsetError(f"{path}:{lineno}: duplicate char {_describe(line)} "
                                   f"(first at line {first[line]})")
            first[line] = lineno
            chars.append(line)
        if not chars:
            raise CharsetError(f"{path}: no chars")
        return cls.from_chars(chars)

    @classmethod
    def load(cls, char_dict_dir: str | os.PathLike) -> Charset:
        """Load the three JSON maps written by :meth:`save` and check they agree.

        Raises:
            FileNotFoundError: if one of the three files is missing.
            CharsetError: if a file is not valid JSON or repeats a key, the indices are not
                ``0..n-1``, two indices map to the same char, or the maps disagree (an ord in one
                map and not the other, a char whose ord is not its key); the message names the file
                and the entry.
        """
        d = Path(char_dict_dir)
        maps = {}
        for name in MAP_FILES:
            p = d / name
            if not p.exists():
                raise FileNotFoundError(f"char dict file {p} not found (expected {', '.join(MAP_FILES)})")
            try:
                maps[name] = json.loads(p.read_text(encoding="utf-8"),
                                        object_pairs_hook=functools.partial(_no_duplicate_keys, p))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise CharsetError(f"{p}: not valid UTF-8 JSON: {e}") from e
            if not isinstance(maps[name], dict):
                raise CharsetError(f"{p}: expected a JSON object")
        char_dict, o2i, i2o = (maps[n] for n in MAP_FILES)
        n = len(i2o)
        try:
            order = [int(i2o[str(i)]) for i in range(n)]
        except KeyError as e:
            raise CharsetError(f"{d / INDEX_2_ORD_FILE}: index {e.args[0]} missing; "
                               f"indices must be 0..{n - 1}") from None
        except ValueError as e:
            raise CharsetError(f"{d / INDEX_2_ORD_FILE}: non-integer ord: {e}") from None
        first_index: dict[int, int] = {}
        for i, o in enumerate(order):
            if o in first_index:
                raise CharsetError(f"{d / INDEX_2_ORD_FILE}: duplicate char {_describe(chr(o))}: "
                                   f"indices {first_index[o]} and {i} both map to ord {o}")
            first_index[o] = i
        for i, o in enumerate(order):
            if o2i.get(str(o)) != str(i):
                raise CharsetError(
                    f"{d / ORD_2_INDEX_FILE}: ord {o} maps to {o2i.get(str(o))!r}, but "
                    f"{INDEX_2_ORD_FILE} says index {i}: the maps are inconsistent")
            c = char_dict.get(str(o))
            if c is None or len(c) != 1 or ord(c) != o:
                raise CharsetError(f"{d / CHAR_DICT_FILE}: entry for ord {o} is {c!r}, expected "
                                   f"{chr(o)!r}: the maps are inconsistent")
        if len(o2i) != n or len(char_dict) != n:
            raise CharsetError(f"{d}: the three maps have different sizes "
                               f"({len(char_dict)}, {len(o2i)}, {n}): inconsistent")
        return cls(tuple(chr(o) for o in order))

    def save(self, char_dict_dir: str | os.PathLike) -> list[Path]:
        """Write the three JSON maps into ``char_dict_dir`` (created if needed), atomically.

        Output is deterministic: keys in class order, UTF-8, 2-space indent, trailing newline.

        Returns:
            The three paths written.
        """
        d = Path(char_dict_dir)
        d.mkdir(parents=True, exist_ok=True)
        contents = {
            CHAR_DICT_FILE: {str(ord(c)): c for c in self.chars},
            ORD_2_INDEX_FILE: {str(ord(c)): str(i) for i, c in enumerate(self.chars)},
            INDEX_2_ORD_FILE: {str(i): str(ord(c)) for i, c in enumerate(self.chars)},
        }
        written = []
        for name, obj in contents.items():
            path = d / name
            atomic_write_json(path, obj)
            written.append(path)
        return written

    # ---------------------------------------------------------------- properties
    @property
    def space_index(self) -> int:
        """Class index of the space (U+0020)."""
        return self._index[SPACE]  # type: ignore[attr-defined]

    @property
    def blank_index(self) -> int:
        """Class index of the CTC blank: always the last, ``num_classes - 1``."""
        return len(self.chars)

    @property
    def num_classes(self) -> int:
        """``chars + space + blank``: the width of the model's logits."""
        return len(self.chars) + 1

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self._index  # type: ignore[attr-defined]

    @property
    def sha256(self) -> str:
        """Hex sha256 of the class order (the code points joined by commas); identifies the charset."""
        return hashlib.sha256(",".join(str(ord(c)) for c in self.chars).encode()).hexdigest()

    # ---------------------------------------------------------------- encode / decode
    def missing(self, text: str) -> list[str]:
        """Chars of ``text`` that are not classes, in order of first appearance."""
        seen: list[str] = []
        for c in text:
            if c not in self._index and c not in seen:  # type: ignore[attr-defined]
                seen.append(c)
        return seen

    def encode(self, text: str, where: str = "") -> list[int]:
        """Map a label to class indices.

        Args:
            text: the label.
            where: a location for the error message, e.g. ``"Train/sample.txt:12"``.

        Returns:
            One int in ``[0, num_classes - 2]`` per char (the blank never appears).

        Raises:
            CharsetError: if a char is not in the charset; names the char, its code point, the label
                and ``where``.
        """
        try:
            return [self._index[c] for c in text]  # type: ignore[attr-defined]
        except KeyError as e:
            c = e.args[0]
            prefix = f"{where}: " if where else ""
            raise CharsetError(f"{prefix}char {_describe(c)} of label {text!r} is not in the char "
                               f"dict ({len(self.chars)} chars)") from None

    def decode(self, indices: Sequence[int]) -> str:
        """Map class indices back to text; the blank and out-of-range indices are dropped."""
        n = len(self.chars)
        return "".join(self.chars[i] for i in indices if 0 <= i < n)

    def to_json(self) -> dict:
        """A JSON-able description: chars in order, sha256, num_classes."""
        return {"chars": "".join(self.chars), "sha256": self.sha256,
                "num_classes": self.num_classes, "blank_index": self.blank_index,
                "space_index": self.space_index}

    @classmethod
    def from_json(cls, obj: dict) -> Charset:
        """Inverse of :meth:`to_json`; checks the stored sha256.

        Raises:
            CharsetError: if the stored hash does not match the chars.
        """
        cs = cls(tuple(obj["chars"]))
        if obj.get("sha256") not in (None, cs.sha256):
            raise CharsetError("stored charset hash does not match its chars: the file was edited")
        return cs


def _no_duplicate_keys(path: Path, pairs: list[tuple[str, object]]) -> dict:
    """``json.loads`` hook: a repeated key (which ``json`` would silently keep the last of) is an
    error naming the file, the key and both values."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise CharsetError(f"{path}: key {key!r} appears twice (values {out[key]!r} and "
                               f"{value!r})")
        out[key] = value
    return out


def build_char_dict(char_dict_file: str | os.PathLike, save_dir: str | os.PathLike) -> Charset:
    """The build-char-dict stage: ``chinese.txt`` -> the three JSON maps in ``save_dir``.

    Raises:
        CharsetError: see :meth:`Charset.from_char_file`.
    """
    charset = Charset.from_char_file(char_dict_file)
    charset.save(save_dir)
    logger.info("wrote %s in %s: %d classes incl. space, num_classes=%d (blank=%d)",
                ", ".join(MAP_FILES), save_dir, len(charset), charset.num_classes,
                charset.blank_index)
    return charset
