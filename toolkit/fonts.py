"""Fonts stage: load font faces, know which characters each one can draw, and weigh faces by style.

Coverage comes from the face's Unicode cmap (read with fontTools), less the chars whose glyph draws
nothing (an empty outline: some faces map hundreds of common chars to blank glyphs), so that a text is
only ever rendered with a face that has an inked glyph for every one of its characters: no tofu boxes
and no silent gaps in the training images.

A face is named by a *spec*: a font file path, or ``PATH:INDEX`` for one face of a TrueType/OpenType
collection (``.ttc``/``.otc``), e.g. ``/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:2``
(the Simplified Chinese face of Debian's Noto Sans CJK). WOFF and WOFF2 files are read too: they are
decompressed once into a plain OpenType copy in a cache folder (:func:`font_cache_dir`), which is the
file Pillow renders from (:attr:`FontFace.render_path`).

A font *directory* (:func:`load_font_dir`) may carry a manifest, ``fonts.json``, that gives each face a
style class from :data:`STYLES`; :class:`FaceSampler` then draws faces so that every style gets an equal
share of the images, whatever the number of faces in it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fontTools.pens.basePen import AbstractPen
from fontTools.ttLib import TTCollection, TTFont, TTLibError
from PIL import ImageFont

from toolkit.io import atomic_write_json

logger = logging.getLogger(__name__)

_COLLECTION_TAG = b"ttcf"
_WEB_FONT_TAGS = (b"wOFF", b"wOF2")
_PROBE_SIZE_PX = 24
# What fontTools raises on a damaged or foreign file: besides TTLibError, its parsers assert on bad
# headers and hit the end of the data in struct.unpack / slicing.
_FONT_READ_ERRORS = (TTLibError, OSError, ValueError, AssertionError, struct.error, KeyError,
                     IndexError, EOFError)

#: The style classes of Chinese faces a font manifest may give a face.
STYLES = ("song", "hei", "kai", "fangsong", "rounded", "display", "brush", "handwriting")
#: The style of a Latin text face (``fonts/latin/``): a manifest may give it too. Such a face draws
#: only the ASCII chars of a line whose other chars a Chinese face draws
#: (``SynthConfig.latin_face_prob``), never a whole line.
LATIN_STYLE = "latin"
#: File name of a font directory's manifest.
MANIFEST_NAME = "fonts.json"
#: Suffixes of the files :func:`load_font_dir` takes as fonts when a directory has no manifest.
FONT_SUFFIXES = (".otf", ".ttf", ".ttc", ".otc", ".woff", ".woff2")
#: Environment variable naming the toolkit's cache folder (WOFF/WOFF2 fonts are decompressed into
#: its ``fonts/`` subfolder).
CACHE_ENV = "CRNN_TOOLKIT_CACHE"

# Code points that draw nothing by design, so an empty glyph for them is not a defect: besides
# whitespace (str.isspace) and the control, format and separator categories (Cc, Cf, Zs, Zl, Zp), the
# Unicode default-ignorable marks and the blank letters (Hangul fillers, the blank Braille pattern).
_BLANK_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
                 (0x2800, 0x2800), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0),
                 (0xE0100, 0xE01EF))
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


class FontError(ValueError):
    """A font spec does not name a usable font face."""


@dataclass(frozen=True)
class FontFace:
    """One face of a font file and the characters it covers.

    Attributes:
        path: the font file, as given (a ``.woff2`` stays the ``.woff2``).
        index: the face index inside the file (0 for a single-face ``.ttf``/``.otf``).
        name: the face's full name from its ``name`` table, e.g. ``"Noto Sans CJK SC"``.
        codepoints: the Unicode code points the face draws: those its cmap maps to a glyph other than
            ``.notdef``, less :attr:`empty`.
        style: the face's style class (one of :data:`STYLES`, or :data:`LATIN_STYLE`), or None when
            unknown.
        empty: the code points the cmap maps to a glyph that draws nothing (no contour, no ink),
            other than chars that are blank by design (spaces, format chars); they count as missing.
        render_path: the file to render from: ``path`` itself, or for a WOFF/WOFF2 file its
            decompressed copy in :func:`font_cache_dir` (defaults to ``path``).
    """

    path: Path
    index: int
    name: str
    codepoints: frozenset[int]
    style: str | None = None
    empty: frozenset[int] = field(default=frozenset())
    render_path: Path | None = None

    def __post_init__(self) -> None:
        if self.render_path is None:
            object.__setattr__(self, "render_path", self.path)

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


# --------------------------------------------------------------------------------- empty glyphs

def blank_by_design(cp: int) -> bool:
    """Return True for a code point that draws nothing by design (a space, a control or format char,
    a variation selector, a Hangul filler...), whose empty glyph is therefore not a defect."""
    ch = chr(cp)
    if ch.isspace() or unicodedata.category(ch) in _BLANK_CATEGORIES:
        return True
    return any(lo <= cp <= hi for lo, hi in _BLANK_RANGES)


class _Inked(Exception):
    """Raised by :class:`_InkPen` at the first segment drawn: the glyph has ink."""


class _InkPen(AbstractPen):
    """A pen that stops the drawing (raises :class:`_Inked`) at the first line or curve segment.

    A glyph drawn with moves only (or nothing) has no ink. Components are drawn through the glyph set.
    """

    def __init__(self, glyph_set) -> None:
        self.glyph_set = glyph_set

    def moveTo(self, pt) -> None:
        pass

    def lineTo(self, pt) -> None:
        raise _Inked

    def curveTo(self, *points) -> None:
        raise _Inked

    def qCurveTo(self, *points) -> None:
        raise _Inked

    def closePath(self) -> None:
        pass

    def endPath(self) -> None:
        pass

    def addComponent(self, glyph_name, transformation) -> None:
        if glyph_name in self.glyph_set:
            self.glyph_set[glyph_name].draw(self)


def _glyf_contours(glyf, name: str) -> int:
    """``numberOfContours`` of a TrueType glyph without parsing its points (-1: a composite)."""
    glyph = glyf.glyphs[name]
    data = getattr(glyph, "data", None)
    if data is None:  # already expanded
        return int(getattr(glyph, "numberOfContours", 0))
    return struct.unpack(">h", data[:2])[0] if len(data) >= 2 else 0


def empty_codepoints(font: TTFont, cmap: dict[int, str] | None = None) -> frozenset[int]:
    """Return the code points of ``cmap`` whose glyph draws nothing, less those blank by design.

    A TrueType (``glyf``) glyph is empty when it has no contour (and, for a composite, when every
    component is empty); a CFF or CFF2 glyph when its charstring draws no line or curve segment.
    Glyphs of a simple TrueType outline are taken as inked without decoding their points.

    Args:
        font: an open fontTools font (lazy loading is fine).
        cmap: ``{code point: glyph name}``; default: ``font.getBestCmap()``.

    Returns:
        The empty code points (``.notdef`` mappings are not included: they are not coverage at all).

    Raises:
        Whatever fontTools raises on a damaged ``glyf``/``CFF`` table.
    """
    if cmap is None:
        cmap = font.getBestCmap() or {}
    verdict: dict[str, bool] = {}  # glyph name -> has ink
    glyf = font.get("glyf")
    glyph_set = None

    def inked(name: str, depth: int = 0) -> bool:
        nonlocal glyph_set
        if name in verdict:
            return verdict[name]
        if glyf is not None and name in glyf.glyphs:
            contours = _glyf_contours(glyf, name)
            if contours >= 0 or depth > 8:  # depth: a guard against a cyclic composite
                ink = contours > 0
            else:
                ink = any(inked(c.glyphName, depth + 1) for c in glyf[name].components)
        else:
            if glyph_set is None:
                glyph_set = font.getGlyphSet()
            try:
                glyph_set[name].draw(_InkPen(glyph_set))
                ink = False
            except _Inked:
                ink = True
        verdict[name] = ink
        return ink

    return frozenset(cp for cp, name in cmap.items()
                     if name != ".notdef" and not blank_by_design(cp) and not inked(name))


# ----------------------------------------------------------------------------- loading one face

def font_cache_dir() -> Path:
    """Where decompressed copies of WOFF/WOFF2 fonts are kept: ``$CRNN_TOOLKIT_CACHE/fonts``, else
    ``$XDG_CACHE_HOME/crnn-toolkit/fonts``, else ``~/.cache/crnn-toolkit/fonts`` (not created here)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root) / "fonts"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "crnn-toolkit" / "fonts"


