"""Fonts stage: load font faces and know which characters each one can draw.

Coverage comes from the face's Unicode cmap (read with fontTools), so that a text is only ever rendered
with a face that has a glyph for every one of its characters: no tofu boxes in the training images.
A face is named by a *spec*: a font file path, or ``PATH:INDEX`` for one face of a TrueType/OpenType
collection (``.ttc``/``.otc``), e.g. ``/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:2``
(the Simplified Chinese face of Debian's Noto Sans CJK).
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont, TTLibError
from PIL import ImageFont

logger = logging.getLogger(__name__)

_COLLECTION_TAG = b"ttcf"
_PROBE_SIZE_PX = 24
# What fontTools raises on a damaged or foreign file: besides TTLibError, its parsers assert on bad
# headers and hit the end of the data in struct.unpack / slicing.
_FONT_READ_ERRORS = (TTLibError, OSError, ValueError, AssertionError, struct.error, KeyError,
                     IndexError, EOFError)


class FontError(ValueError):
    """A font spec does not name a usable font face."""


@dataclass(frozen=True)
class FontFace:
    """One face of a font file and the characters it covers.

    Attributes:
        path: the font file.
        index: the face index inside the file (0 for a single-face ``.ttf``/``.otf``).
        name: the face's full name from its ``name`` table, e.g. ``"Noto Sans CJK SC"``.
        codepoints: the Unicode code points its cmap maps to a real glyph (not ``.notdef``).
    """

    path: Path
    index: int
    name: str
    codepoints: frozenset[int]

    def covers(self, text: str) -> bool:
        """Return True if the face has a glyph for every character of ``text``.

        Whitespace characters (``str.isspace``) always count as covered: they are drawn as a gap.
        """
        cps = self.codepoints
        return all(ord(ch) in cps or ch.isspace() for ch in text)

    def missing(self, text: str) -> list[str]:
        """Return the distinct characters of ``text`` the face has no glyph for, in order of first
        appearance (whitespace never counts as missing); empty when :meth:`covers` is True."""
        cps = self.codepoints
        seen: dict[str, None] = {}
        for ch in text:
            if ord(ch) not in cps and not ch.isspace():
                seen.setdefault(ch, None)
        return list(seen)

    @property
    def spec(self) -> str:
        """The spec that loads this face again: ``"PATH:INDEX"``."""
        return f"{self.path}:{self.index}"


def _split_spec(spec: str | os.PathLike[str]) -> tuple[Path, int | None]:
    """Return ``(path, index or None)`` for a spec; an existing path is never split."""
    text = os.fspath(spec)
    path = Path(text)
    if path.exists():
        return path, None
    head, sep, tail = text.rpartition(":")
    if sep and head and tail.isdigit() and Path(head).exists():
        return Path(head), int(tail)
    raise FontError(f"font file not found: {text!r} (expected PATH or PATH:INDEX)")


def _face_name(font: TTFont) -> str:
    name = font.get("name")
    if name is None:
        return "?"
    return name.getBestFullName() or name.getBestFamilyName() or "?"


def _collection_faces(path: Path) -> list[str]:
    """Return the full names of the faces of a collection file."""
    try:
        coll = TTCollection(str(path), lazy=True)
        names = [_face_name(face) for face in coll.fonts]
    except _FONT_READ_ERRORS as err:
        raise FontError(f"{path}: not a readable font collection ({err!r})") from err
    coll.close()
    return names


def load_font(spec: str | os.PathLike[str]) -> FontFace:
    """Load one font face and its character coverage.

    ``spec`` is a font file path, or ``PATH:INDEX`` to pick face ``INDEX`` (0-based) of a collection.
    If the spec names an existing file it is taken as a path even when it contains a ``:``. A collection
    given without an index gives face 0, with a WARNING that lists the faces available.

    Args:
        spec: ``PATH`` or ``PATH:INDEX`` (``str`` or path-like).

    Returns:
        The :class:`FontFace`, with the code points of its best Unicode cmap.

    Raises:
        FontError: if the file is missing, is not a font fontTools can read (the message names the file
            and quotes fontTools), has no Unicode cmap, has no face ``INDEX``, or cannot be opened by
            Pillow's FreeType renderer.
    """
    path, index = _split_spec(spec)
    try:
        with path.open("rb") as fh:
            is_collection = fh.read(4) == _COLLECTION_TAG
    except OSError as err:
        raise FontError(f"{path}: cannot read font file ({err})") from err

    if is_collection:
        faces = _collection_faces(path)
        listing = ", ".join(f"{i}: {n}" for i, n in enumerate(faces))
        if index is None:
            index = 0
            logger.warning(
                "%s is a font collection and no face index was given: using face 0; "
                "pass %s:INDEX to choose one of %s",
                path,
                path,
                listing,
            )
        elif index >= len(faces):
            raise FontError(f"{path}: no face {index} in this collection (faces: {listing})")
    elif index is None:
        index = 0
    elif index != 0:
        raise FontError(f"{path}: not a font collection, so face index {index} does not exist")

    try:
        font = TTFont(str(path), fontNumber=index, lazy=True)
    except _FONT_READ_ERRORS as err:
        raise FontError(f"{path}: not a font file fontTools can read ({err})") from err
    try:
        try:
            cmap = font.getBestCmap()
            name = _face_name(font)
        except _FONT_READ_ERRORS as err:
            raise FontError(f"{path}: not a font file fontTools can read ({err!r})") from err
        if not cmap:
            raise FontError(f"{path} face {index}: the font has no Unicode cmap")
        codepoints = frozenset(cp for cp, glyph in cmap.items() if glyph != ".notdef")
    finally:
        font.close()

    try:
        ImageFont.truetype(str(path), _PROBE_SIZE_PX, index=index)
    except OSError as err:
        raise FontError(f"{path} face {index}: Pillow cannot open it ({err})") from err

    face = FontFace(path=path, index=index, name=name, codepoints=codepoints)
    logger.debug("loaded font %s face %d (%s): %d code points", path, index, name, len(codepoints))
    return face


def load_fonts(specs: Iterable[str | os.PathLike[str]]) -> list[FontFace]:
    """Load several faces with :func:`load_font`, in the order given.

    Raises:
        FontError: as :func:`load_font`, or if ``specs`` is empty.
    """
    faces = [load_font(spec) for spec in specs]
    if not faces:
        raise FontError("no font given")
    return faces
