#!/usr/bin/env python3
"""Build the general held-out evaluation set: Chinese text lines as users meet them, for ``compare``.

The set holds lines the toolkit's model cannot have seen in training, neither the text nor the face
nor the renderer, and labels every line with its renderer, face, style and content kind, so that
``crnn-toolkit compare --labels OUT/style-kai.txt --labels OUT/kind-mixed.txt ...`` gives CER per
part. The first held-out set (Yuan qu text only, six Debian faces, Pillow and pango-view) stays
available as the regression set: ``tools/build_yuanqu_eval_set.py``.

Content kinds (every line has one):

- ``classical``: Yuan qu (元曲) pieces of the npm package ``chinese-poetry`` 2.0.1 (MIT), cut as the
  regression set cuts them (4-20 chars; :func:`build_yuanqu_eval_set.candidate_texts`).
- ``modern``: modern Chinese prose of the Debian package ``manpages-zh`` (the Chinese translations of
  the man pages: real technical text; GFDL-1.2+, a few pages GPL-2.0), fetched at build time with
  ``apt-get download manpages-zh`` (the text is not committed; the package version, the sha256 of the
  ``.deb`` and the licences of its copyright file are recorded). Lines without ASCII letters or
  digits, at least 3 hanzi.
- ``mixed``: lines of the same pages that hold ASCII letters and/or digits (options, commands,
  versions, sizes, dates) besides at least 2 hanzi.

No text comes from ``toolkit/textgen.py`` (training's generated text). The man pages' roff source is
turned into paragraphs (:func:`roff_paragraphs`: requests, fonts and escapes removed; preformatted
blocks, tables and macro definitions skipped), folded with :func:`toolkit.charset.normalize_text`
(full-width digits and Latin to ASCII), whitespace runs made one space, cut at ``。！？；：`` and, where
a sentence is longer than 24 chars, packed at ``，、`` into runs of clauses of at most 24 chars (a single
longer clause into near-equal windows, never inside a run of ASCII chars). A piece is kept with 4-24
chars, all in the bundled char dict (``char_dict/``), balanced brackets and quotes and no two marks in a
row. The pieces of each kind are deduplicated and shuffled with ``numpy.random.default_rng([seed, 0,
k])`` (``k`` the kind's position in :data:`KINDS`).

Held out:

- Text: a text is dropped if its chars with punctuation, spaces and symbols removed
  (:func:`build_yuanqu_eval_set.core`) occur anywhere in the training corpora ``corpora/songci.txt``,
  ``poetry.txt`` and ``modern.txt`` with theirs removed (a stricter test than the regression set's,
  which checks Song ci only).
- Faces: the five faces of ``fonts/heldout/`` (``fonts/fonts.json`` entries with ``"heldout": true``:
  AR PL UKai CN kai, AR PL UMing CN song, WenQuanYi Zen Hei hei, cwTeXFangSong fangsong, Zhi Mang Xing
  brush), never a training face of the top level of ``fonts/``. A text is only given to a face whose
  cmap draws all its chars (:meth:`toolkit.fonts.FontFace.covers`, empty glyphs excluded).
- Renderers: ``pillow``, the toolkit's own renderer with mild settings (those of the regression set:
  48 px, slight blur and rotation, JPEG 50-95), none of the training augmentations' heavier
  effects; ``pango``, ``pango-view`` (Pango + cairo + FreeType) with hinting and anti-aliasing
  variations (none, grey, sub-pixel), grey ink on grey paper, half as JPEG; ``chromium``, pages of
  headless Chromium (Debian ``chromium`` driven by Playwright): paragraphs of lines at 12-20 CSS px,
  device scale 1 or 2, text and paper colours, CSS backgrounds (tints, linear and radial gradients,
  SVG ``feTurbulence`` noise), the screenshot cut into line crops by each line's box from the DOM
  with a few px of margin (so fragments of the neighbouring lines may show), a third as JPEG.

No fallback face can draw a glyph: pango-view and Chromium run with ``FONTCONFIG_FILE`` pointing at
a minimal ``fonts.conf`` whose only font folder holds the five held-out faces (decompressed from
WOFF2 by :func:`toolkit.fonts.plain_sfnt`), and ``fc-list`` must list exactly those. Each pango
line's serialized layout must show every run in the requested family and no unknown glyph. Chromium
gets the page's face as a web font (``@font-face``, the WOFF2 file, served from memory through a
Playwright route), and Chrome DevTools' ``CSS.getPlatformFontsForNode`` must report that web font and
no other font (such as the system copy of another held-out face) for each line. (With no font at all
in fontconfig, Chromium 150 fails to load web fonts.) A line that fails a check is skipped and
counted.

Which line gets which kind and face: line ``i`` of every renderer has kind ``KINDS[i % 3]`` and the
face ``(i // 3) % 5`` of the faces in manifest order, so kinds and styles have equal shares and every
kind meets every style. Its text is the first text of the kind's shuffled list that is unused, held
out and covered by the face. Texts are given out for all renderers in the order pillow, pango,
chromium whichever renderers are built, so a renderer's lines do not depend on which others are
built, and no text occurs twice in the set. Renderer ``r`` draws its random choices from
``default_rng([seed, s, i])`` per line (pillow, pango; ``s`` 1 and 2) or ``default_rng([seed, 3, p])``
per page ``p`` (chromium): the same seed gives the same texts and the same images on the same
versions of the tools.

Output (``OUT`` = ``--output-dir``)::

    OUT/pillow/00000.jpg ...          lines drawn by the toolkit's renderer
    OUT/pango/00000.png|jpg ...       lines drawn by pango-view
    OUT/chromium/00000.png|jpg ...    line crops of Chromium screenshots (colour)
    OUT/pillow.txt, pango.txt, chromium.txt       "path<TAB>label" per renderer, paths relative to OUT
    OUT/style-kai.txt ... style-brush.txt         the same images per style
    OUT/kind-classical.txt, kind-modern.txt, kind-mixed.txt   the same images per content kind
    OUT/labels.txt                    every line
    OUT/eval_config.json              seed, sources and licences, faces, versions, settings, counts,
                                      and per line its renderer, face, style and kind (``lines``)

Every label file is read back with :func:`toolkit.labels.read_label_file` before the script ends.

Prerequisites (Debian/Ubuntu), besides this toolkit installed (``pip install -e ".[test]"`` brings
Playwright): ``apt-get install pango1.0-tools fontconfig chromium npm`` (``bash
tools/install_compare_peers.sh`` installs them); ``apt-get download`` must reach a Debian mirror
(or pass ``--manpages-deb``), ``npm`` the npm registry (or pass ``--package-tgz``). Usage, from the
repository root::

    python tools/build_eval_set.py --output-dir eval/general --num-lines 200 --seed 0
    crnn-toolkit compare --labels eval/general/style-kai.txt --labels eval/general/kind-mixed.txt
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import html
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL

# Run as a script, tools/ is on sys.path: the regression set's text cutting, checks and pango call,
# and the corpus builder's npm fetch, are shared.
from build_corpus import PACKAGE, VERSION, fetch_package
from build_yuanqu_eval_set import (
    DOUBLE_MARK,
    PILLOW_CONFIG,
    PrerequisiteError,
    _balanced,
    _draw,
    _ink_touches_edge,
    _is_family,
    _pango_once,
    candidate_texts,
    comma_subset,
    core,
    dpkg_version,
    pango_version,
    read_yuanqu,
)
from PIL import Image
from tqdm import tqdm

from toolkit.charset import Charset, normalize_text
from toolkit.fonts import FontFace, load_font, read_manifest
from toolkit.io import atomic_write_json, atomic_write_text
from toolkit.labels import read_label_file
from toolkit.synth import render_line

REPO_ROOT = Path(__file__).resolve().parent.parent
FORMAT_VERSION = 1

KINDS = ("classical", "modern", "mixed")
RENDERERS = ("pillow", "pango", "chromium")
RENDER_STREAM = {"pillow": 1, "pango": 2, "chromium": 3}  # second element of the seed; 0 is text
MIN_CHARS = 4
MAX_CHARS = 24
MIN_HANZI = {"modern": 3, "mixed": 2}
TRAINING_CORPORA = ("corpora/songci.txt", "corpora/poetry.txt", "corpora/modern.txt")
FONT_MANIFEST = REPO_ROOT / "fonts" / "fonts.json"
HELDOUT_DIR = REPO_ROOT / "fonts" / "heldout"
MANPAGES_PACKAGE = "manpages-zh"
MANPAGES_DIR = re.compile(r"^\./usr/share/man/zh_CN/man[1-9]/[^/]+\.gz$")
MANPAGES_COPYRIGHT = "./usr/share/doc/manpages-zh/copyright"
APT_COMMAND = "apt-get install pango1.0-tools fontconfig chromium npm"

PILLOW_SETTINGS = dataclasses.replace(PILLOW_CONFIG, max_chars=MAX_CHARS)

# Renderer pango: ranges drawn per line (inclusive).
PANGO_SETTINGS = {
    "font_px": (14, 40),
    "margin_top_px": (2, 12),
    "margin_side_px": (2, 20),
    "margin_bottom_px": (2, 12),
    "foreground_grey": (0, 70),
    "background_grey": (205, 255),
    "hinting": ("none", "slight", "medium", "full"),
    "hint_metrics": ("on", "off"),
    "antialias": (("gray", 0.65), ("subpixel", 0.25), ("none", 0.10)),
    "subpixel_order": ("rgb", "bgr"),
    "jpeg_prob": 0.5,
    "jpeg_quality": (60, 95),
    "language": "zh_CN",
}
_PANGO_EDGE_RETRIES = 3

# Renderer chromium: per page.
CHROMIUM_SETTINGS = {
    "lines_per_page": 8,
    "font_css_px": (12, 20),
    "device_scale_2_prob": 0.3,
    "line_height": (1.25, 1.9),
    "paragraph_lines": (2, 5),        # lines per paragraph (a paragraph gap after them)
    "letter_spacing_prob": 0.2,
    "letter_spacing_em": (0.02, 0.12),
    "crop_margin_x_css_px": (2, 8),
    "crop_margin_y_css_px": (1, 6),   # with a tight line height, fragments of the neighbours show
    "jpeg_prob": 0.33,
    "jpeg_quality": (55, 92),
    "backgrounds": ("plain", "tinted", "linear-gradient", "radial-gradient", "noise"),
    "noise_opacity": (0.08, 0.3),
    "noise_base_frequency": (0.4, 1.0),
    "viewport_css_px": (1000, 700),
}
PAPERS = ((255, 255, 255), (250, 247, 238), (246, 241, 228), (240, 244, 250), (236, 240, 236),
          (248, 244, 232), (232, 232, 232), (252, 250, 245), (244, 236, 222))
INKS = ((20, 20, 20), (50, 50, 50), (70, 70, 70), (25, 35, 80), (60, 40, 25), (20, 60, 40), (90, 20, 20))


# ----------------------------------------------------------------------------------- roff to text
_ROFF_SKIP_BLOCKS = {"nf": "fi", "EX": "EE", "TS": "TE", "EQ": "EN", "PS": "PE", "de": "..",
                     "de1": "..", "am": "..", "ig": ".."}
_ROFF_BREAKS = {"PP", "LP", "P", "TP", "TQ", "IP", "HP", "SH", "SS", "br", "sp", "RS", "RE", "TH",
                "bp", "ne", "in", "ti", "UR", "UE", "MT", "ME", "SY", "YS", "OP", "ce", "fi", "EE"}
_ROFF_TEXT_MACROS = {"B", "I", "SM", "SB", "SH", "SS"}          # words joined with spaces
_ROFF_ALTERNATING = {"BI", "BR", "IB", "IR", "RB", "RI"}         # words joined without spaces
_ROFF_SPECIAL = {
    "em": "—", "en": "–", "hy": "-", "mi": "-", "lq": "“", "rq": "”", "oq": "‘", "cq": "’",
    "aq": "'", "dq": '"', "bu": "•", "co": "©", "rg": "®", "tm": "™", "de": "°", "mu": "×",
    "di": "÷", "pl": "+", "eq": "=", "ti": "~", "ha": "^", "ga": "`", "sl": "/", "rs": "\\",
    "lB": "[", "rB": "]", "lC": "{", "rC": "}", "ba": "|", "or": "|", "at": "@", "sh": "#",
    "Do": "$", "ct": "¢", "Po": "£", "Ye": "¥", "Eu": "€", "ps": "¶", "sc": "§", "+-": "±",
    "->": "→", "<-": "←", "ua": "↑", "da": "↓", "fm": "′", "sd": "″", "dg": "†", "lh": "☜",
    "rh": "☞", "aa": "´", "R": "®", "Tm": "™",
}
_UNKNOWN = "\ufffd"  # stands for an escape this reader does not render; the piece is then dropped


def _roff_escape(text: str, i: int) -> tuple[str, int]:
    """Render the escape at ``text[i] == '\\\\'``; return ``(replacement, index after it)``."""
    if i + 1 >= len(text):
        return "", i + 1
    c = text[i + 1]
    j = i + 2

    def name_at(k: int) -> tuple[str, int]:
        """A roff name after an escape char: ``(xx``, ``[long]`` or one char."""
        if k >= len(text):
            return "", k
        if text[k] == "(":
            return text[k + 1:k + 3], k + 3
        if text[k] == "[":
            end = text.find("]", k)
            return (text[k + 1:end], end + 1) if end >= 0 else (text[k + 1:], len(text))
        return text[k], k + 1

    if c in "fF":
        return "", name_at(j)[1]
    if c == "s":
        k = j + (1 if j < len(text) and text[j] in "+-" else 0)
        if k < len(text) and text[k] in "([":
            return "", name_at(k)[1]
        while k < len(text) and text[k].isdigit():
            k += 1
        return "", k
    if c in "(":
        return _ROFF_SPECIAL.get(text[j:j + 2], _UNKNOWN), j + 2
    if c == "[":
        name, k = name_at(j - 1)
        if re.fullmatch(r"u[0-9A-F]{4,6}", name):
            return chr(int(name[1:], 16)), k
        return _ROFF_SPECIAL.get(name, _UNKNOWN), k
    if c == "*":
        name, k = name_at(j)
        return _ROFF_SPECIAL.get(name, _UNKNOWN), k
    if c in "-":
        return "-", j
    if c in "e\\":
        return "\\", j
    if c in "&)/,|^%:c{}":
        return "", j
    if c in " 0~":
        return " ", j
    if c in "'`":
        return c, j
    if c == ".":
        return ".", j
    return _UNKNOWN, j  # \n registers, \h \v \w motions, \X device controls ...


def roff_unescape(text: str) -> str:
    """``text`` (one input line of roff) as plain text: a ``\\"`` comment cut, font and size escapes
    removed, special chars rendered (``\\(em`` -> ``—``, ``\\-`` -> ``-``); an escape this reader
    cannot render becomes U+FFFD (so the text is then dropped, U+FFFD being in no char dict)."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if text[i + 1:i + 2] in ('"', "#"):
            break
        rendered, i = _roff_escape(text, i)
        out.append(rendered)
    return "".join(out)


def _roff_args(rest: str) -> list[str]:
    """The arguments of a request line: separated by spaces, ``"..."`` quoting (``""`` a quote)."""
    args, i = [], 0
    while i < len(rest):
        if rest[i] == " ":
            i += 1
            continue
        if rest[i] == '"':
            j, arg = i + 1, []
            while j < len(rest):
                if rest[j] == '"':
                    if rest[j + 1:j + 2] == '"':
                        arg.append('"')
                        j += 2
                        continue
                    break
                arg.append(rest[j])
                j += 1
            args.append("".join(arg))
            i = j + 1
        else:
            j = rest.find(" ", i)
            j = len(rest) if j < 0 else j
            args.append(rest[i:j])
            i = j
    return args


def _join(left: str, right: str) -> str:
    """Join two filled input lines: no space between two non-ASCII chars (Chinese), else one."""
    if not left:
        return right
    if not right:
        return left
    if not left[-1].isascii() and not right[0].isascii():
        return left + right
    return left + " " + right


def roff_paragraphs(source: str) -> list[str]:
    """The paragraphs of a man page's roff source, as plain text, in order.

    Filled text lines are joined until a break (a paragraph, heading, list-item or ``.br``/``.sp``
    request, a blank line); headings (``.SH``/``.SS``), the text of font macros (``.B``, ``.BR`` ...) and
    a ``.TP`` tag are text; other requests (``.TH``, registers, strings, conditionals) are dropped, and
    preformatted blocks (``.nf``/``.fi``, ``.EX``/``.EE``), tables (``.TS``/``.TE``) and macro definitions
    are skipped whole.
    """
    paragraphs: list[str] = []
    current = ""
    skip_until: str | None = None
    tag_pending = False

    def flush() -> None:
        nonlocal current
        text = " ".join(current.split())
        if text:
            paragraphs.append(text)
        current = ""

    for raw in source.splitlines():
        if skip_until is not None:
            if raw.startswith(("." + skip_until, "'" + skip_until)) or (skip_until == ".." and raw.strip() == ".."):
                skip_until = None
            continue
        if raw[:1] in (".", "'"):
            body = raw[1:].lstrip()
            if body.startswith(('\\"', "\\#")) or not body:
                continue
            name, _, rest = body.partition(" ")
            if name in _ROFF_SKIP_BLOCKS:
                flush()
                skip_until = _ROFF_SKIP_BLOCKS[name]
                continue
            args = [roff_unescape(a) for a in _roff_args(rest)]
            if name in _ROFF_BREAKS:
                flush()
                tag_pending = name in ("TP", "TQ")
                if name in ("SH", "SS", "IP") and args:
                    current = " ".join(args) if name != "IP" else args[0]
                    flush()
                continue
            if name in _ROFF_TEXT_MACROS or name in _ROFF_ALTERNATING:
                text = ("" if name in _ROFF_ALTERNATING else " ").join(args)
            else:
                continue  # any other request: no text
        elif not raw.strip():
            flush()
            continue
        else:
            text = roff_unescape(raw)
        current = _join(current, text.strip())
        if tag_pending:
            flush()
            tag_pending = False
    flush()
    return paragraphs


# ------------------------------------------------------------------------------------- text cutting
# Where a sentence or a clause ends: full-width marks, or ASCII ones right after a non-ASCII char
# (old translations write "详尽,而" and "减慢.输出"; "1.5", "ls.1" and "a,b" are not cut), or an
# ASCII comma before a space ("-a, --all").
SENTENCE_END = re.compile(r"[。！？；：]+|(?<=[^\x00-\x7f])[.;!?:]+(?=\s|[^\x00-\x7f]|$)")
CLAUSE_END = re.compile(r"[，、]+|(?<=[^\x00-\x7f]),(?=\s|[^\x00-\x7f]|$)|,(?=\s)")
ASCII_ALNUM = re.compile(r"[0-9A-Za-z]")
_TOKEN = re.compile(r"[!-~]+|\s|.", re.DOTALL)   # a run of visible ASCII, a space, or one char
_LEAD_STRIP = set("，、。；：！？,.;:!?·…—") | {" "}
ASCII_PAIRS = ("()", "[]", "{}", "<>")


def is_hanzi(ch: str) -> bool:
    """True for a CJK unified ideograph (the basic block and extension A)."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def split_after(text: str, ends: re.Pattern) -> list[str]:
    """``text`` cut after each match of ``ends`` (the mark stays with the text before it)."""
    out, prev = [], 0
    for m in ends.finditer(text):
        out.append(text[prev:m.end()])
        prev = m.end()
    if prev < len(text):
        out.append(text[prev:])
    return [piece for piece in out if piece.strip()]


def _windows(clause: str) -> list[str] | None:
    """Cut a clause longer than ``MAX_CHARS`` into the fewest near-equal windows that fit, at
    token boundaries (never inside a run of ASCII chars); None if a token alone is too long."""
    tokens = _TOKEN.findall(clause)
    if any(len(t) > MAX_CHARS for t in tokens):
        return None
    k = -(-len(clause) // MAX_CHARS)
    while True:
        target = len(clause) / k
        out, current = [], ""
        for t in tokens:
            if current and (len(current) + len(t) > MAX_CHARS or len(current) >= target):
                out.append(current)
                current = ""
            current += t
        out.append(current)
        if all(len(w) <= MAX_CHARS for w in out):
            return out
        k += 1


def _pack(sentence: str) -> list[str] | None:
    """Cut a sentence longer than ``MAX_CHARS`` at ``，、`` into runs of clauses of at most ``MAX_CHARS``
    chars (greedily), a single longer clause into :func:`_windows`; None where that fails."""
    out: list[str] = []
    current = ""
    for clause in split_after(sentence, CLAUSE_END):
        if len(clause) > MAX_CHARS:
            if current:
                out.append(current)
                current = ""
            windows = _windows(clause)
            if windows is None:
                return None
            out.extend(windows)
        elif len(current) + len(clause) > MAX_CHARS:
            out.append(current)
            current = clause
        else:
            current += clause
    if current:
        out.append(current)
    return out


def _trim(piece: str) -> str:
    """Strip a piece's ends: no space, comma, stop or closing mark at the start; no space or opening
    mark at the end."""
    start, end = 0, len(piece)
    while start < end and (piece[start] in _LEAD_STRIP or unicodedata.category(piece[start]) in ("Pe", "Pf")):
        start += 1
    while end > start and (piece[end - 1] == " " or unicodedata.category(piece[end - 1]) in ("Ps", "Pi")):
        end -= 1
    return piece[start:end]


def _ascii_balanced(text: str) -> bool:
    for opener, closer in ASCII_PAIRS:
        depth = 0
        for ch in text:
            depth += (ch == opener) - (ch == closer)
            if depth < 0:
                return False
        if depth:
            return False
    return text.count('"') % 2 == 0


def kind_of(text: str) -> str | None:
    """The content kind of a modern piece: ``mixed`` if it holds an ASCII letter or digit (and at
    least 2 hanzi), ``modern`` if not (and at least 3 hanzi); None for a piece of neither."""
    hanzi = sum(map(is_hanzi, text))
    kind = "mixed" if ASCII_ALNUM.search(text) else "modern"
    return kind if hanzi >= MIN_HANZI[kind] else None


def cut_modern(paragraph: str, charset: Charset, stats: Counter) -> list[tuple[str, str]]:
    """Cut one paragraph of modern text into ``(text, kind)`` line pieces (see the module docstring);
    ``stats`` counts what is dropped and why."""
    text = " ".join(normalize_text(paragraph).split())
    pieces: list[tuple[str, str]] = []
    for sentence in split_after(text, SENTENCE_END):
        sentence = sentence.strip()
        parts = [sentence] if len(sentence) <= MAX_CHARS else _pack(sentence)
        if parts is None:
            stats["modern: sentences dropped: a word longer than 24 chars"] += 1
            continue
        for part in parts:
            piece = _trim(part)
            if not piece:
                continue
            if not MIN_CHARS <= len(piece) <= MAX_CHARS:
                stats["modern: pieces dropped: length"] += 1
            elif charset.missing(piece):
                stats["modern: pieces dropped: a char outside the char dict"] += 1
            elif not (_balanced(piece) and _ascii_balanced(piece)) or DOUBLE_MARK.search(piece):
                stats["modern: pieces dropped: brackets or double marks"] += 1
            elif (kind := kind_of(piece)) is None:
                stats["modern: pieces dropped: too few hanzi"] += 1
            else:
                pieces.append((piece, kind))
    return pieces


# -------------------------------------------------------------------------------------- text sources
@dataclass(frozen=True)
class TextSources:
    """The raw texts the set is cut from, and where they came from.

    Attributes:
        classical: paragraphs of the Yuan qu collection.
        modern: paragraphs of modern text (the man pages, by :func:`roff_paragraphs`).
        provenance: JSON-ready description of the sources (packages, versions, licences, sha256).
    """

    classical: Sequence[str]
    modern: Sequence[str]
    provenance: dict


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copyright_licences(text: str) -> tuple[str | None, list[str]]:
    """The ``License:`` of the ``Files: *`` paragraph of a Debian copyright file, and every licence
    name its ``Files:`` paragraphs give."""
    main, names = None, []
    for paragraph in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:\s*(.*(?:\n[ \t].*)*)", paragraph, re.MULTILINE)
        licence = re.search(r"^License:\s*(.+)$", paragraph, re.MULTILINE)
        if files and licence:
            name = licence.group(1).strip()
            names.append(name)
            if files.group(1).split() == ["*"]:
                main = name
    return main, sorted(set(names))


def read_manpages(deb: Path) -> tuple[list[tuple[str, str]], dict]:
    """The zh_CN man pages of a ``manpages-zh`` ``.deb``, as ``(member name, roff source)`` sorted by
    name, and the package's provenance (name, version, sha256, licences of its copyright file).

    Raises:
        PrerequisiteError: if ``dpkg-deb`` is missing or the file is not that package.
    """
    if shutil.which("dpkg-deb") is None:
        raise PrerequisiteError("dpkg-deb not found: install the Debian package dpkg")
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version"], capture_output=True,
                            text=True, check=False)
    info = dict(line.split(": ", 1) for line in fields.stdout.splitlines() if ": " in line)
    if fields.returncode != 0 or info.get("Package") != MANPAGES_PACKAGE:
        raise PrerequisiteError(f"{deb}: not a {MANPAGES_PACKAGE} package ({fields.stderr.strip()})")
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                               check=True).stdout
    pages: list[tuple[str, str]] = []
    copyright_text = ""
    undecodable = 0
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            if MANPAGES_DIR.match(member.name):
                data = gzip.decompress(tar.extractfile(member).read())
                try:
                    pages.append((member.name, data.decode("utf-8")))
                except UnicodeDecodeError:
                    undecodable += 1
            elif member.name == MANPAGES_COPYRIGHT:
                copyright_text = tar.extractfile(member).read().decode("utf-8")
    pages.sort()
    main, names = _copyright_licences(copyright_text)
    provenance = {"package": MANPAGES_PACKAGE, "version": info.get("Version"), "deb_sha256": _sha256(deb),
                  "licence": main, "licences_in_copyright_file": names,
                  "copyright_file": MANPAGES_COPYRIGHT.lstrip("./"), "pages": len(pages),
                  "pages_not_utf8": undecodable, "members": "usr/share/man/zh_CN/man[1-9]/*.gz"}
    return pages, provenance


def fetch_manpages(workdir: Path) -> Path:
    """``apt-get download manpages-zh`` into ``workdir``; return the ``.deb``.

    Raises:
        PrerequisiteError: if apt-get is missing or the download fails.
    """
    if shutil.which("apt-get") is None:
        raise PrerequisiteError(f"apt-get not found: pass --manpages-deb (a {MANPAGES_PACKAGE} .deb)")
    done = subprocess.run(["apt-get", "download", MANPAGES_PACKAGE], cwd=workdir, capture_output=True,
                          text=True, check=False)
    debs = sorted(workdir.glob(f"{MANPAGES_PACKAGE}_*.deb"))
    if done.returncode != 0 or not debs:
        raise PrerequisiteError(f"apt-get download {MANPAGES_PACKAGE} failed ({done.stderr.strip()}); "
                                f"run apt-get update, or pass --manpages-deb")
    return debs[0]


def fetch_sources(package_tgz: Path | None, manpages_deb: Path | None) -> TextSources:
    """Fetch (or read the given) chinese-poetry tarball and manpages-zh package; return the texts.

    Raises:
        PrerequisiteError: naming what to install or pass when a download or a file is missing.
    """
    with tempfile.TemporaryDirectory(prefix="build_eval_set.") as tmp:
        if package_tgz is None:
            if shutil.which("npm") is None:
                raise PrerequisiteError(f"npm not found: install the Debian package npm, or pass "
                                        f"--package-tgz (npm pack {PACKAGE}@{VERSION})")
            package_tgz = fetch_package(Path(tmp))
        elif not package_tgz.is_file():
            raise PrerequisiteError(f"--package-tgz {package_tgz}: no such file")
        paragraphs, members = read_yuanqu(package_tgz)
        classical = {"package": f"{PACKAGE}@{VERSION}", "licence": "MIT", "tarball_sha256": _sha256(package_tgz),
                     "members": members, "paragraphs": len(paragraphs)}
        if manpages_deb is None:
            manpages_deb = fetch_manpages(Path(tmp))
        elif not manpages_deb.is_file():
            raise PrerequisiteError(f"--manpages-deb {manpages_deb}: no such file")
        pages, modern = read_manpages(manpages_deb)
    modern_paragraphs = [p for _, source in pages for p in roff_paragraphs(source)]
    modern["paragraphs"] = len(modern_paragraphs)
    return TextSources(paragraphs, modern_paragraphs, {"classical": classical, "modern_and_mixed": modern})


def candidate_pools(sources: TextSources, charset: Charset) -> tuple[dict[str, list[str]], Counter]:
    """The distinct candidate texts of each kind, in source order, and the drop counts."""
    classical, stats = candidate_texts(sources.classical, charset)
    stats = Counter({f"classical: {k}": v for k, v in stats.items()})
    pools: dict[str, list[str]] = {"classical": classical, "modern": [], "mixed": []}
    seen = set(classical)
    for paragraph in sources.modern:
        for text, kind in cut_modern(paragraph, charset, stats):
            if text in seen:
                stats["modern: pieces dropped: duplicate"] += 1
                continue
            seen.add(text)
            pools[kind].append(text)
    return pools, stats


class TrainingText:
    """The training corpora, without punctuation: ``text in training`` if the chars of ``text``
    (by :func:`build_yuanqu_eval_set.core`) occur in one of their lines."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = list(paths)
        lines = []
        for path in self.paths:
            if not path.is_file():
                raise PrerequisiteError(f"{path}: a training corpus is missing (tools/build_corpus.py, "
                                        f"tools/build_poetry.py, tools/build_modern.py)")
            lines.extend(core(normalize_text(line)) for line in path.read_text(encoding="utf-8").splitlines())
        self._core = "\n".join(lines)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and core(normalize_text(text)) in self._core


# ------------------------------------------------------------------------------------------- faces
@dataclass(frozen=True)
class EvalFace:
    """A held-out face: the loaded face, its family name (for fontconfig and CSS) and its style."""

    face: FontFace
    family: str
    style: str

    @property
    def file_name(self) -> str:
        return self.face.path.name


def heldout_faces(manifest: Path = FONT_MANIFEST) -> list[EvalFace]:
    """Load the faces that ``fonts/fonts.json`` marks held out, in manifest order.

    Raises:
        PrerequisiteError: if the manifest lists none, or a held-out entry lies outside
            ``fonts/heldout/`` (a training face must never be an evaluation face).
    """
    heldout_dir = manifest.parent / "heldout"
    entries = [e for e in read_manifest(manifest) if e.heldout]
    if not entries:
        raise PrerequisiteError(f"{manifest}: no face marked heldout")
    for e in entries:
        if e.path.parent != heldout_dir.resolve():
            raise PrerequisiteError(f"{manifest}: held-out face {e.path} is not in {heldout_dir}")
    return [EvalFace(load_font(f"{e.path}:{e.index}", style=e.style), e.family, e.style) for e in entries]


def _fonts_conf(font_dir: Path, cache_dir: Path) -> str:
    return ('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n<fontconfig>\n'
            f"  <dir>{html.escape(str(font_dir))}</dir>\n  <cachedir>{html.escape(str(cache_dir))}</cachedir>\n"
            "</fontconfig>\n")


def font_sandbox(faces: Sequence[EvalFace], root: Path) -> dict[str, str]:
    """Write, under ``root``, a folder with a plain copy of each face and a ``fonts.conf`` that lists
    only that folder; return the environment that points fontconfig at it (``FONTCONFIG_FILE``).

    Raises:
        PrerequisiteError: if fc-list is missing, or fontconfig lists other faces than these, or
            resolves a family to another file.
    """
    for tool in ("fc-list", "fc-match"):
        if shutil.which(tool) is None:
            raise PrerequisiteError(f"{tool} not found: install the Debian package fontconfig")
    font_dir, cache_dir = root / "fonts", root / "cache"
    font_dir.mkdir(parents=True)
    cache_dir.mkdir()
    copies = {}
    for k, f in enumerate(faces):
        copy = font_dir / f"{k}-{f.face.path.stem}{f.face.render_path.suffix}"
        shutil.copyfile(f.face.render_path, copy)
        copies[f.family] = copy
    conf = root / "fonts.conf"
    conf.write_text(_fonts_conf(font_dir, cache_dir), encoding="utf-8")
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    listed = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True,
                            env=env, check=True).stdout.split()
    if sorted(Path(p).resolve() for p in listed) != sorted(p.resolve() for p in copies.values()):
        raise PrerequisiteError(f"fontconfig with {conf} lists {sorted(set(listed))}, expected exactly "
                                f"{sorted(map(str, copies.values()))}")
    for family, copy in copies.items():
        got = subprocess.run(["fc-match", "-f", "%{file}", family], capture_output=True, text=True, env=env,
                             check=True).stdout
        if Path(got).resolve() != copy.resolve():
            raise PrerequisiteError(f"fontconfig resolves {family!r} to {got}, not {copy}")
    return env


# -------------------------------------------------------------------------------------- line plan
@dataclass(frozen=True)
class PlannedLine:
    """One line of the set before it is drawn."""

    renderer: str
    index: int
    text: str
    kind: str
    face: int  # index into the faces


def plan_lines(pools: dict[str, Sequence[str]], faces: Sequence[FontFace], num_lines: int, seed: int,
               is_training: Callable[[str], bool], stats: Counter) -> dict[str, list[PlannedLine]]:
    """Give every line of every renderer its kind, face and text (see the module docstring).

    Args:
        pools: candidate texts per kind (:data:`KINDS`).
        faces: the faces, in the order lines cycle through them.
        num_lines: lines per renderer.
        seed: the set's seed.
        is_training: True for a text of the training corpora (dropped).
        stats: counts the texts checked and dropped.

    Raises:
        RuntimeError: if a kind runs out of texts for a face (the message names both).
    """
    orders = {kind: [pools[kind][int(k)] for k in np.random.default_rng([seed, 0, n]).permutation(len(pools[kind]))]
              for n, kind in enumerate(KINDS)}
    used: set[str] = set()
    verdict: dict[str, bool] = {}  # text -> held out
    start = dict.fromkeys(KINDS, 0)  # every text of a kind before it is used or dropped
    stats["texts dropped: in the training corpora"] += 0  # listed in the summary even when 0

    def usable(text: str) -> bool:
        if text in used:
            return False
        if text not in verdict:
            verdict[text] = not is_training(text)
            stats["texts checked against the training corpora"] += 1
            if not verdict[text]:
                stats["texts dropped: in the training corpora"] += 1
        return verdict[text]

    plan: dict[str, list[PlannedLine]] = {}
    for renderer in RENDERERS:
        plan[renderer] = []
        for i in range(num_lines):
            kind, face = KINDS[i % len(KINDS)], (i // len(KINDS)) % len(faces)
            order = orders[kind]
            while start[kind] < len(order) and not usable(order[start[kind]]):
                start[kind] += 1
            chosen = next((t for t in order[start[kind]:] if usable(t) and faces[face].covers(t)), None)
            if chosen is None:
                raise RuntimeError(f"kind {kind}: no text left that face {faces[face].name} covers "
                                   f"({len(order)} candidates); lower --num-lines")
            used.add(chosen)
            plan[renderer].append(PlannedLine(renderer, i, chosen, kind, face))
    return plan


# ------------------------------------------------------------------------------------------ rows
@dataclass(frozen=True)
class Row:
    """One drawn line: its image (relative to the output folder), label and metadata."""

    rel: str
    label: str
    renderer: str
    family: str
    style: str
    kind: str


def _row(line: PlannedLine, rel: str, face: EvalFace) -> Row:
    return Row(rel, line.text, line.renderer, face.family, face.style, line.kind)


# ---------------------------------------------------------------------------------------- pillow
def render_pillow(lines: Sequence[PlannedLine], faces: Sequence[EvalFace], seed: int, out_dir: Path,
                  stats: Counter) -> list[Row]:
    """Draw the pillow lines with :func:`toolkit.synth.render_line` and :data:`PILLOW_SETTINGS`."""
    rows = []
    (out_dir / "pillow").mkdir(parents=True)
    for line in tqdm(lines, desc="pillow", unit="line"):
        rng = np.random.default_rng([seed, RENDER_STREAM["pillow"], line.index])
        face = faces[line.face]
        image = render_line(line.text, face.face, rng, PILLOW_SETTINGS)
        quality = int(rng.integers(PILLOW_SETTINGS.jpeg_quality[0], PILLOW_SETTINGS.jpeg_quality[1] + 1))
        rel = f"pillow/{line.index:05d}.jpg"
        image.save(out_dir / rel, format="JPEG", quality=quality)
        rows.append(_row(line, rel, face))
    return rows


# ----------------------------------------------------------------------------------------- pango
def _pango_params(rng: np.random.Generator) -> tuple[dict, tuple[int, int, int], bool, int]:
    s = PANGO_SETTINGS
    names = [name for name, _ in s["antialias"]]
    probs = np.array([p for _, p in s["antialias"]])
    params = {
        "font_px": _draw(rng, s["font_px"]),
        "foreground_grey": _draw(rng, s["foreground_grey"]),
        "background_grey": _draw(rng, s["background_grey"]),
        "hinting": s["hinting"][int(rng.integers(len(s["hinting"])))],
        "hint_metrics": s["hint_metrics"][int(rng.integers(len(s["hint_metrics"])))],
        "antialias": names[int(rng.choice(len(names), p=probs / probs.sum()))],
        "subpixel_order": s["subpixel_order"][int(rng.integers(len(s["subpixel_order"])))],
    }
    margins = (_draw(rng, s["margin_top_px"]), _draw(rng, s["margin_side_px"]), _draw(rng, s["margin_bottom_px"]))
    return params, margins, bool(rng.random() < s["jpeg_prob"]), _draw(rng, s["jpeg_quality"])


def render_pango(lines: Sequence[PlannedLine], faces: Sequence[EvalFace], seed: int, out_dir: Path,
                 stats: Counter, env: dict[str, str]) -> list[Row]:
    """Draw the pango lines with pango-view under the font sandbox ``env`` (:func:`font_sandbox`).

    A line whose serialized layout shows a run in another family or an unknown glyph is skipped and
    counted in ``stats``; a line whose ink touches the image edge is drawn again with wider margins.
    """
    rows = []
    (out_dir / "pango").mkdir(parents=True)
    for key in ("pango: lines skipped (another family or an unknown glyph)",
                "pango: re-rendered with wider margins (ink on the edge)"):
        stats[key] += 0
    with tempfile.TemporaryDirectory(prefix="build_eval_set.pango.") as tmp:
        for line in tqdm(lines, desc="pango", unit="line"):
            rng = np.random.default_rng([seed, RENDER_STREAM["pango"], line.index])
            face = faces[line.face]
            params, margins, jpeg, quality = _pango_params(rng)
            image, descriptions, unknown = _pango_once(line.text, face.family, params, margins, Path(tmp), env)
            if unknown or not all(_is_family(d, face.family) for d in descriptions):
                stats["pango: lines skipped (another family or an unknown glyph)"] += 1
                stats[f"pango: {face.family} drew {sorted(set(descriptions))}, {unknown} unknown"] += 1
                continue
            for _ in range(_PANGO_EDGE_RETRIES):
                if not _ink_touches_edge(image, params["foreground_grey"], params["background_grey"]):
                    break
                stats["pango: re-rendered with wider margins (ink on the edge)"] += 1
                margins = tuple(m + 4 for m in margins)
                image, _, _ = _pango_once(line.text, face.family, params, margins, Path(tmp), env)
            rel = f"pango/{line.index:05d}.{'jpg' if jpeg else 'png'}"
            if jpeg:
                image.save(out_dir / rel, format="JPEG", quality=quality)
            else:
                image.save(out_dir / rel, format="PNG")
            rows.append(_row(line, rel, face))
    return rows


# -------------------------------------------------------------------------------------- chromium
def chromium_path() -> str:
    """The Chromium executable (``$CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH).

    Raises:
        PrerequisiteError: naming the Debian package when there is none, or Playwright when it is
            not installed.
    """
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        raise PrerequisiteError("Playwright is not installed: pip install -e '.[test]' (or pip install "
                                "playwright), or build only --renderers pillow,pango") from err
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise PrerequisiteError("chromium not found: install the Debian package chromium (apt-get install "
                                "chromium), or build only --renderers pillow,pango")
    return path


def _rgb(colour: Sequence[int]) -> str:
    return f"rgb({colour[0]},{colour[1]},{colour[2]})"


def _pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _background_css(kind: str, rng: np.random.Generator) -> str:
    """The CSS ``background`` of a page of the given kind (see ``CHROMIUM_SETTINGS["backgrounds"]``)."""
    s = CHROMIUM_SETTINGS
    paper, other = _pick(rng, PAPERS), _pick(rng, PAPERS)
    if kind == "plain":
        grey = int(rng.integers(244, 256))
        return _rgb((grey, grey, grey))
    if kind == "tinted":
        return _rgb(paper)
    if kind == "linear-gradient":
        return f"linear-gradient({int(rng.integers(0, 360))}deg, {_rgb(paper)}, {_rgb(other)})"
    if kind == "radial-gradient":
        x, y = int(rng.integers(0, 101)), int(rng.integers(0, 101))
        return f"radial-gradient(circle at {x}% {y}%, {_rgb(paper)}, {_rgb(other)})"
    opacity = float(rng.uniform(*s["noise_opacity"]))
    frequency = float(rng.uniform(*s["noise_base_frequency"]))
    svg = ("<svg xmlns='http://www.w3.org/2000/svg' width='256' height='256'><filter id='n'>"
           f"<feTurbulence type='fractalNoise' baseFrequency='{frequency:.3f}' numOctaves='3' "
           f"seed='{int(rng.integers(1, 1000))}' stitchTiles='stitch'/><feColorMatrix type='saturate' "
           f"values='0'/></filter><rect width='100%' height='100%' filter='url(#n)' "
           f"opacity='{opacity:.3f}'/></svg>")
    return f"url(\"data:image/svg+xml,{svg.replace('#', '%23')}\"), {_rgb(paper)}"


def _page_html(texts: Sequence[str], font_file: str, params: dict) -> str:
    lines, paragraph = [], []
    for k, text in enumerate(texts):
        paragraph.append(f'<div class="line"><span class="l" id="l{k}">{html.escape(text)}</span></div>')
        if len(paragraph) >= params["paragraph_lines"][len(lines) % len(params["paragraph_lines"])]:
            lines.append("<p>" + "".join(paragraph) + "</p>")
            paragraph = []
    if paragraph:
        lines.append("<p>" + "".join(paragraph) + "</p>")
    spacing = f"letter-spacing: {params['letter_spacing_em']:.3f}em;" if params["letter_spacing_em"] else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><style>
@font-face {{ font-family: "heldout"; src: url("{font_file}") format("woff2"); }}
html {{ background: {params['background']}; min-height: 100%; }}
body {{ margin: {params['body_margin']}px; font-family: "heldout"; font-size: {params['font_px']}px;
       line-height: {params['line_height']:.2f}; color: {params['ink']}; {spacing} }}
p {{ margin: 0 0 {params['paragraph_gap']:.2f}em 0; }}
.line {{ white-space: pre; }}
</style></head><body>{''.join(lines)}</body></html>
"""


def _chromium_page_params(rng: np.random.Generator) -> dict:
    s = CHROMIUM_SETTINGS
    ink = _pick(rng, INKS)
    return {
        "font_px": _draw(rng, s["font_css_px"]),
        "device_scale": 2 if rng.random() < s["device_scale_2_prob"] else 1,
        "line_height": float(rng.uniform(*s["line_height"])),
        "paragraph_lines": [_draw(rng, s["paragraph_lines"]) for _ in range(4)],
        "paragraph_gap": float(rng.uniform(0.3, 1.2)),
        "letter_spacing_em": float(rng.uniform(*s["letter_spacing_em"])) if rng.random() < s["letter_spacing_prob"]
        else 0.0,
        "ink": _rgb(tuple(int(c + rng.integers(-10, 11)) for c in ink)),
        "background_kind": (kind := _pick(rng, s["backgrounds"])),
        "background": _background_css(kind, rng),
        "body_margin": int(rng.integers(8, 41)),
    }


def _chromium_pages(lines: Sequence[PlannedLine]) -> list[list[PlannedLine]]:
    """The lines grouped into pages: by face, in line order, ``lines_per_page`` at most per page."""
    by_face: dict[int, list[PlannedLine]] = {}
    for line in lines:
        by_face.setdefault(line.face, []).append(line)
    n = CHROMIUM_SETTINGS["lines_per_page"]
    return [group[k:k + n] for face in sorted(by_face) for group in [by_face[face]]
            for k in range(0, len(group), n)]


_BOXES_JS = """() => Array.from(document.querySelectorAll('span.l')).map(s => {
    const r = s.getBoundingClientRect(); return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];
})"""


def _serve(texts_html: str, fonts: dict[str, bytes]):
    """A Playwright route handler serving the page and the web fonts from memory under
    :data:`PAGE_ORIGIN` (no file:// access, no network)."""

    def handler(route, request) -> None:
        path = request.url[len(PAGE_ORIGIN):]
        if path == "/page.html":
            route.fulfill(body=texts_html, content_type="text/html; charset=utf-8")
        elif path in fonts:
            route.fulfill(body=fonts[path], content_type="font/woff2")
        else:
            route.abort()

    return handler


PAGE_ORIGIN = "http://eval.invalid"


def render_chromium(lines: Sequence[PlannedLine], faces: Sequence[EvalFace], seed: int, out_dir: Path,
                    stats: Counter, env: dict[str, str]) -> tuple[list[Row], dict]:
    """Draw the chromium lines as pages in headless Chromium and cut the screenshots into lines.

    Chromium runs under the font sandbox ``env`` (:func:`font_sandbox`) and gets each page's face as a
    web font (the WOFF2 file); a line that DevTools reports drawn with any other font (a system copy
    of another held-out face standing in for a missing glyph) is skipped and counted in ``stats``.

    Returns:
        The rows, and ``{"version": Chromium's version, "pages": [settings of each page]}``.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    rows: list[Row] = []
    (out_dir / "chromium").mkdir(parents=True)
    s = CHROMIUM_SETTINGS
    fonts = {f"/face{k}.woff2": f.face.path.read_bytes() for k, f in enumerate(faces)}
    stats["chromium: lines skipped (another font, or no box)"] += 0
    pages = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, env=env, args=["--no-sandbox"])
        version = browser.version
        try:
            for p, page_lines in enumerate(tqdm(_chromium_pages(lines), desc="chromium", unit="page")):
                rng = np.random.default_rng([seed, RENDER_STREAM["chromium"], p])
                params = _chromium_page_params(rng)
                face = faces[page_lines[0].face]
                pages.append({"lines": [f"chromium/{ln.index:05d}" for ln in page_lines], "face": face.family,
                              **{k: v for k, v in params.items() if k != "paragraph_lines"}})
                text = _page_html([ln.text for ln in page_lines], f"/face{page_lines[0].face}.woff2", params)
                width, height = s["viewport_css_px"]
                context = browser.new_context(viewport={"width": width, "height": height},
                                              device_scale_factor=params["device_scale"])
                try:
                    context.route(PAGE_ORIGIN + "/**", _serve(text, fonts))
                    page = context.new_page()
                    page.goto(PAGE_ORIGIN + "/page.html")
                    status = page.evaluate("() => document.fonts.ready.then(() => "
                                           "Array.from(document.fonts).map(f => f.status))")
                    if status != ["loaded"]:
                        raise RuntimeError(f"chromium: the web font {face.file_name} did not load ({status})")
                    used_fonts = _platform_fonts(context, page, len(page_lines))
                    boxes = page.evaluate(_BOXES_JS)
                    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
                finally:
                    context.close()
                for line, box, used in zip(page_lines, boxes, used_fonts):
                    crop_rng = np.random.default_rng([seed, RENDER_STREAM["chromium"], p, line.index])
                    if used != [(face.family, True)] or box[2] <= 0 or box[3] <= 0:
                        stats["chromium: lines skipped (another font, or no box)"] += 1
                        stats[f"chromium: {face.family} line drawn with {used}"] += 1
                        continue
                    image = _crop(shot, box, params["device_scale"], crop_rng)
                    jpeg = crop_rng.random() < s["jpeg_prob"]
                    rel = f"chromium/{line.index:05d}.{'jpg' if jpeg else 'png'}"
                    if jpeg:
                        image.save(out_dir / rel, format="JPEG", quality=_draw(crop_rng, s["jpeg_quality"]))
                    else:
                        image.save(out_dir / rel, format="PNG")
                    rows.append(_row(line, rel, face))
                    stats[f"chromium: background {params['background_kind']}"] += 1
                    stats[f"chromium: device scale {params['device_scale']}"] += 1
        finally:
            browser.close()
    rows.sort(key=lambda r: r.rel)
    return rows, {"version": version, "pages": pages}


def _platform_fonts(context, page, count: int) -> list[list[tuple[str, bool]]]:
    """For each of the page's ``count`` line spans, the fonts Chromium drew it with (DevTools'
    ``CSS.getPlatformFontsForNode``): ``(family name, is a web font)`` pairs."""
    cdp = context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    out = []
    for k in range(count):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f"#l{k}"})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        out.append([(f["familyName"], bool(f.get("isCustomFont"))) for f in fonts])
    cdp.detach()
    return out


def _crop(shot: Image.Image, box: Sequence[float], scale: int, rng: np.random.Generator) -> Image.Image:
    """Cut a line's box (CSS px) out of the screenshot (device px), with a random margin."""
    s = CHROMIUM_SETTINGS
    mx, my = _draw(rng, s["crop_margin_x_css_px"]), _draw(rng, s["crop_margin_y_css_px"])
    x, y, w, h = box
    left = max(0, int(np.floor((x - mx) * scale)))
    top = max(0, int(np.floor((y - my) * scale)))
    right = min(shot.width, int(np.ceil((x + w + mx) * scale)))
    bottom = min(shot.height, int(np.ceil((y + h + my) * scale)))
    return shot.crop((left, top, right, bottom))


# ---------------------------------------------------------------------------------------- output
def label_files(rows: Sequence[Row], faces: Sequence[EvalFace]) -> dict[str, list[Row]]:
    """The label files of the set and the rows each names: ``labels.txt``, one per renderer built,
    ``style-<style>.txt`` per style of the faces and ``kind-<kind>.txt`` per kind."""
    files = {"labels.txt": list(rows)}
    for renderer in RENDERERS:
        part = [r for r in rows if r.renderer == renderer]
        if part:
            files[f"{renderer}.txt"] = part
    for style in dict.fromkeys(f.style for f in faces):
        files[f"style-{style}.txt"] = [r for r in rows if r.style == style]
    for kind in KINDS:
        files[f"kind-{kind}.txt"] = [r for r in rows if r.kind == kind]
    return files


def write_labels(path: Path, rows: Sequence[Row]) -> None:
    atomic_write_text(path, "".join(f"{r.rel}\t{r.label}\n" for r in rows))


def verify_labels(path: Path, rows: Sequence[Row]) -> None:
    """Read a label file back with the toolkit's reader; raise if it disagrees with ``rows``."""
    entries, problems = read_label_file(path, path.parent)
    if problems:
        raise RuntimeError(f"{path}: the toolkit's reader reports {problems[:3]}")
    if [(e.name, e.label) for e in entries] != [(r.rel, normalize_text(r.label)) for r in rows]:
        raise RuntimeError(f"{path}: the toolkit's reader does not read back the labels written")


def _owned(out_dir: Path) -> list[Path]:
    names = [*RENDERERS, "labels.txt", "eval_config.json", *(f"{r}.txt" for r in RENDERERS)]
    found = [out_dir / n for n in names if (out_dir / n).exists()]
    return found + sorted(out_dir.glob("style-*.txt")) + sorted(out_dir.glob("kind-*.txt"))


def prepare_output(out_dir: Path, overwrite: bool, remove: bool) -> None:
    """Refuse an earlier set in ``out_dir`` (unless ``overwrite``); with ``remove``, delete it and
    create the folder.

    Raises:
        FileExistsError: if an earlier set is there and ``overwrite`` is False.
    """
    existing = _owned(out_dir) if out_dir.is_dir() else []
    if existing and not overwrite:
        raise FileExistsError(f"{out_dir} already holds an evaluation set ({', '.join(map(str, existing[:4]))} "
                              f"...); pass --overwrite or another directory")
    if remove:
        for path in existing:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        out_dir.mkdir(parents=True, exist_ok=True)


def _stats(rows: Sequence[Row]) -> dict:
    labels = [r.label for r in rows]
    return {
        "lines": len(rows),
        "per_renderer": dict(Counter(r.renderer for r in rows)),
        "per_style": dict(Counter(r.style for r in rows)),
        "per_kind": dict(Counter(r.kind for r in rows)),
        "per_format": dict(sorted(Counter(Path(r.rel).suffix[1:] for r in rows).items())),
        "distinct_chars": len({ch for label in labels for ch in label}),
        "mean_length": round(float(np.mean([len(x) for x in labels])), 2) if labels else 0.0,
        "min_length": min((len(x) for x in labels), default=0),
        "max_length": max((len(x) for x in labels), default=0),
    }


def _versions(renderers: Sequence[str], chromium_version: str | None) -> dict:
    import fontTools

    out = {"python": platform.python_version(), "numpy": np.__version__, "pillow": PIL.__version__,
           "fonttools": fontTools.version}
    if "pango" in renderers:
        out["pango-view"] = pango_version()
        out["pango1.0-tools"] = dpkg_version("pango1.0-tools")
        out["fontconfig"] = dpkg_version("fontconfig")
    if "chromium" in renderers:
        from importlib.metadata import version

        out["chromium"] = chromium_version
        out["chromium_deb"] = dpkg_version("chromium")
        out["playwright"] = version("playwright")
    return out


def build_set(out_dir: Path, sources: TextSources, faces: Sequence[EvalFace], num_lines: int, seed: int,
              renderers: Sequence[str], charset: Charset, is_training: Callable[[str], bool],
              overwrite: bool = False, training_files: Sequence[Path] = ()) -> dict:
    """Build the set from given texts and faces (see the module docstring) into ``out_dir``; return
    the ``eval_config.json`` content.

    Raises:
        PrerequisiteError: if a renderer's tool is missing (before anything is written).
        FileExistsError: if ``out_dir`` holds a set and ``overwrite`` is False.
        RuntimeError: if there are not enough texts, or a label file does not read back.
    """
    prepare_output(out_dir, overwrite, remove=False)
    if "pango" in renderers:
        pango_version()
    if "chromium" in renderers:
        chromium_path()
    pools, text_stats = candidate_pools(sources, charset)
    plan = plan_lines(pools, [f.face for f in faces], num_lines, seed, is_training, text_stats)
    prepare_output(out_dir, overwrite, remove=True)
    render_stats: Counter = Counter()
    rows: list[Row] = []
    chromium_info: dict = {}
    with tempfile.TemporaryDirectory(prefix="build_eval_set.fonts.") as tmp:
        env = font_sandbox(faces, Path(tmp)) if {"pango", "chromium"} & set(renderers) else None
        for renderer in RENDERERS:
            if renderer not in renderers:
                continue
            if renderer == "pillow":
                rows += render_pillow(plan[renderer], faces, seed, out_dir, render_stats)
            elif renderer == "pango":
                rows += render_pango(plan[renderer], faces, seed, out_dir, render_stats, env)
            else:
                chromium_rows, chromium_info = render_chromium(plan[renderer], faces, seed, out_dir,
                                                               render_stats, env)
                rows += chromium_rows
    files = label_files(rows, faces)
    for name, file_rows in files.items():
        write_labels(out_dir / name, file_rows)
        verify_labels(out_dir / name, file_rows)
    config = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "num_lines_per_renderer": num_lines,
        "renderers": [r for r in RENDERERS if r in renderers],
        "parts": [r for r in RENDERERS if r in renderers],  # as the regression set names them
        "kinds": list(KINDS),
        "styles": list(dict.fromkeys(f.style for f in faces)),
        "label_files": {name: len(r) for name, r in files.items()},
        "text_sources": {**sources.provenance,
                         "candidates": {kind: len(p) for kind, p in pools.items()},
                         "min_chars": MIN_CHARS, "max_chars": MAX_CHARS, "min_hanzi": MIN_HANZI,
                         "held_out_against": [{"file": str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT)
                                               else str(p), "sha256": _sha256(p)} for p in training_files],
                         "char_dict_sha256": charset.sha256,
                         "filter_counts": dict(sorted(text_stats.items()))},
        "faces": [{"family": f.family, "style": f.style, "file": str(f.face.path.relative_to(REPO_ROOT))
                   if f.face.path.is_relative_to(REPO_ROOT) else str(f.face.path),
                   "sha256": _sha256(f.face.path), "num_codepoints": len(f.face.codepoints),
                   "lines": sum(1 for r in rows if r.family == f.family)} for f in faces],
        "counts": {"all": _stats(rows),
                   "renderers": {r: _stats([x for x in rows if x.renderer == r]) for r in RENDERERS if r in renderers},
                   "render": dict(sorted(render_stats.items()))},
        "lines": {r.rel: {"renderer": r.renderer, "face": r.family, "style": r.style, "kind": r.kind} for r in rows},
        "font_of_line": {r.rel: r.family for r in rows},
        "settings": {
            "pillow": {"renderer": "toolkit.synth.render_line", "config": PILLOW_SETTINGS.to_dict()},
            "pango": {k: list(v) if isinstance(v, tuple) else v for k, v in PANGO_SETTINGS.items()},
            "chromium": {k: list(v) if isinstance(v, tuple) else v for k, v in CHROMIUM_SETTINGS.items()},
        },
        "chromium_pages": chromium_info.get("pages", []),
        "versions": _versions(renderers, chromium_info.get("version")),
    }
    atomic_write_json(out_dir / "eval_config.json", config)
    print(format_summary(out_dir, config, text_stats, render_stats))
    return config