def plain_sfnt(path: Path) -> Path:
    """Return a plain OpenType copy of a WOFF/WOFF2 font, decompressing it into the cache if needed.

    The copy is named by the sha256 of the source bytes (so an updated source gets a new copy) and is
    written through a temporary file and ``os.replace`` (so concurrent processes never read half a
    file). Pillow opens a plain file cheaply and shares it between sizes, where a WOFF2 file would be
    decompressed again, into memory, for every size opened.

    Raises:
        FontError: if the file cannot be decompressed (``brotli`` missing for WOFF2, a damaged file)
            or the cache folder cannot be written; the message names the file or folder.
    """
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:32]
    cache = font_cache_dir()
    for suffix in (".otf", ".ttf"):
        cached = cache / f"{digest}{suffix}"
        if cached.is_file():
            return cached
    try:
        font = TTFont(str(path), recalcTimestamp=False)
    except ImportError as err:  # fontTools needs the brotli module for WOFF2
        raise FontError(f"{path}: reading WOFF2 needs the brotli module ({err}); pip install brotli"
                        ) from err
    except _FONT_READ_ERRORS as err:
        raise FontError(f"{path}: not a font file fontTools can read ({err})") from err
    font.flavor = None
    cached = cache / f"{digest}{'.otf' if font.sfntVersion == 'OTTO' else '.ttf'}"
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        font.save(str(tmp))
        os.replace(tmp, cached)
    except OSError as err:
        if tmp.is_file():
            tmp.unlink()
        raise FontError(f"{path}: cannot write its decompressed copy to {cache} ({err}); set "
                        f"{CACHE_ENV} to a writable folder") from err
    finally:
        font.close()
    logger.debug("decompressed %s to %s", path, cached)
    return cached


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


