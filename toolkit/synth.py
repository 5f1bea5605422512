"""Synthesis stage (``gen-images``): render corpus text segments into grey text-line images.

Every image is one short segment of a corpus line, drawn with a font face that has a glyph for each of its
characters (checked against the face's cmap, see :mod:`toolkit.fonts`), with random size, margins,
character spacing, grey levels, slight rotation, blur, noise and JPEG quality, then scaled to a fixed
height. The output directory holds::

    images/0000/00000000.jpg ...   one file per image, 1000 per folder
    Train/sample.txt               "images/0000/00000000.jpg 春风又绿江南岸" lines, sorted by index
    Test/sample.txt                the same for the held-out texts
    chinese.txt                    every distinct non-whitespace char of the labels, by code point
    preview.png                    a contact sheet of the first images with their labels
    gen_config.json                the resolved SynthConfig, seed, inputs and counts

Determinism: image ``i`` draws everything (its text, face and rendering) from
``numpy.random.default_rng([seed, i])``, so the same seed gives byte-identical files whatever the number
of worker processes. The train/test split depends only on the text (:func:`is_test_text`), so a test text
never appears in the training list, whatever the seed or the sharding.

Sharding (a job array on a cluster scheduler): ``gen_images(..., shard_index=I, num_shards=N)``
renders only the contiguous block of indices :func:`shard_range` gives shard ``I`` into the shared
``images/`` folder, and writes its lists under ``shards/<I>-of-<N>/`` (``Train/sample.txt``,
``Test/sample.txt``, ``chinese.txt``, ``gen_config.json``, the last one last). When all ``N`` are
done, :func:`merge_gen_shards` writes the usual ``Train/sample.txt``, ``Test/sample.txt``,
``chinese.txt``, ``preview.png`` and ``gen_config.json``. Since image ``i`` depends only on
``(seed, i)``, the merged output is the same, file for file, whatever ``N`` is (``gen_config.json``
adds ``"shards": N``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Self

import numpy as np
import simplejpeg
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from tqdm import tqdm

from toolkit.corpus import CorpusError, char_frequencies, first_occurrences, read_corpus
from toolkit.fonts import FaceSampler, FontError, FontFace, load_font
from toolkit.shards import check_shard, find_shards, shard_name

logger = logging.getLogger(__name__)

GEN_CONFIG_FORMAT_VERSION = 1

# The ideographic em box of CJK fonts spans 0.88 em above the baseline and 0.12 em below it. The crop
# always holds this box (plus the real ink), so that every line, even "一一" or "。。", is scaled to the
# image height by the same factor instead of blowing small marks up to full height.
_EM_ASCENT = 0.88
_EM_DESCENT = 0.12
CORNER_PUNCT = frozenset("，。、．,.")
"""Punctuation that Simplified Chinese faces draw in a corner of the em box and Traditional Chinese
faces centre (see ``SynthConfig.punct_center_prob``)."""
_GLYPH_CACHE_SIZE = 20000  # glyph bitmaps kept per process (about 1-3 KB each)
_PREVIEW_COUNT = 24
_PREVIEW_COLUMNS = 2
_PREVIEW_MAX_WIDTH = 480
_PREVIEW_LABEL_PX = 20
_CHUNK_RANGE = (16, 1000)  # images per pool task, smallest and largest (see _chunk_ranges)
SHARDS_DIR = "shards"
_SHARD_ONLY_KEYS = ("shard", "skipped_examples", "first_written", "seconds")


def _as_pair(name: str, value: Any) -> tuple[Any, Any]:
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"SynthConfig.{name} must be a (low, high) pair, got {value!r}") from None
    return lo, hi


@dataclass(frozen=True)
class SynthConfig:
    """How ``gen-images`` picks text and renders it. Ranges are inclusive ``(low, high)`` pairs, drawn
    uniformly; probabilities are in [0, 1].

    Attributes:
        height: height of every output image, pixels; the width follows the text (aspect ratio kept).
        min_chars, max_chars: range of the segment length drawn for each image, characters. Only corpus
            lines (or allowed runs, see ``top_chars``) of at least ``min_chars`` chars are sampled.
        font_size: font size used to render before scaling to ``height``, pixels (em size).
        test_fraction: share of distinct texts held out for ``Test/`` (see :func:`is_test_text`).
        top_chars: if set, only text made of the K most frequent corpus chars is sampled: corpus lines
            are cut at every other char and runs of at least ``min_chars`` chars are kept.
        image_format: ``"jpg"`` or ``"png"``.
        jpeg_quality: JPEG quality range (1..100); ignored for PNG.
        margin_x: left and right margin (each drawn apart), as a fraction of the font size.
        margin_y: top and bottom margin (each drawn apart), as a fraction of the font size, added
            around the ideographic em box.
        spacing_prob, spacing: chance of extra space between chars, and its range as a fraction of
            the font size (otherwise the font's own advance widths are used).
        ink, paper: grey-level ranges (0 black .. 255 white) of the text and of the paper; every ink
            level must be darker than every paper level.
        gradient_prob, gradient_depth: chance of a linear shading of the paper, and how many grey
            levels darker its far side gets.
        rotation_prob, max_rotation: chance of rotating the line, and the largest angle, degrees.
        blur_prob, blur_radius: chance of a gaussian blur, and its radius in output pixels.
        noise_prob, noise_sigma: chance of additive gaussian noise, and its standard deviation in grey
            levels.
        max_text_draws: how many texts one image may draw before it gives up, when drawn texts have
            chars that no font covers (each rejected text is counted in the summary).
        balance: char-frequency-balanced sampling: the share of segments that are centred on a char
            drawn uniformly from the distinct chars of the corpus (then cut from one of that char's
            occurrences, so the context stays real text), instead of a position drawn uniformly over
            the corpus. 0 follows the corpus frequencies; 0.5 gives every char of a 6,000-char corpus
            a segment about every 12,000 images, however rare it is.
        aliased_prob: chance of drawing without anti-aliasing (binary glyphs, like a screenshot of
            a hinted bitmap rasterizer).
        jitter_prob, jitter_offset, jitter_scale: chance of per-char jitter (a handwriting-like
            unevenness): each char gets its own vertical offset, up to ``jitter_offset`` times the
            font size either way, and its own size factor drawn from ``jitter_scale``.
        stroke_prob: chance of changing the stroke weight: a 3x3 max filter (bolder) or, for render
            sizes of 36 px and more, a 3x3 min filter (thinner), half of the time each.
        shear_prob, max_shear: chance of an italic-like horizontal shear, and its largest slope
            (dx / dy, either way).
        stretch: range of the horizontal scale factor applied with the height scaling (condensed
            or wide typefaces); (1, 1) keeps the aspect ratio.
        downscale_prob, downscale: chance of a low-resolution look (the line is shrunk by a factor
            drawn from ``downscale`` and scaled back with bilinear or nearest resampling), and the
            factor range.
        warp_prob, warp: chance of a smooth random warp of the glyph shapes (other typefaces: Kai,
            handwriting-like), and the range of its strength. The mask is cut into a grid of cells
            a third of the font size wide; every grid point moves by a gaussian displacement whose
            standard deviation, as a fraction of the font size, is drawn from ``warp`` (clipped to
            0.4 cell, so cells never fold; points on the edges move only along them, so no ink is
            cut), and each cell is resampled bilinearly (Pillow's MESH transform). Its random
            numbers are drawn only when ``warp_prob > 0``, so configs without it render the same
            pixels as before it existed.
        rise_prob, rise: chance of Kai-like rising strokes, and the range of the slope. Each char of
            the line gets its own slope drawn from ``rise`` (dy / dx, px per px): its glyph is
            sheared vertically so the right side sits higher than the left (horizontal strokes rise
            to the right, as in brush Kai faces, while vertical strokes stay vertical), centred on
            its own middle. Random numbers only when ``rise_prob > 0`` (older configs, same pixels).
        punct_center_prob: chance of drawing the line's corner punctuation (:data:`CORNER_PUNCT`,
            e.g. ``，。、``) centred in its em box, as Traditional Chinese faces and several other
            faces place it, instead of where the face puts it (the bottom left in Simplified
            Chinese faces like the bundled Noto SC). Random numbers only when it is > 0.
        question_prob: chance that a text's full stops (``。``) all become question marks (``？``):
            the bundled corpus (Song ci) has one ``？`` in 1.67 M chars, while dialogue and prose
            have many (10% of the held-out Yuan qu lines end with one). ``？`` must then be in the
            char dict. Random numbers only when it is > 0 and the text holds a ``。``.

    Raises:
        ValueError: from ``__post_init__``, naming the field and the value, for any out-of-range value.
    """

    height: int = 32
    min_chars: int = 4
    max_chars: int = 12
    font_size: tuple[int, int] = (22, 40)
    test_fraction: float = 0.1
    top_chars: int | None = None
    image_format: str = "jpg"
    jpeg_quality: tuple[int, int] = (30, 95)
    margin_x: tuple[float, float] = (0.0, 0.4)
    margin_y: tuple[float, float] = (0.0, 0.15)
    spacing_prob: float = 0.5
    spacing: tuple[float, float] = (0.0, 0.3)
    ink: tuple[int, int] = (0, 90)
    paper: tuple[int, int] = (170, 255)
    gradient_prob: float = 0.3
    gradient_depth: tuple[float, float] = (5.0, 30.0)
    rotation_prob: float = 0.5
    max_rotation: float = 2.0
    blur_prob: float = 0.3
    blur_radius: tuple[float, float] = (0.3, 1.0)
    noise_prob: float = 0.3
    noise_sigma: tuple[float, float] = (2.0, 10.0)
    max_text_draws: int = 10
    balance: float = 0.0
    aliased_prob: float = 0.0
    jitter_prob: float = 0.0
    jitter_offset: float = 0.06
    jitter_scale: tuple[float, float] = (0.9, 1.1)
    stroke_prob: float = 0.0
    shear_prob: float = 0.0
    max_shear: float = 0.25
    stretch: tuple[float, float] = (1.0, 1.0)
    downscale_prob: float = 0.0
    downscale: tuple[float, float] = (0.45, 0.8)
    warp_prob: float = 0.0
    warp: tuple[float, float] = (0.02, 0.06)
    rise_prob: float = 0.0
    rise: tuple[float, float] = (0.02, 0.12)
    punct_center_prob: float = 0.0
    question_prob: float = 0.0

    def __post_init__(self) -> None:
        def integer(name: str, value: Any, lo: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"SynthConfig.{name} must be an integer >= {lo}, got {value!r}")

        def number(name: str, value: Any, lo: float, hi: float) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ValueError(f"SynthConfig.{name} must be a number in [{lo}, {hi}], got {value!r}")

        def pair(name: str, lo: float, hi: float, integers: bool = False) -> None:
            value = getattr(self, name)
            a, b = _as_pair(name, value)
            for v in (a, b):
                bad_type = isinstance(v, bool) or not isinstance(v, int if integers else (int, float))
                if bad_type or not lo <= v <= hi:
                    kind = "integers" if integers else "numbers"
                    raise ValueError(f"SynthConfig.{name} must hold {kind} in [{lo}, {hi}], got {value!r}")
            if a > b:
                raise ValueError(f"SynthConfig.{name} must be (low, high) with low <= high, got {value!r}")
            object.__setattr__(self, name, (a, b))  # lists (e.g. from JSON) become tuples

        integer("height", self.height, 8)
        integer("min_chars", self.min_chars, 1)
        integer("max_chars", self.max_chars, 1)
        if self.max_chars < self.min_chars:
            raise ValueError(
                f"SynthConfig.max_chars must be >= min_chars ({self.min_chars}), got {self.max_chars!r}"
            )
        pair("font_size", 6, 512, integers=True)
        number("test_fraction", self.test_fraction, 0.0, 1.0)
        if self.top_chars is not None:
            integer("top_chars", self.top_chars, 1)
        if self.image_format not in ("jpg", "png"):
            raise ValueError(f"SynthConfig.image_format must be 'jpg' or 'png', got {self.image_format!r}")
        pair("jpeg_quality", 1, 100, integers=True)
        pair("margin_x", 0.0, 5.0)
        pair("margin_y", 0.0, 2.0)
        number("spacing_prob", self.spacing_prob, 0.0, 1.0)
        pair("spacing", 0.0, 5.0)
        pair("ink", 0, 255, integers=True)
        pair("paper", 0, 255, integers=True)
        if self.ink[1] >= self.paper[0]:
            raise ValueError(
                f"SynthConfig.ink must be darker than paper: ink {self.ink!r} reaches paper {self.paper!r}"
            )
        number("gradient_prob", self.gradient_prob, 0.0, 1.0)
        pair("gradient_depth", 0.0, 255.0)
        number("rotation_prob", self.rotation_prob, 0.0, 1.0)
        number("max_rotation", self.max_rotation, 0.0, 45.0)
        number("blur_prob", self.blur_prob, 0.0, 1.0)
        pair("blur_radius", 0.0, 10.0)
        number("noise_prob", self.noise_prob, 0.0, 1.0)
        pair("noise_sigma", 0.0, 128.0)
        integer("max_text_draws", self.max_text_draws, 1)
        number("balance", self.balance, 0.0, 1.0)
        number("aliased_prob", self.aliased_prob, 0.0, 1.0)
        number("jitter_prob", self.jitter_prob, 0.0, 1.0)
        number("jitter_offset", self.jitter_offset, 0.0, 0.5)
        pair("jitter_scale", 0.5, 2.0)
        number("stroke_prob", self.stroke_prob, 0.0, 1.0)
        number("shear_prob", self.shear_prob, 0.0, 1.0)
        number("max_shear", self.max_shear, 0.0, 1.0)
        pair("stretch", 0.25, 4.0)
        number("downscale_prob", self.downscale_prob, 0.0, 1.0)
        pair("downscale", 0.1, 1.0)
        number("warp_prob", self.warp_prob, 0.0, 1.0)
        pair("warp", 0.0, 0.5)
        number("rise_prob", self.rise_prob, 0.0, 1.0)
        pair("rise", 0.0, 0.5)
        number("punct_center_prob", self.punct_center_prob, 0.0, 1.0)
        number("question_prob", self.question_prob, 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict (pairs become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthConfig:
        """Build a config from :meth:`to_dict` output (e.g. ``gen_config.json``'s ``"config"``).

        Raises:
            ValueError: for a key that is not a field, or a bad value.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown SynthConfig field(s) {unknown}; known: {sorted(names)}")
        return cls(**data)


def read_config_overrides(path: str | os.PathLike) -> dict[str, Any]:
    """Read :class:`SynthConfig` fields from a JSON file, to apply over a preset.

    The file is either an object of fields (any subset, e.g. ``{"margin_y": [0.0, 0.5]}``), or a
    ``gen_config.json`` written by :func:`gen_images`, whose ``"config"`` is used: so a dataset's
    exact settings can be rendered again.

    Returns:
        The fields as a dict (pairs as lists); apply them with ``dataclasses.replace``, which
        validates the values.

    Raises:
        ValueError: naming the file, if it is not valid JSON, not an object, or names a key that is
            not a field.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a JSON file of SynthConfig fields ({e})") from None
    if isinstance(data, dict) and "format_version" in data and isinstance(data.get("config"), dict):
        data = data["config"]  # a gen_config.json
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of SynthConfig fields, got "
                         f"{type(data).__name__}")
    names = {f.name for f in dataclasses.fields(SynthConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{path}: unknown SynthConfig field(s) {unknown}; known: {sorted(names)}")
    return data


AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    # The SynthConfig defaults: clean-ish lines for the quickstart.
    "basic": {},
    # For a model that must read fonts and renderings it never saw (the bundled release model): wider
    # sizes, margins (loose vertical crops too), grey levels and JPEG qualities, per-char jitter,
    # glyph warps, rising strokes, stroke weight, shear, stretch, aliased and low-resolution renderings,
    # centred punctuation, question marks, and char-frequency-balanced text.
    "robust": {
        "font_size": (20, 48),
        "margin_x": (0.0, 0.6),
        # Loose vertical crops (text 45-100% of the line height): on the held-out set, lines whose
        # ink fills under 60% of the height (pango-view's line boxes) had 1.5-2.5x the CER of
        # tight ones with (0, 0.15) here (release run, step 11,000).
        "margin_y": (0.0, 0.5),
        "spacing": (0.0, 0.35),
        "ink": (0, 100),
        "paper": (160, 255),
        "jpeg_quality": (20, 95),
        "max_rotation": 2.5,
        "blur_prob": 0.35,
        "blur_radius": (0.3, 1.2),
        "noise_prob": 0.35,
        "balance": 0.5,
        "aliased_prob": 0.15,
        "jitter_prob": 0.3,
        "stroke_prob": 0.25,
        "shear_prob": 0.3,
        "max_shear": 0.2,
        "stretch": (0.8, 1.25),
        "downscale_prob": 0.2,
        "downscale": (0.5, 0.85),
        # Glyph shape warps for typefaces far from the bundled Noto Sans/Serif: at step 17,000 of
        # the release run, held-out lines in AR PL UKai (a Kai face) had CER 0.41-0.55, the five
        # other unseen faces 0.04-0.12, with substitutions of common chars (是 -> 走), not drops.
        # At step 30,000 (first release) UKai still had CER 0.30-0.32, the other unseen faces
        # 0.03-0.09: more lines warped, and Kai-like rising horizontal strokes (per-glyph slopes).
        "warp_prob": 0.6,
        "warp": (0.02, 0.07),
        "rise_prob": 0.4,
        "rise": (0.02, 0.12),
        # With the step-40,000 model, 23% of the held-out Pillow part's errors were line-final punctuation:
        # 。 and ， drawn centred (as UMing, WenQuanYi and Droid Sans place them) were dropped, and ？
        # (one in the whole Song ci corpus, ending 10% of the Yuan qu lines) read as 夕 or 宁.
        "punct_center_prob": 0.3,
        "question_prob": 0.15,
    },
}
"""Named :class:`SynthConfig` overrides for ``gen-images --augment``."""


@dataclass(frozen=True)
class GenSummary:
    """What :func:`gen_images` wrote.

    Attributes:
        num_requested: images asked for (``num_images``).
        num_train, num_test: images listed in ``Train/sample.txt`` and ``Test/sample.txt``.
        num_failed: image indices left empty because ``max_text_draws`` texts in a row had a char no
            font covers (``num_train + num_test + num_failed == num_requested``).
        skipped: rejected texts per reason, e.g. ``{"no font covers char 龍": 3}``; each rejected text
            was replaced by another draw for the same image.
        skipped_examples: up to 5 rejected texts, in image order.
        chars_used: distinct non-whitespace chars in the written labels (lines of ``chinese.txt``).
        output_dir: the output directory.
        seconds: wall time of the run, seconds.
    """

    num_requested: int
    num_train: int
    num_test: int
    num_failed: int
    skipped: dict[str, int]
    skipped_examples: list[str]
    chars_used: int
    output_dir: Path
    seconds: float = 0.0

    @property
    def num_written(self) -> int:
        """Images written (train + test)."""
        return self.num_train + self.num_test

    def format(self) -> str:
        """Return a multi-line human-readable summary of the run."""
        rate = self.num_written / self.seconds if self.seconds > 0 else float("nan")
        lines = [
            f"images: {self.num_written} written of {self.num_requested} requested, in {self.output_dir} "
            f"({self.seconds:.1f} s, {rate:.0f} images/s)",
            f"  train: {self.num_train}  test: {self.num_test}",
        ]
        total_skipped = sum(self.skipped.values())
        if total_skipped:
            lines.append(f"skipped texts: {total_skipped} (each replaced by another draw)")
            ranked = sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0]))
            for reason, count in ranked[:10]:
                lines.append(f"  {count:6d}  {reason}")
            if len(ranked) > 10:
                lines.append(f"  ... and {len(ranked) - 10} more reasons")
            lines.append("  e.g. " + " | ".join(self.skipped_examples))
        else:
            lines.append("skipped texts: 0")
        if self.num_failed:
            lines.append(f"images not written (no coverable text found): {self.num_failed}")
        lines.append(f"chars used: {self.chars_used}")
        return "\n".join(lines)


def is_test_text(text: str, test_fraction: float) -> bool:
    """Return True if ``text`` belongs to the test split.

    The split is a pure function of the text: the first 32 bits of ``sha1(text.encode("utf-8"))``, read
    as a fraction of 2**32, are compared with ``test_fraction``. So a text is always on the same side,
    whatever the seed, the image index or the number of workers.
    """
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) / 2**32 < test_fraction


def text_units(lines: Iterable[str], config: SynthConfig) -> list[str]:
    """Return the pieces of corpus text that segments are cut from.

    Whitespace runs inside a line become one ASCII space. Without ``config.top_chars`` the units are the
    lines of at least ``config.min_chars`` chars; with it, the lines are cut at every char outside the K
    most frequent non-whitespace chars (ties broken by code point) and the runs of at least
    ``config.min_chars`` chars (after stripping) are kept.

    Args:
        lines: corpus entries (:func:`toolkit.corpus.read_corpus`).
        config: uses ``min_chars`` and ``top_chars``.

    Returns:
        The units, in corpus order (may be empty).
    """
    cleaned = [" ".join(line.split()) for line in lines]
    if config.top_chars is None:
        return [line for line in cleaned if len(line) >= config.min_chars]
    ranked = sorted(char_frequencies(cleaned).items(), key=lambda kv: (-kv[1], kv[0]))
    allowed = {ch for ch, _ in ranked[: config.top_chars]}
    units: list[str] = []
    for line in cleaned:
        run: list[str] = []
        for ch in line + "\0":  # "\0" is never allowed: it closes the last run
            if ch in allowed or (ch == " " and run):
                run.append(ch)
                continue
            piece = "".join(run).strip()
            if len(piece) >= config.min_chars:
                units.append(piece)
            run = []
    return units


@functools.lru_cache(maxsize=512)
def _truetype(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    """Open a face at a size, once per process (the basic layout engine, for the same result
    everywhere: chars are placed one by one, so no shaping is needed)."""
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


def _uniform(rng: np.random.Generator, pair: tuple[float, float]) -> float:
    return float(rng.uniform(pair[0], pair[1]))


def _integer(rng: np.random.Generator, pair: tuple[int, int]) -> int:
    return int(rng.integers(pair[0], pair[1] + 1))


@functools.lru_cache(maxsize=_GLYPH_CACHE_SIZE)
def _glyph(path: str, index: int, size: int, aliased: bool, ch: str) -> tuple[np.ndarray | None, int, int, float]:
    """One char of a face at a size, rendered once per process and then reused (chars repeat: in the
    bundled corpus the 500 most frequent chars make most of the text).

    Returns:
        ``(coverage, left, top, advance)``: the glyph's ink coverage (uint8 array ``(height, width)``,
        0 = paper, 255 = ink; read-only, shared; None for a space or an empty glyph), its top-left
        corner relative to the pen position on the baseline (px, y down), and the advance width (px,
        fractional).
    """
    font = _truetype(path, index, size)
    advance = font.getlength(ch)
    if ch.isspace():
        return None, 0, 0, advance
    drawn = _draw_glyph(font, ch, aliased)
    if drawn is None:
        return None, 0, 0, advance
    coverage, left, top = drawn
    coverage.flags.writeable = False
    return coverage, left, top, advance


def _draw_glyph_imagedraw(font: ImageFont.FreeTypeFont, ch: str, aliased: bool
                          ) -> tuple[np.ndarray, int, int] | None:
    """``(coverage, left, top)`` of one char drawn with Pillow's public ``ImageDraw.text`` into an
    image the size of its bounding box (``getbbox``); None for an empty glyph."""
    left, top, right, bottom = font.getbbox(ch, anchor="ls")
    if right <= left or bottom <= top:
        return None
    image = Image.new("L", (right - left, bottom - top), 0)
    draw = ImageDraw.Draw(image)
    if aliased:
        draw.fontmode = "1"
    draw.text((-left, -top), ch, font=font, fill=255, anchor="ls")
    return np.asarray(image), left, top


def _draw_glyph_mask(font: ImageFont.FreeTypeFont, ch: str, aliased: bool
                     ) -> tuple[np.ndarray, int, int] | None:
    """The same pixels as :func:`_draw_glyph_imagedraw` from one ``font.getmask2`` call (the
    rasterization ``ImageDraw.text`` itself does), without the bounding-box pass and the drawing
    onto a second image: 38 us instead of 55 us a glyph (Noto Sans SC, 22-40 px, Pillow 13), and
    misses of this cache are about a quarter of gen-images' time. One difference: an aliased glyph
    gets the box of its own (aliased) rendering, where the ImageDraw path took the anti-aliased
    box and so cut a pixel row or column off some glyphs of hinted TrueType faces (144 of 1,200 WQY
    Zen Hei glyphs at 13-31 px; none in the bundled OpenType faces). Wrapping the returned core image
    uses Pillow's ``Image.Image()._new``, which is not public API: :data:`_draw_glyph` falls back to
    the public path where it is missing, and a test checks that both give the same pixels.
    """
    mask, (left, top) = font.getmask2(ch, "1" if aliased else "L", anchor="ls")
    width, height = mask.size
    if width == 0 or height == 0:
        return None
    coverage = np.asarray(Image.Image()._new(mask))
    if coverage.dtype == bool:  # a mode "1" mask: ImageDraw draws its set pixels with the ink (255)
        coverage = coverage.astype(np.uint8) * 255
    return coverage, left, top


_draw_glyph = _draw_glyph_mask if callable(getattr(Image.Image(), "_new", None)) else _draw_glyph_imagedraw


def _text_mask(text: str, face: FontFace, rng: np.random.Generator, config: SynthConfig) -> Image.Image:
    """Draw ``text`` as an ink-coverage mask (mode ``L``, 0 = paper, 255 = ink) cropped around the ink
    and the em box with random margins, with the per-char and stroke augmentations applied, at render
    size (not yet sheared, rotated or scaled to the height).

    Chars are placed one by one on whole pixels at the face's advance widths (plus the extra spacing),
    from per-process cached glyph bitmaps (:func:`_glyph`); where glyphs overlap, the larger coverage wins.
    """
    size = _integer(rng, config.font_size)
    spacing = _uniform(rng, config.spacing) * size if rng.random() < config.spacing_prob else 0.0
    aliased = bool(rng.random() < config.aliased_prob)
    sizes = [size] * len(text)
    offsets = [0.0] * len(text)
    if rng.random() < config.jitter_prob:
        for i in range(len(text)):
            sizes[i] = max(4, round(size * _uniform(rng, config.jitter_scale)))
            offsets[i] = _uniform(rng, (-config.jitter_offset, config.jitter_offset)) * size
    rises = [0.0] * len(text)
    if config.rise_prob > 0 and rng.random() < config.rise_prob:
        rises = [_uniform(rng, config.rise) for _ in text]
    center_punct = config.punct_center_prob > 0 and rng.random() < config.punct_center_prob
    em_middle = (_EM_DESCENT - _EM_ASCENT) / 2 * size  # y of the em box's middle, from the baseline

    path = str(face.render_path)  # a WOFF2 face renders from its decompressed copy
    placed = []  # (coverage, x, y) of every visible glyph, relative to the first pen position
    x = 0.0
    for ch, char_size, dy, slope in zip(text, sizes, offsets, rises, strict=True):
        if ch.isspace() and ord(ch) not in face.codepoints:
            # a space the face has no glyph for: never draw it, only leave a gap
            advance = float(size) if ch == "\u3000" else 0.3 * size
        else:
            coverage, left, top, advance = _glyph(path, face.index, char_size, aliased, ch)
            if coverage is not None:
                if slope > 0:
                    coverage, top = _rise(coverage, top, slope)
                if center_punct and ch in CORNER_PUNCT:
                    left, top = _centred_offsets(coverage, advance, em_middle)
                placed.append((coverage, round(x) + left, round(dy) + top))
        x += advance + spacing

    em_top = -_EM_ASCENT * size
    em_bottom = _EM_DESCENT * size
    if placed:
        left = min(gx for _, gx, _ in placed)
        right = max(gx + c.shape[1] for c, gx, _ in placed)
        top = min(min(gy for _, _, gy in placed), em_top)
        bottom = max(max(gy + c.shape[0] for c, _, gy in placed), em_bottom)
    else:  # nothing visible (e.g. zero-width chars): keep the advance box
        left, right, top, bottom = 0, math.ceil(x - spacing), em_top, em_bottom
    ml, mr = (_uniform(rng, config.margin_x) * size for _ in range(2))
    mt, mb = (_uniform(rng, config.margin_y) * size for _ in range(2))
    x0, y0 = math.floor(left - ml), math.floor(top - mt)
    canvas = np.zeros((math.ceil(bottom + mb) - y0, max(1, math.ceil(right + mr) - x0)), dtype=np.uint8)
    for coverage, gx, gy in placed:
        h, w = coverage.shape
        region = canvas[gy - y0:gy - y0 + h, gx - x0:gx - x0 + w]
        np.maximum(region, coverage, out=region)
    line = Image.fromarray(canvas)
    if config.warp_prob > 0 and rng.random() < config.warp_prob:
        line = _warp(line, size * _uniform(rng, config.warp), size / 3, rng)
    if rng.random() < config.stroke_prob:
        thinner = rng.random() < 0.5 and size >= 36
        line = line.filter(ImageFilter.MinFilter(3) if thinner else ImageFilter.MaxFilter(3))
    return line


def _centred_offsets(coverage: np.ndarray, advance: float, em_middle: float) -> tuple[int, int]:
    """Offsets (left, top) from the pen position, px, that put the middle of a glyph's ink (uint8
    coverage, h x w; the bitmap may hold blank rows or columns) at the middle of its advance and at
    ``em_middle`` (px from the baseline, negative = up)."""
    rows, cols = np.flatnonzero(coverage.max(axis=1)), np.flatnonzero(coverage.max(axis=0))
    if not rows.size:
        return 0, round(em_middle)
    return (round(advance / 2 - (cols[0] + cols[-1] + 1) / 2),
            round(em_middle - (rows[0] + rows[-1] + 1) / 2))


def _rise(coverage: np.ndarray, top: int, slope: float) -> tuple[np.ndarray, int]:
    """Shear a glyph's coverage (uint8, h x w) vertically: column ``x`` moves up by
    ``slope * (x - w / 2)`` px (the right side up, the left side down, the middle column stays).
    Returns the taller coverage (h + ceil(slope * w) rows, nothing cut) and its new top offset.
    """
    h, w = coverage.shape
    extra = math.ceil(slope * w)
    # Output px (x, y) samples input px (x, y - slope * (w - x)): the last column keeps its rows
    # (shifted by the new top), the first moves down by slope * w.
    data = (1.0, 0.0, 0.0, slope, 1.0, -slope * w)
    sheared = Image.fromarray(coverage).transform((w, h + extra), Image.Transform.AFFINE, data,
                                                  resample=Image.Resampling.BILINEAR, fillcolor=0)
    return np.asarray(sheared), top - round(slope * w / 2)


def _warp(mask: Image.Image, sigma: float, cell: float, rng: np.random.Generator) -> Image.Image:
    """Warp a mask smoothly: grid points ``cell`` px apart (about; the grid spans the mask exactly)
    move by gaussian displacements of standard deviation ``sigma`` px, clipped to ``0.4 * cell`` so
    neighbouring cells never fold; points on the left and right edges move only vertically, on the
    top and bottom edges only horizontally (the corners stay), so nothing is pushed out of the mask.
    Each output cell is resampled bilinearly from its displaced quadrilateral. Same size and mode.
    """
    w, h = mask.size
    xs = np.round(np.linspace(0, w, max(1, round(w / cell)) + 1)).astype(int)
    ys = np.round(np.linspace(0, h, max(1, round(h / cell)) + 1)).astype(int)
    limit = 0.4 * min(cell, w, h)
    dx, dy = (np.clip(rng.normal(0.0, sigma, (len(ys), len(xs))), -limit, limit) for _ in range(2))
    dx[:, [0, -1]] = 0.0
    dy[[0, -1], :] = 0.0
    sx, sy = xs[None, :] + dx, ys[:, None] + dy
    mesh = []
    for j in range(len(ys) - 1):
        for i in range(len(xs) - 1):
            # Source quadrilateral corners in Pillow's order: upper left, lower left, lower right,
            # upper right.
            quad = (sx[j, i], sy[j, i], sx[j + 1, i], sy[j + 1, i],
                    sx[j + 1, i + 1], sy[j + 1, i + 1], sx[j, i + 1], sy[j, i + 1])
            box = (int(xs[i]), int(ys[j]), int(xs[i + 1]), int(ys[j + 1]))
            mesh.append((box, tuple(float(v) for v in quad)))
    return mask.transform((w, h), Image.Transform.MESH, mesh, resample=Image.Resampling.BILINEAR,
                          fillcolor=0)


def _fit_height(line: Image.Image, height: int, stretch: float, slope: float, angle: float) -> Image.Image:
    """Scale a mask to ``height`` px (width times ``stretch``), after an italic-like horizontal shear
    (the top row moves ``slope * height`` px right of the bottom row, left for a negative slope) and a
    counter-clockwise rotation by ``angle`` degrees. The canvas grows so no corner is cut; new area is
    paper (0). Shear, rotation and scaling are one affine resampling at output size (cost grows with
    the output pixels, not with the render size); without shear and rotation it is a plain resize.
    """
    w, h = line.size
    if slope == 0.0 and angle == 0.0:
        width = max(1, round(w * height / h * stretch))
        return line.resize((width, height), resample=Image.Resampling.BICUBIC)
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    # Input px -> sheared and rotated px: [[p, q], [r, t]] = rotation @ [[1, -slope], [0, 1]].
    p, q, r, t = cos, sin - slope * cos, -sin, cos + slope * sin
    xs = [p * cx + q * cy for cx, cy in ((0, 0), (w, 0), (0, h), (w, h))]
    ys = [r * cx + t * cy for cx, cy in ((0, 0), (w, 0), (0, h), (w, h))]
    scale_y = height / (max(ys) - min(ys))
    width = max(1, round((max(xs) - min(xs)) * scale_y * stretch))
    scale_x = width / (max(xs) - min(xs))
    # Image.transform maps each output px (x, y) to the input px (a x + b y + c, d x + e y + f):
    # input = forward^-1 @ (output / scale + low corner).
    det = p * t - q * r
    ip, iq, ir, it = t / det, -q / det, -r / det, p / det
    lx, ly = min(xs), min(ys)
    data = (ip / scale_x, iq / scale_y, ip * lx + iq * ly, ir / scale_x, it / scale_y, ir * lx + it * ly)
    # Bilinear: 2.5x faster than bicubic here (measured in Pillow 13), and the scale is 0.6..1.5.
    return line.transform((width, height), Image.Transform.AFFINE, data,
                          resample=Image.Resampling.BILINEAR, fillcolor=0)


def render_line(text: str, face: FontFace, rng: np.random.Generator, config: SynthConfig) -> Image.Image:
    """Render one text line as a grey image.

    The text is drawn char by char with Pillow's FreeType rasterizer (``getmask2``, what
    ``ImageDraw.text`` uses) at the face's advance widths plus a random extra spacing, as a coverage
    mask; the mask is cropped around the real ink and the CJK em
    box (so no glyph, descender or low punctuation such as ``，。`` is clipped) with random margins,
    possibly drawn without anti-aliasing, with per-char jitter, a changed stroke weight, sheared and
    rotated (the canvas grows, so no corner is cut or filled with black), scaled to ``config.height``
    (aspect ratio kept, times a horizontal ``stretch``), possibly blurred, composed as ink over a paper
    background (possibly shaded), possibly shrunk and scaled back (low resolution), with possible
    gaussian noise. Every random choice is drawn from
    ``rng``, in a fixed order, so the same generator state gives the same pixels.

    Args:
        text: the text; must hold at least one non-whitespace char, all covered by ``face``.
        face: the font face (opened with Pillow once per process and size, then cached).
        rng: the random generator; it is advanced.
        config: ranges and probabilities of the augmentations.

    Returns:
        A mode ``"L"`` image of height ``config.height`` px, width proportional to the rendered text
        (at least 1 px), dark ink on light paper.

    Raises:
        ValueError: if ``text`` is empty or whitespace only, or ``face`` lacks a glyph of ``text`` (it
            is never drawn as a tofu box).
    """
    if not text.strip():
        raise ValueError(f"render_line needs a text with a visible char, got {text!r}")
    missing = face.missing(text)
    if missing:
        raise ValueError(
            f"font {face.name} ({face.path}:{face.index}) has no glyph for {''.join(missing)!r} in {text!r}"
        )
    line = _text_mask(text, face, rng, config)
    slope = angle = 0.0
    if rng.random() < config.shear_prob and config.max_shear > 0:
        slope = _uniform(rng, (-config.max_shear, config.max_shear))
    if rng.random() < config.rotation_prob and config.max_rotation > 0:
        angle = _uniform(rng, (-config.max_rotation, config.max_rotation))
    height = config.height
    stretch = _uniform(rng, config.stretch) if config.stretch != (1.0, 1.0) else 1.0
    line = _fit_height(line, height, stretch, slope, angle)
    width = line.width
    if rng.random() < config.blur_prob:
        line = line.filter(ImageFilter.GaussianBlur(_uniform(rng, config.blur_radius)))

    paper = float(_integer(rng, config.paper))
    ink = float(_integer(rng, config.ink))
    coverage = np.asarray(line, dtype=np.float32)
    coverage *= 1.0 / 255.0
    if rng.random() < config.gradient_prob:
        depth = _uniform(rng, config.gradient_depth)
        angle = _uniform(rng, (0.0, 2 * math.pi))
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = xs * math.cos(angle) + ys * math.sin(angle)
        span = float(ramp.max() - ramp.min())
        background = np.full((height, width), paper, dtype=np.float32)
        if span > 0:
            background -= depth * (ramp - ramp.min()) / span
        pixels = background + coverage * (ink - background)
    else:  # paper + coverage * (ink - paper), in place
        pixels = coverage
        pixels *= ink - paper
        pixels += paper
    if rng.random() < config.downscale_prob:
        factor = _uniform(rng, config.downscale)
        small = (max(1, round(width * factor)), max(1, round(height * factor)))
        back = Image.Resampling.NEAREST if rng.random() < 0.3 else Image.Resampling.BILINEAR
        low = Image.fromarray(pixels.astype(np.float32)).resize(small, Image.Resampling.BOX)
        pixels = np.array(low.resize((width, height), back), dtype=np.float32)
    if rng.random() < config.noise_prob:
        noise = rng.standard_normal(pixels.shape, dtype=np.float32)
        noise *= _uniform(rng, config.noise_sigma)
        pixels += noise
    np.rint(pixels, out=pixels)
    np.clip(pixels, 0, 255, out=pixels)
    return Image.fromarray(pixels.astype(np.uint8))


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """Encode a grey (mode ``L``) image as a baseline JPEG at ``quality`` (1..100, the libjpeg scale
    Pillow uses too) with simplejpeg (libjpeg-turbo): 40 us against 70 us for Pillow's ``save`` of a
    32 x 150-400 px line, most of the difference being ``save``'s per-call Python overhead.
    """
    pixels = np.asarray(image)[:, :, None]
    return simplejpeg.encode_jpeg(pixels, quality=quality, colorspace="GRAY")


def image_relpath(index: int, image_format: str) -> str:
    """Return the path of image ``index`` relative to the output dir, ``images/0000/00000012.jpg``."""
    return f"images/{index // 1000:04d}/{index:08d}.{image_format}"


class _Result(NamedTuple):
    image: int  # the image index
    text: str | None  # None: no coverable text was found
    rejected: tuple[tuple[str, str], ...]  # (text, reason) for each rejected draw


class _Worker:
    """Per-process state: the text units, the faces and where to write. Built once per process."""

    def __init__(
        self,
        units: Sequence[str],
        faces: Sequence[FontFace],
        config: SynthConfig,
        seed: int,
        output_dir: Path,
    ) -> None:
        self.units = list(units)
        self.cumulative = np.cumsum([len(u) for u in self.units], dtype=np.int64)
        self.occurrences: np.ndarray | None = None
        if config.balance > 0:
            # Corpus positions grouped by char: occurrences[starts[k]:starts[k + 1]] are the positions
            # of the k-th distinct non-space char.
            codes = np.frombuffer("".join(self.units).encode("utf-32-le"), dtype=np.uint32)
            order = np.argsort(codes, kind="stable")
            sorted_codes = codes[order]
            keep = sorted_codes != ord(" ")
            order, sorted_codes = order[keep], sorted_codes[keep]
            _, starts = np.unique(sorted_codes, return_index=True)
            self.occurrences = order.astype(np.int64)
            self.starts = np.append(starts, len(order)).astype(np.int64)
        self.faces = list(faces)
        self.sampler = FaceSampler(self.faces)  # style-balanced choice among the covering faces
        self.config = config
        self.seed = seed
        self.output_dir = Path(output_dir)
        self.made_dirs: set[Path] = set()

    def sample_text(self, rng: np.random.Generator) -> str:
        """Draw a segment: a position in the corpus, a length uniform in [min_chars, max_chars] (the
        whole unit if it is not longer) and a start such that the segment holds the position; the
        segment's ends are stripped.

        The position is uniform over the corpus (so chars follow the corpus frequencies), or, with
        probability ``config.balance``, a uniformly drawn occurrence of a char drawn uniformly from
        the distinct chars (char-frequency-balanced sampling)."""
        if self.occurrences is not None and rng.random() < self.config.balance:
            k = int(rng.integers(len(self.starts) - 1))
            position = int(self.occurrences[int(rng.integers(self.starts[k], self.starts[k + 1]))])
        else:
            position = int(rng.integers(int(self.cumulative[-1])))
        u = int(np.searchsorted(self.cumulative, position, side="right"))
        unit = self.units[u]
        offset = position - (int(self.cumulative[u - 1]) if u else 0)
        length = _integer(rng, (self.config.min_chars, self.config.max_chars))
        if len(unit) <= length:
            return unit
        lo, hi = max(0, offset - length + 1), min(offset, len(unit) - length)
        start = int(rng.integers(lo, hi + 1))
        return unit[start : start + length].strip()

    def reason(self, text: str) -> str:
        for ch in text:
            if not ch.isspace() and not any(ord(ch) in f.codepoints for f in self.faces):
                return f"no font covers char {ch} (U+{ord(ch):04X})"
        return "no single font covers all chars"

    def make(self, index: int) -> _Result:
        config = self.config
        rng = np.random.default_rng([self.seed, index])
        rejected: list[tuple[str, str]] = []
        for _ in range(config.max_text_draws):
            text = self.sample_text(rng)
            if config.question_prob > 0 and "。" in text and rng.random() < config.question_prob:
                text = text.replace("。", "？")
            face = self.sampler.choose(text, rng)
            if face is None:
                rejected.append((text, self.reason(text)))
                continue
            image = render_line(text, face, rng, config)
            path = self.output_dir / image_relpath(index, config.image_format)
            if path.parent not in self.made_dirs:  # one mkdir per folder of 1,000, not per image
                path.parent.mkdir(parents=True, exist_ok=True)
                self.made_dirs.add(path.parent)
            if config.image_format == "jpg":
                path.write_bytes(encode_jpeg(image, _integer(rng, config.jpeg_quality)))
            else:
                image.save(path, format="PNG")
            return _Result(index, text, tuple(rejected))
        return _Result(index, None, tuple(rejected))


_WORKER: _Worker | None = None


def _init_worker(setup: Any) -> None:
    """Pool initializer: block until the parent sends the pickled :class:`_Worker` arguments."""
    global _WORKER
    _WORKER = _Worker(*pickle.loads(setup.get()))


def _run_chunk(indices: range) -> list[_Result]:
    if _WORKER is None:  # pragma: no cover - only if the pool initializer did not run
        raise RuntimeError("synth worker used before _init_worker")
    return [_WORKER.make(i) for i in indices]


def _chunk_ranges(owned: range, workers: int, sizes: tuple[int, int] = _CHUNK_RANGE) -> list[range]:
    """Split ``owned`` into the tasks of :class:`_RenderPool`, largest first (guided scheduling):
    each chunk is a ``1 / (2 * workers)`` share of the images still unassigned, clipped to
    ``sizes`` (smallest, largest). Few large tasks keep the pool's per-task cost low (the parent
    wakes up, unpickles and hands over every result: ~1 ms of its CPU per task, taken from the
    workers on a 2-core machine); the small ones at the end keep the workers finishing together.
    The largest size also bounds how long the progress bar waits between updates."""
    smallest, largest = sizes
    chunks, start = [], owned.start
    while start < owned.stop:
        remaining = owned.stop - start
        size = min(remaining, max(smallest, min(largest, remaining // (2 * workers))))
        chunks.append(range(start, start + size))
        start += size
    return chunks


class _RenderPool:
    """Renders chunks of image indices, in this process (``processes == 1``) or in a ``spawn`` pool.

    The pool is started when the object is made, before :func:`gen_images` reads the corpus and the
    fonts, so that the workers' start-up (a new Python process and its imports, ~0.2 s each) runs
    while the parent reads; :meth:`render` then sends each worker the render state (text units,
    faces, config: ~5 MB pickled for the bundled corpus) once, through a queue. Passing that state
    as the pool initializer's arguments instead made the pool wait for the corpus and start its
    workers one after the other (the parent blocks writing each one's arguments into its pipe):
    ~1 s before both rendered, 10% of a 40,000-image 2-worker run (tools/benchmark.py).

    Use as a context manager: leaving it terminates the pool, also when reading the inputs raised.

    Raises:
        RuntimeError: from :func:`_check_spawnable` when ``processes > 1``.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool = None
        if processes > 1:
            _check_spawnable()
            context = multiprocessing.get_context("spawn")
            self._setup = context.Queue()
            self._setup.cancel_join_thread()  # never hang at exit on state no worker took
            self._pool = context.Pool(processes, _init_worker, (self._setup,))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._setup.close()
            # Drop them now: a traceback that keeps gen_images' frame alive would keep the queue's
            # semaphores until interpreter exit (a resource_tracker "leaked semaphore" warning).
            self._pool = self._setup = None

    def render(self, worker_args: tuple, chunks: Sequence[range], bar: tqdm) -> list[_Result]:
        """Render every index of ``chunks`` with a :class:`_Worker` built from ``worker_args``;
        results in completion order, ``bar`` advanced per chunk."""
        results: list[_Result] = []
        if self._pool is None:
            local = _Worker(*worker_args)
            for indices in chunks:
                results.extend(local.make(i) for i in indices)
                bar.update(len(indices))
            return results
        payload = pickle.dumps(worker_args, protocol=pickle.HIGHEST_PROTOCOL)
        for _ in range(self.processes):
            self._setup.put(payload)
        for part in self._pool.imap_unordered(_run_chunk, chunks):
            results.extend(part)
            bar.update(len(part))
        return results


def _check_spawnable() -> None:
    """Raise if 'spawn' workers cannot start: they re-import the parent's ``__main__`` from its file,
    and a script read from stdin has none (the pool would then restart failing workers forever)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file is not None and not os.path.exists(main_file):
        raise RuntimeError(
            f"workers > 1 cannot start from a __main__ without a file ({main_file!r}, e.g. a script "
            f"piped to python); run it from a .py file or use workers=1"
        )


def _write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _uncovered_message(
    uncovered: Sequence[str], counts: Counter[str], corpora: Sequence[Path], faces: Sequence[FontFace]
) -> str:
    """The error for chars in no font: each (up to 5) with its count and first corpus file:line."""
    where = first_occurrences(corpora, uncovered[:5])
    lines = []
    for ch in uncovered[:5]:
        path, line_no, line = where.get(ch, (Path("?"), 0, ""))
        lines.append(
            f"{path}:{line_no}: char {ch!r} (U+{ord(ch):04X}, {counts[ch]} occurrences) in {line[:40]!r}"
        )
    more = f"\n  ... and {len(uncovered) - 5} more chars" if len(uncovered) > 5 else ""
    fonts = ", ".join(f.spec for f in faces)
    return (
        f"{len(uncovered)} corpus char(s) are in none of the fonts ({fonts}), so texts holding them "
        f"cannot be drawn:\n  " + "\n  ".join(lines) + more + "\nAdd a font that has them, or pass "
        "--skip-bad to skip such texts (they are counted in the summary)"
    )


def _prepare_output(output_dir: Path, overwrite: bool) -> None:
    owned = [
        output_dir / "Train" / "sample.txt",
        output_dir / "Test" / "sample.txt",
        output_dir / "gen_config.json",
    ]
    images = output_dir / "images"
    existing = [p for p in owned if p.exists()]
    for folder in (images, output_dir / SHARDS_DIR):
        if folder.exists() and any(folder.iterdir()):
            existing.append(folder)
    if existing and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds gen-images output ({', '.join(map(str, existing))}); "
            f"choose another directory or pass overwrite=True"
        )
    # gen_config.json (written last) marks a complete run: remove it first, then the lists, so that an
    # interrupted overwrite never leaves a complete-looking directory with lists of deleted images.
    for path in owned[::-1]:
        path.unlink(missing_ok=True)
    for folder in (images, output_dir / SHARDS_DIR):
        if folder.exists():
            shutil.rmtree(folder)
    output_dir.mkdir(parents=True, exist_ok=True)


def _label_face(label: str, faces: Sequence[FontFace]) -> FontFace | None:
    return next((f for f in faces if f.covers(label)), None)


def _write_preview(
    output_dir: Path, written: Sequence[tuple[int, str]], faces: Sequence[FontFace], image_format: str
) -> Path:
    """Contact sheet of the first images (as saved) with each label drawn beneath in a covering face."""
    items = list(written[:_PREVIEW_COUNT])
    tiles = []
    for index, _ in items:
        with Image.open(output_dir / image_relpath(index, image_format)) as im:
            tile = im.convert("L")
        if tile.width > _PREVIEW_MAX_WIDTH:
            height = max(1, round(tile.height * _PREVIEW_MAX_WIDTH / tile.width))
            tile = tile.resize((_PREVIEW_MAX_WIDTH, height))
        tiles.append(tile)
    number_font = ImageFont.load_default(size=12)
    cell_w = max([t.width for t in tiles] + [240]) + 16
    cell_h = max([t.height for t in tiles] + [32]) + _PREVIEW_LABEL_PX + 22
    rows = max(1, math.ceil(len(tiles) / _PREVIEW_COLUMNS))
    sheet = Image.new("L", (cell_w * _PREVIEW_COLUMNS, cell_h * rows), 255)
    draw = ImageDraw.Draw(sheet)
    for k, ((index, label), tile) in enumerate(zip(items, tiles, strict=True)):
        x0 = (k % _PREVIEW_COLUMNS) * cell_w + 8
        y0 = (k // _PREVIEW_COLUMNS) * cell_h + 6
        sheet.paste(tile, (x0, y0))
        y_label = y0 + tile.height + 4
        draw.text((x0, y_label + 2), f"{index}", font=number_font, fill=110)
        face = _label_face(label, faces)
        if face is not None:
            font = _truetype(str(face.render_path), face.index, _PREVIEW_LABEL_PX)
            draw.text((x0 + 60, y_label), label, font=font, fill=0)
    path = output_dir / "preview.png"
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    _write_atomic(path, buffer.getvalue())
    return path


def shard_range(num_images: int, shard_index: int, num_shards: int) -> range:
    """Image indices of shard ``shard_index`` of ``num_shards``: the contiguous block
    ``[num_images * I // N, num_images * (I + 1) // N)``. The blocks of ``I = 0..N-1`` cover
    ``range(num_images)`` once, in order, and differ in size by at most one.

    Raises:
        TypeError: if either is not an int.
        ValueError: unless ``num_shards >= 1`` and ``0 <= shard_index < num_shards``.
    """
    check_shard(shard_index, num_shards)
    return range(num_images * shard_index // num_shards, num_images * (shard_index + 1) // num_shards)


def shard_dir(output_dir: str | os.PathLike[str], shard_index: int, num_shards: int) -> Path:
    """Where shard ``I`` of ``N`` writes its lists: ``<output_dir>/shards/<IIIII>-of-<NNNNN>``."""
    return Path(output_dir) / SHARDS_DIR / shard_name(shard_index, num_shards)


def _write_lists(target: Path, rows: dict[str, list[str]], chars: Sequence[str]) -> None:
    for split, lines in rows.items():
        _write_atomic(target / split / "sample.txt", "".join(lines))
    _write_atomic(target / "chinese.txt", "".join(f"{ch}\n" for ch in chars))


def _prepare_shard_output(output_dir: Path, shard_index: int, num_shards: int, overwrite: bool) -> Path:
    target = shard_dir(output_dir, shard_index, num_shards)
    existing = [p for p in (target, output_dir / "gen_config.json") if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds gen-images output ({', '.join(map(str, existing))}); "
            f"choose another directory or pass overwrite=True"
        )
    if overwrite:  # this shard's lists, and those of runs with another N
        for old in (output_dir / SHARDS_DIR).glob("*-of-*"):
            if old == target or not old.name.endswith(f"-of-{num_shards:05d}"):
                shutil.rmtree(old)
    target.mkdir(parents=True)
    return target


def _read_render_inputs(
    corpora: Sequence[Path], font_specs: Sequence[str | os.PathLike[str] | FontFace], config: SynthConfig,
    skip_bad: bool,
) -> tuple[list[str], list[str], list[FontFace]]:
    """Read the corpus lines, cut their text units and load the faces for :func:`gen_images`;
    check that the faces cover the units' chars (error, or a warning with ``skip_bad``).

    Returns:
        ``(lines, units, faces)``.

    Raises:
        CorpusError, FontError, FileNotFoundError: as documented in :func:`gen_images`.
    """
    lines: list[str] = []
    for path in corpora:
        lines.extend(read_corpus(path))
    units = text_units(lines, config)
    if not units:
        what = f" made of the {config.top_chars} most frequent chars" if config.top_chars else ""
        raise CorpusError(
            f"no corpus text{what} has at least min_chars={config.min_chars} chars in "
            f"{', '.join(map(str, corpora))}"
        )
    faces = [s if isinstance(s, FontFace) else load_font(s) for s in font_specs]
    if not faces:  # pragma: no cover - gen_images refuses an empty font_specs first
        raise FontError("no font given")
    covered = frozenset().union(*(f.codepoints for f in faces))
    # A set of the distinct chars is ~10x cheaper than counting them (0.13 s for the bundled
    # corpus); the counts are needed only for the message when some char is in no font.
    uncovered = [c for c in set("".join(units)) if not c.isspace() and ord(c) not in covered]
    if uncovered:
        unit_chars = char_frequencies(units)
        uncovered.sort(key=lambda c: (-unit_chars[c], c))
    if uncovered and not skip_bad:
        raise FontError(_uncovered_message(uncovered, unit_chars, corpora, faces))
    if uncovered:
        share = sum(unit_chars[c] for c in uncovered) / max(1, sum(unit_chars.values()))
        logger.warning(
            "%d of %d corpus chars (%.2f%% of occurrences) are in no font; texts holding them are "
            "redrawn. Most frequent: %s",
            len(uncovered),
            len(unit_chars),
            100 * share,
            "".join(uncovered[:20]),
        )
    return lines, units, faces


def gen_images(
    corpus_paths: Sequence[str | os.PathLike[str]],
    font_specs: Sequence[str | os.PathLike[str] | FontFace],
    output_dir: str | os.PathLike[str],
    num_images: int,
    seed: int = 0,
    workers: int = 1,
    config: SynthConfig = SynthConfig(),
    progress: bool = True,
    *,
    overwrite: bool = False,
    skip_bad: bool = False,
    shard_index: int = 0,
    num_shards: int = 1,
) -> GenSummary:
    """Render ``num_images`` text-line images from the corpora with the fonts, and write the lists.

    Image ``i`` uses ``numpy.random.default_rng([seed, i])`` for its text, its face and its rendering,
    so the same arguments give byte-identical files whatever ``workers`` is. A drawn text that no single
    face fully covers is rejected, counted under its reason (the first char no face covers, or
    ``no single font covers all chars``) and replaced by another draw from the same generator, up to
    ``config.max_text_draws`` draws; an image that never finds one is left out (``num_failed``). A text
    is never rendered with a face that lacks one of its glyphs. The text goes to ``Test/`` iff
    :func:`is_test_text`. See the module docstring for the files written; ``sample.txt``,
    ``chinese.txt``, ``preview.png`` and ``gen_config.json`` are written atomically, the last one last.

    Args:
        corpus_paths: corpus files (:func:`toolkit.corpus.read_corpus` formats); their lines are pooled.
        font_specs: font specs (``PATH`` or ``PATH:INDEX``, see :func:`toolkit.fonts.load_font`), or
            faces already loaded (e.g. by :func:`toolkit.fonts.load_font_dir`, with their styles).
            Each image's face is drawn among those covering its text by
            :class:`toolkit.fonts.FaceSampler`: every style gets an equal share.
        output_dir: output directory, created if needed.
        num_images: number of image indices to generate (>= 1).
        seed: non-negative integer seed.
        workers: number of processes (>= 1); 1 renders in this process, more use a ``spawn`` pool,
            started before the corpus and fonts are read, whose workers receive them once
            (:class:`_RenderPool`). As with any spawn pool, a calling script must guard its top
            level with ``if __name__ == "__main__":``.
        config: the :class:`SynthConfig`.
        progress: show a tqdm progress bar over images.
        overwrite: replace an earlier run's output in ``output_dir`` (its ``gen_config.json``, lists and
            ``images/`` folder are deleted first, so a run that dies never leaves the old lists
            pointing at deleted images); otherwise such output is an error. For a shard: replace that
            shard's lists (``images/`` is shared and kept; the shard's images are rewritten).
        skip_bad: when a corpus text holds a char that no font has a glyph for, skip such texts
            (counted and reported in the summary) instead of stopping before anything is rendered.
        shard_index, num_shards: render only shard ``shard_index`` of ``num_shards`` (the indices
            of :func:`shard_range`) and write its lists under :func:`shard_dir`; merge the shards
            with :func:`merge_gen_shards`. ``num_shards=1`` is an ordinary run.

    Returns:
        The :class:`GenSummary` (also logged at INFO); for a shard, of that shard's images.

    Raises:
        ValueError: for a bad ``num_images``, ``seed``, ``workers``, ``shard_index`` or
            ``num_shards``, or no corpus / font given.
        CorpusError: if a corpus cannot be read, or no text unit of at least ``min_chars`` chars exists.
        FontError: if a font spec cannot be loaded, or (without ``skip_bad``) a char of the corpus text
            is in none of the fonts; the message names the char, the corpus file and line of its first
            occurrence, and the fonts.
        FontError: also if no image at all could be written (every text drawn had a char no font covers).
        FileExistsError: if ``output_dir`` holds an earlier run's output and ``overwrite`` is False.
        RuntimeError: if ``workers > 1`` and the ``__main__`` module has no file to re-import (a
            script piped to ``python -``).
    """
    started = time.perf_counter()
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"num_images must be an integer >= 1, got {num_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    owned = shard_range(num_images, shard_index, num_shards)
    corpora = [Path(p) for p in corpus_paths]
    if not corpora:
        raise ValueError("corpus_paths is empty: give at least one corpus file")
    if not font_specs:
        raise ValueError("font_specs is empty: give at least one font")
    output_dir = Path(output_dir)

    chunks = _chunk_ranges(owned, workers)
    # Started before the inputs are read: the workers' start-up overlaps the reading (_RenderPool).
    with _RenderPool(max(1, min(workers, len(chunks)))) as pool:
        lines, units, faces = _read_render_inputs(corpora, font_specs, config, skip_bad)
        logger.info(
            "gen-images: %d images, seed %d, %d workers, %d text units from %d corpus lines, fonts: %s",
            num_images,
            seed,
            workers,
            len(units),
            len(lines),
            "; ".join(f"{f.name} ({f.spec})" for f in faces),
        )
        if num_shards == 1:
            _prepare_output(output_dir, overwrite)
            target = output_dir
        else:
            target = _prepare_shard_output(output_dir, shard_index, num_shards, overwrite)
            logger.info("shard %d of %d: images %d to %d", shard_index, num_shards, owned.start,
                        owned.stop - 1)

        worker_args = (units, faces, config, seed, output_dir)
        with tqdm(total=len(owned), unit="img", desc="gen-images", disable=not progress) as bar:
            results = pool.render(worker_args, chunks, bar)
    results.sort(key=lambda r: r.image)
    if not any(r.text is not None for r in results):
        reasons = Counter(reason for r in results for _, reason in r.rejected)
        raise FontError(
            f"gen-images wrote no image: all {num_images} images failed to find a text that one font "
            f"covers; most frequent reasons: {dict(reasons.most_common(3))}"
        )

    skipped: Counter[str] = Counter()
    examples: list[str] = []
    written: list[tuple[int, str]] = []
    for result in results:
        for text, reason in result.rejected:
            skipped[reason] += 1
            if len(examples) < 5:
                examples.append(text)
        if result.text is not None:
            written.append((result.image, result.text))

    splits: dict[str, list[str]] = {"Train": [], "Test": []}
    for index, text in written:
        split = "Test" if is_test_text(text, config.test_fraction) else "Train"
        splits[split].append(f"{image_relpath(index, config.image_format)} {text}\n")
    chars = sorted({ch for _, text in written for ch in text if not ch.isspace()})
    _write_lists(target, splits, chars)
    if written and num_shards == 1:
        _write_preview(output_dir, written, faces, config.image_format)

    summary = GenSummary(
        num_requested=len(owned),
        num_train=len(splits["Train"]),
        num_test=len(splits["Test"]),
        num_failed=len(owned) - len(written),
        skipped=dict(sorted(skipped.items())),
        skipped_examples=examples,
        chars_used=len(chars),
        output_dir=output_dir,
        seconds=time.perf_counter() - started,
    )
    gen_config = {
        "format_version": GEN_CONFIG_FORMAT_VERSION,
        "seed": seed,
        "num_images": num_images,
        "corpus_paths": [str(p.resolve()) for p in corpora],
        "fonts": [
            {
                "path": str(f.path.resolve()),
                "index": f.index,
                "name": f.name,
                "num_codepoints": len(f.codepoints),
                "style": f.style,
            }
            for f in faces
        ],
        "config": config.to_dict(),
        "counts": {
            "train": summary.num_train,
            "test": summary.num_test,
            "failed": summary.num_failed,
            "skipped_texts": summary.skipped,
            "corpus_lines": len(lines),
            "text_units": len(units),
        },
        "chars_used": summary.chars_used,
    }
    if num_shards > 1:
        gen_config.update({
            "shard": {"index": shard_index, "count": num_shards, "start": owned.start,
                      "stop": owned.stop},
            "skipped_examples": examples,
            "first_written": written[:_PREVIEW_COUNT],
            "seconds": summary.seconds,
        })
    _write_atomic(target / "gen_config.json", json.dumps(gen_config, ensure_ascii=False, indent=2) + "\n")
    logger.info("%s", summary.format())
    return summary


def merge_gen_shards(output_dir: str | os.PathLike[str]) -> GenSummary:
    """Combine the shards written by ``gen_images(..., shard_index=I, num_shards=N)`` into the files
    of an ordinary run: ``Train/sample.txt`` and ``Test/sample.txt`` (lines in image order),
    ``chinese.txt`` (the union of the chars, by code point), ``preview.png`` and ``gen_config.json``
    (counts summed, ``"shards": N`` added; written last). The shard lists are kept.

    Returns:
        The :class:`GenSummary` of the whole set (``seconds``: the shards' wall times, summed).

    Raises:
        ValueError: if no shard is complete, a shard of ``0..N-1`` has no ``gen_config.json`` (not
            run, or not finished), shards of several ``N`` are present, or the shards were made with
            different arguments (seed, number of images, corpus, fonts or config; the message names
            the shard and the field).
    """
    output_dir = Path(output_dir)
    root = output_dir / SHARDS_DIR
    count, shards = find_shards(root.glob("*-of-*/gen_config.json"), root, "gen-images")
    confs = [json.loads(shards[i].read_text(encoding="utf-8")) for i in range(count)]
    first = confs[0]
    for i, conf in enumerate(confs):
        for key in ("seed", "num_images", "corpus_paths", "fonts", "config"):
            if conf.get(key) != first.get(key):
                raise ValueError(f"{shards[i]}: {key} {conf.get(key)!r} differs from shard 0's "
                                 f"{first.get(key)!r}; all shards must be run with the same arguments")
    rows: dict[str, list[str]] = {"Train": [], "Test": []}
    chars: set[str] = set()
    for i in range(count):
        d = shards[i].parent
        for split, lines in rows.items():
            text = (d / split / "sample.txt").read_text(encoding="utf-8")
            lines.extend(line + "\n" for line in text.splitlines())
        chars.update((d / "chinese.txt").read_text(encoding="utf-8").split())
    chars_sorted = sorted(chars)
    _write_lists(output_dir, rows, chars_sorted)

    skipped: Counter[str] = Counter()
    for conf in confs:
        skipped.update(conf["counts"]["skipped_texts"])
    examples = [t for conf in confs for t in conf["skipped_examples"]][:5]
    written = [(int(i), str(t)) for conf in confs for i, t in conf["first_written"]][:_PREVIEW_COUNT]
    if written:
        faces = []
        for font in first["fonts"]:
            try:
                faces.append(load_font(f"{font['path']}:{font['index']}"))
            except FontError as err:
                logger.warning("preview labels drawn without font %s: %s", font["path"], err)
        _write_preview(output_dir, written, faces, first["config"]["image_format"])

    def total(key: str) -> int:
        return sum(int(conf["counts"][key]) for conf in confs)

    summary = GenSummary(
        num_requested=int(first["num_images"]),
        num_train=total("train"),
        num_test=total("test"),
        num_failed=total("failed"),
        skipped=dict(sorted(skipped.items())),
        skipped_examples=examples,
        chars_used=len(chars_sorted),
        output_dir=output_dir,
        seconds=sum(float(conf["seconds"]) for conf in confs),
    )
    merged = {k: v for k, v in first.items() if k not in _SHARD_ONLY_KEYS}
    merged["counts"] = {**first["counts"], "train": summary.num_train, "test": summary.num_test,
                        "failed": summary.num_failed, "skipped_texts": summary.skipped}
    merged["chars_used"] = summary.chars_used
    merged["shards"] = count
    _write_atomic(output_dir / "gen_config.json", json.dumps(merged, ensure_ascii=False, indent=2) + "\n")
    logger.info("merged %d gen-images shards: %s", count, summary.format())
    return summary