def format_summary(out_dir: Path, config: dict, text_stats: Counter, render_stats: Counter) -> str:
    counts = config["counts"]
    lines = [f"evaluation set in {out_dir}: {counts['all']['lines']} lines, "
             f"{counts['all']['distinct_chars']} distinct chars, mean length {counts['all']['mean_length']}",
             "candidates: " + ", ".join(f"{k} {v}" for k, v in config["text_sources"]["candidates"].items())]
    lines += [f"  {key}: {value}" for key, value in sorted({**text_stats, **render_stats}.items())]
    for name, n in config["label_files"].items():
        lines.append(f"  {n:5d}  {name}")
    return "\n".join(lines)


def build(out_dir: Path, num_lines: int, seed: int, renderers: Sequence[str], package_tgz: Path | None,
          manpages_deb: Path | None, overwrite: bool) -> dict:
    """Fetch the sources, load the held-out faces and the training corpora, and build the set."""
    prepare_output(out_dir, overwrite, remove=False)  # fail before the slow steps
    if "pango" in renderers:
        pango_version()
    if "chromium" in renderers:
        chromium_path()
    faces = heldout_faces()
    charset = Charset.load(REPO_ROOT / "char_dict")
    training_files = [REPO_ROOT / p for p in TRAINING_CORPORA]
    training = TrainingText(training_files)
    sources = fetch_sources(package_tgz, manpages_deb)
    return build_set(out_dir, sources, faces, num_lines, seed, renderers, charset, training.__contains__,
                     overwrite, training_files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the general held-out evaluation set of Chinese line images (classical, modern "
                    "and mixed text; the held-out faces of fonts/heldout/; Pillow, pango-view and "
                    "Chromium renderings). Prerequisites: " + APT_COMMAND)
    parser.add_argument("--output-dir", type=Path, required=True, help="where the set is written")
    parser.add_argument("--num-lines", type=int, default=200, help="lines per renderer (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--renderers", type=comma_subset("--renderers", RENDERERS), default=list(RENDERERS),
                        help="comma-separated renderers to build (default pillow,pango,chromium)")
    parser.add_argument("--package-tgz", type=Path, default=None,
                        help=f"a tarball from 'npm pack {PACKAGE}@{VERSION}' (default: run npm pack)")
    parser.add_argument("--manpages-deb", type=Path, default=None,
                        help=f"a {MANPAGES_PACKAGE} .deb (default: apt-get download {MANPAGES_PACKAGE})")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier set in --output-dir")
    args = parser.parse_args(argv)
    if args.num_lines < 1:
        parser.error(f"--num-lines must be >= 1, got {args.num_lines}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    try:
        build(args.output_dir, args.num_lines, args.seed, args.renderers, args.package_tgz, args.manpages_deb,
              args.overwrite)
    except (PrerequisiteError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