def _check_style(style: str | None, where: str) -> None:
    if style is not None and style not in STYLES and style != LATIN_STYLE:
        raise FontError(f"{where}: style {style!r} is not one of {', '.join((*STYLES, LATIN_STYLE))}")


COVERAGE_FORMAT = 1
"""Version of the coverage cache files (:func:`load_font`); a file of another version is ignored."""


def _file_digest(path: Path) -> str:
    """Hex sha256 (first 32 digits) of a font file's bytes: the key of its cached coverage.

    Raises:
        FontError: if the file cannot be read.
    """
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as err:
        raise FontError(f"{path}: cannot read font file ({err})") from err
    return h.hexdigest()[:32]


def _coverage_path(digest: str, index: int) -> Path:
    return font_cache_dir() / "coverage" / f"{digest}-{index}.json"


def _coverage(path: Path, render_path: Path, index: int) -> tuple[str, frozenset[int], frozenset[int]]:
    """Face name, covered code points (cmap entries that draw ink) and empty code points of face
    ``index``, read with fontTools (the slow part of :func:`load_font`: every CFF glyph is drawn).

    Raises:
        FontError: if fontTools cannot read the face or it has no Unicode cmap.
    """
    try:
        font = TTFont(str(render_path), fontNumber=index, lazy=True)
    except _FONT_READ_ERRORS as err:
        raise FontError(f"{path}: not a font file fontTools can read ({err})") from err
    try:
        try:
            cmap = font.getBestCmap()
            name = _face_name(font)
            empty = empty_codepoints(font, cmap) if cmap else frozenset()
        except _FONT_READ_ERRORS as err:
            raise FontError(f"{path}: not a font file fontTools can read ({err!r})") from err
        if not cmap:
            raise FontError(f"{path} face {index}: the font has no Unicode cmap")
        codepoints = frozenset(cp for cp, glyph in cmap.items() if glyph != ".notdef") - empty
    finally:
        font.close()
    return name, codepoints, empty


def _read_coverage(digest: str, index: int) -> tuple[str, frozenset[int], frozenset[int]] | None:
    """The cached :func:`_coverage` of a face, or None when there is none or it cannot be used
    (unreadable, damaged, another :data:`COVERAGE_FORMAT`): the caller then reads the font."""
    path = _coverage_path(digest, index)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != COVERAGE_FORMAT:
            return None
        return str(data["name"]), frozenset(map(int, data["codepoints"])), frozenset(
            map(int, data["empty"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        logger.debug("ignoring the coverage cache %s (%s)", path, err)
        return None


def _write_coverage(digest: str, index: int, name: str, codepoints: frozenset[int],
                    empty: frozenset[int]) -> None:
    """Store a face's coverage under :func:`font_cache_dir` ``/coverage/<sha256>-<index>.json``,
    atomically; a cache that cannot be written is logged at DEBUG and skipped (it only saves time)."""
    path = _coverage_path(digest, index)
    try:
        atomic_write_json(path, {"format": COVERAGE_FORMAT, "name": name,
                                 "codepoints": sorted(codepoints), "empty": sorted(empty)},
                          make_parents=True)
    except OSError as err:
        logger.debug("cannot write the coverage cache %s (%s)", path, err)


def load_font(spec: str | os.PathLike[str], style: str | None = None) -> FontFace:
    """Load one font face and its character coverage.

    ``spec`` is a font file path, or ``PATH:INDEX`` to pick face ``INDEX`` (0-based) of a collection.
    If the spec names an existing file it is taken as a path even when it contains a ``:``. A collection
    given without an index gives face 0, with a WARNING that lists the faces available. A WOFF/WOFF2
    file is decompressed once into :func:`font_cache_dir` (see :func:`plain_sfnt`).

    Chars the cmap maps to a glyph that draws nothing are left out of the coverage
    (:func:`empty_codepoints`; a WARNING gives their number and the first of them). The coverage is
    cached by the sha256 of the file's bytes and the face index under :func:`font_cache_dir`
    (``coverage/``), so a face is read with fontTools once per machine, not once per run (the CFF
    faces of the font library take seconds each).

    Args:
        spec: ``PATH`` or ``PATH:INDEX`` (``str`` or path-like).
        style: the face's style class (one of :data:`STYLES` or :data:`LATIN_STYLE`), or None.

    Returns:
        The :class:`FontFace`.

    Raises:
        FontError: if the file is missing, is not a font fontTools can read (the message names the file
            and quotes fontTools), has no Unicode cmap, has no face ``INDEX``, cannot be opened by
            Pillow's FreeType renderer, or ``style`` is not one of :data:`STYLES` or :data:`LATIN_STYLE`.
    """
    _check_style(style, os.fspath(spec))
    path, index = _split_spec(spec)
    try:
        with path.open("rb") as fh:
            tag = fh.read(4)
    except OSError as err:
        raise FontError(f"{path}: cannot read font file ({err})") from err
    render_path = plain_sfnt(path) if tag in _WEB_FONT_TAGS else path

    if tag == _COLLECTION_TAG:
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

    digest = _file_digest(path)
    cached = _read_coverage(digest, index)
    if cached is not None:
        name, codepoints, empty = cached
    else:
        name, codepoints, empty = _coverage(path, render_path, index)
        _write_coverage(digest, index, name, codepoints, empty)

    try:
        ImageFont.truetype(str(render_path), _PROBE_SIZE_PX, index=index)
    except OSError as err:
        raise FontError(f"{path} face {index}: Pillow cannot open it ({err})") from err

    if empty:
        sample = "".join(chr(cp) for cp in sorted(empty)[:20])
        logger.warning("%s face %d (%s): %d chars of its cmap draw nothing and count as missing: %s%s",
                       path, index, name, len(empty), sample, "..." if len(empty) > 20 else "")
    face = FontFace(path=path, index=index, name=name, codepoints=codepoints, style=style,
                    empty=empty, render_path=render_path)
    logger.debug("loaded font %s face %d (%s, style %s): %d code points", path, index, name, style,
                 len(codepoints))
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


# ------------------------------------------------------------------------------ font directories

@dataclass(frozen=True)
class ManifestEntry:
    """One face of a font manifest (``fonts.json``): the fields the toolkit reads.

    Attributes:
        path: the font file (the manifest's ``file``, relative to the manifest's folder, resolved).
        index: the face index in the file (``index``, default 0).
        style: the style class, one of :data:`STYLES` or :data:`LATIN_STYLE`.
        heldout: True for a face kept out of training (these live in a subfolder, ``heldout/``).
        family: the family name recorded in the manifest (informative).
    """

    path: Path
    index: int
    style: str
    heldout: bool
    family: str


def read_manifest(manifest: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Read and check a font manifest.

    The manifest is a JSON object whose ``faces`` is a list of objects, each with at least ``file`` (a
    path relative to the manifest's folder, in it or below it), ``style`` (one of :data:`STYLES` or
    :data:`LATIN_STYLE`) and ``heldout`` (a bool); ``index`` (a face of a collection) and ``family``
    are optional. Other keys (licence, source, coverage: see ``fonts/README.md``) are not read here.

    Raises:
        FontError: if the file is not JSON or an entry is malformed; the message names the manifest,
            the entry (``faces[i]``) and the bad value. A listed file that does not exist is not an
            error here (see :func:`load_font_dir`).
    """
    manifest = Path(manifest)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FontError(f"{manifest}: not a readable font manifest ({err})") from err
    faces = data.get("faces") if isinstance(data, dict) else None
    if not isinstance(faces, list):
        raise FontError(f"{manifest}: expected a JSON object with a 'faces' list")
    root = manifest.parent.resolve()
    entries = []
    seen: dict[tuple[Path, int], int] = {}
    for i, item in enumerate(faces):
        where = f"{manifest}: faces[{i}]"
        if not isinstance(item, dict):
            raise FontError(f"{where}: expected an object, got {item!r}")
        file, style, heldout = item.get("file"), item.get("style"), item.get("heldout")
        index, family = item.get("index", 0), item.get("family", "")
        if not isinstance(file, str) or not file:
            raise FontError(f"{where}: 'file' must be a relative path, got {file!r}")
        path = (root / file).resolve()
        if Path(file).is_absolute() or root not in path.parents:
            raise FontError(f"{where}: 'file' {file!r} is not inside {root}")
        if not isinstance(style, str):
            raise FontError(f"{where}: 'style' must be one of {', '.join((*STYLES, LATIN_STYLE))}, "
                            f"got {style!r}")
        _check_style(style, where)
        if not isinstance(heldout, bool):
            raise FontError(f"{where}: 'heldout' must be true or false, got {heldout!r}")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise FontError(f"{where}: 'index' must be a face index >= 0, got {index!r}")
        if (path, index) in seen:
            raise FontError(f"{where}: {file} face {index} is listed twice (also faces[{seen[path, index]}])")
        seen[path, index] = i
        entries.append(ManifestEntry(path=path, index=index, style=style, heldout=heldout,
                                     family=str(family)))
    return entries


def _manifest_for(directory: Path) -> tuple[Path, list[ManifestEntry]] | None:
    """The manifest that describes the fonts of ``directory`` and its entries for them: the folder's
    own ``fonts.json``, or else its parent's if that lists files of this folder (``fonts/fonts.json``
    describes ``fonts/heldout/`` too). None when neither does."""
    here = directory.resolve()
    own = directory / MANIFEST_NAME
    if own.is_file():
        return own, [e for e in read_manifest(own) if e.path.parent == here]
    parent = directory.parent / MANIFEST_NAME
    if parent.is_file() and parent.resolve() != own.resolve():
        entries = [e for e in read_manifest(parent) if e.path.parent == here]
        if entries:
            return parent, entries
    return None


def load_font_dir(directory: str | os.PathLike[str]) -> list[FontFace]:
    """Load the faces of a font directory (not its subfolders), with their styles.

    With a manifest (the folder's ``fonts.json``, or its parent's if that lists files of this folder,
    see :func:`read_manifest`), the faces are its entries for files directly in this folder, in the
    manifest's order, each with its style. A font file of the folder that the manifest does not list is
    loaded too, without a style, with a WARNING. Without a manifest, every file of the folder ending in
    one of :data:`FONT_SUFFIXES` is loaded (sorted by name; face 0 of a collection), without a style.

    So the bundled ``fonts/`` gives the training faces and ``fonts/heldout/`` the held-out ones.

    Raises:
        FontError: if ``directory`` is not a folder, the manifest is malformed, a file it lists is
            missing (the message names the manifest and the file), a face cannot be loaded
            (:func:`load_font`), or the folder holds no font.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FontError(f"font directory not found: {directory}")
    files = sorted(p for p in directory.iterdir()
                   if p.is_file() and p.suffix.lower() in FONT_SUFFIXES)
    faces: list[FontFace] = []
    found = _manifest_for(directory)
    listed: set[Path] = set()
    if found is not None:
        manifest, entries = found
        for entry in entries:
            if not entry.path.is_file():
                raise FontError(f"{manifest}: lists {entry.path}, which does not exist")
            listed.add(entry.path)
            spec = f"{entry.path}:{entry.index}" if entry.index else entry.path
            faces.append(load_font(spec, style=entry.style))
    for path in files:
        if path.resolve() in listed:
            continue
        if found is not None:
            logger.warning("%s is not listed in %s: loaded without a style", path, found[0])
        faces.append(load_font(path))
    if not faces:
        raise FontError(f"{directory}: no font file ({', '.join(FONT_SUFFIXES)}) in this folder")
    return faces


def split_latin(faces: Sequence[FontFace]) -> tuple[list[FontFace], list[FontFace]]:
    """Split faces into ``(line faces, Latin text faces)``: those of style :data:`LATIN_STYLE` only
    draw the ASCII chars of a line (``SynthConfig.latin_face_prob``), the others whole lines; order
    is kept within each list."""
    return ([f for f in faces if f.style != LATIN_STYLE], [f for f in faces if f.style == LATIN_STYLE])


# ------------------------------------------------------------------------------ style balancing

def style_weights(faces: Sequence[FontFace]) -> list[float]:
    """Per-face sampling weights that give every style an equal share, whatever its number of faces.

    Faces are grouped by :attr:`FontFace.style`; a face without a style is a group of its own. Each of
    the ``G`` groups gets ``1 / G``, shared equally by its faces: a face of a group of ``n`` faces
    weighs ``1 / (G * n)``. With no styles at all every face weighs ``1 / len(faces)``.

    Returns:
        One weight per face, in order, summing to 1 (empty for no faces).
    """
    keys = [f.style if f.style is not None else ("face", i) for i, f in enumerate(faces)]
    sizes: dict[object, int] = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    return [1.0 / (len(sizes) * sizes[key]) for key in keys]


class FaceSampler:
    """Draws, for a text, one of the faces that cover it, giving every style an equal share.

    The draw is in two steps: a style uniformly among the styles that have a face covering the text,
    then a face uniformly among that style's covering faces (a face without a style is a style of its
    own). When every face covers the text, the chances are those of :func:`style_weights`; when some
    do not (a Traditional Chinese face lacks a simplified char), the style keeps its share through its
    other faces instead of losing it to the styles with more faces. When every style has one face (or
    no face has a style) the draw is ``rng.integers(n)`` over the covering faces: the same random
    stream as a plain uniform choice.

    Args:
        faces: the faces to choose from (at least one).

    Raises:
        ValueError: if ``faces`` is empty.
    """

    def __init__(self, faces: Sequence[FontFace]) -> None:
        if not faces:
            raise ValueError("faces is empty: give at least one face")
        self.faces = list(faces)
        self._keys = [f.style if f.style is not None else ("face", i)
                      for i, f in enumerate(self.faces)]
        self._one_per_style = len(set(self._keys)) == len(self._keys)

    def choose(self, text: str, rng: np.random.Generator) -> FontFace | None:
        """Return a face that covers ``text`` (drawn with ``rng``), or None if no face covers it."""
        candidates = [i for i, face in enumerate(self.faces) if face.covers(text)]
        if not candidates:
            return None
        if self._one_per_style:
            return self.faces[candidates[int(rng.integers(len(candidates)))]]
        groups: dict[object, list[int]] = {}
        for i in candidates:
            groups.setdefault(self._keys[i], []).append(i)
        members = list(groups.values())[int(rng.integers(len(groups)))]
        return self.faces[members[int(rng.integers(len(members)))]]
