"""Configuration of the synthesis stage: :class:`SynthConfig`, the named presets of
``gen-images --augment`` (:data:`AUGMENT_PRESETS`), reading overrides from a JSON file, and the two
draws every inclusive ``(low, high)`` range of the config is sampled with."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.preprocess import HEIGHT

HALFWIDTH_PUNCT = {"，": ",", "。": ".", "：": ":", "；": ";", "！": "!", "？": "?", "（": "(", "）": ")",
                   "“": '"', "”": '"', "‘": "'", "’": "'"}
"""The full-width (and curly-quote) punctuation ``SynthConfig.halfwidth_punct_prob`` turns into
ASCII, and its ASCII form."""


def halfwidth_punct(text: str) -> str:
    """``text`` with every char of :data:`HALFWIDTH_PUNCT` replaced by its ASCII form."""
    return "".join(HALFWIDTH_PUNCT.get(c, c) for c in text)


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

    The real-world degradations (``neighbour_prob`` to ``jpeg_artifact_prob``, rendered by
    :mod:`toolkit.synth.degrade`) are off by default and on in the ``real`` preset; each draws random
    numbers only when its probability is > 0, so configs without them render the same pixels as
    before they existed.

    Attributes:
        height: height of every output image, pixels (default: the model input height,
            :data:`toolkit.preprocess.HEIGHT`); the width follows the text (aspect ratio kept).
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
        latin_face_prob: chance that a line's printable ASCII chars (letters, digits, ASCII
            punctuation; not the space) are drawn in a Latin text face instead of the line's
            Chinese face, as documents set Latin in Times, Arial or Courier beside SimSun. The face
            is drawn uniformly among the Latin faces gen-images was given (style ``latin``, the
            bundled ``fonts/latin/``); a char that face lacks stays in the Chinese face. Random
            numbers only when it is > 0 and a Latin face is given (older configs, same pixels).
        question_prob: chance that a text's full stops (``。``) all become question marks (``？``):
            the bundled corpus (Song ci) has one ``？`` in 1.67 M chars, while dialogue and prose
            have many (10% of the held-out Yuan qu lines end with one). ``？`` must then be in the
            char dict. Random numbers only when it is > 0 and the text holds a ``。``.
        halfwidth_punct_prob: chance that a text's full-width punctuation all becomes its ASCII
            form (:data:`HALFWIDTH_PUNCT`: ``，。：；！？（）“”‘’`` -> ``,.:;!?()""''``), labels too, as
            much technical and web Chinese is written: the corpora write full-width forms after
            hanzi, so without it a model reads an ASCII ``.`` or ``,`` after hanzi as ``。`` or
            ``，``. Applied after ``question_prob``. Random numbers only when it is > 0 and the text
            holds such a char.
        neighbour_prob, neighbour_gap, neighbour_visible: chance of fragments of the line above, below
            or both, cut by the crop edge; the gap between the lines (so the line pitch is
            ``1 + gap``) and how much of the fragment's ink height the crop shows at least, as
            fractions of the font size.
        underline_prob: chance of an underline below the text.
        rules_prob: chance of table rules around the text: a full box, or some of its four sides.
        line_width: thickness of underlines and rules, as a fraction of the font size (at least 1 px).
        screen_prob, screen_size: chance of a screenshot-like line: drawn at a small pixel size drawn
            from ``screen_size`` (px), hinted, unhinted or with RGB-stripe anti-aliasing, then
            resampled to ``height`` with nearest, bilinear or bicubic resampling (equal chances).
        perspective_prob, perspective: chance of a keystone perspective, and the range of how much
            shorter the far side gets (a fraction of the height).
        curve_prob, curve: chance of a curved baseline (an arc or an S), and its amplitude range as
            a fraction of the line's height.
        motion_blur_prob, motion_blur: chance of a motion blur, and its length range, output px
            (at most 4).
        texture_prob, texture: chance of a paper texture (smooth noise fields at several scales and
            fibres), and the range of its standard deviation, grey levels.
        quasicrystal_prob, quasicrystal, quasicrystal_period: chance of a quasicrystal-like pattern
            behind the text (a sum of plane waves), the range of its depth (grey levels darker than
            the paper) and of its wavelength (output px).
        colour_prob, paper_tint, ink_saturation: chance of tinted paper and colour ink, composed in
            RGB and converted to grey (BT.601 luma); the range of the tint's share and of the ink's
            saturation (both in [0, 1]). With textures, patterns or colours, every paper pixel stays
            at least 40 grey levels lighter than the ink.
        jpeg_artifact_prob, jpeg_artifact_quality: chance of a JPEG round trip of the grey line at a
            quality drawn from the range (1..100), before the dataset's own encoding
            (``jpeg_quality``): a crop cut from a compressed screenshot or photo.

    Raises:
        ValueError: from ``__post_init__``, naming the field and the value, for any out-of-range value.
    """

    height: int = HEIGHT
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
    latin_face_prob: float = 0.0
    question_prob: float = 0.0
    halfwidth_punct_prob: float = 0.0
    neighbour_prob: float = 0.0
    neighbour_gap: tuple[float, float] = (0.05, 0.35)
    neighbour_visible: tuple[float, float] = (0.05, 0.25)
    underline_prob: float = 0.0
    rules_prob: float = 0.0
    line_width: tuple[float, float] = (0.03, 0.08)
    screen_prob: float = 0.0
    screen_size: tuple[int, int] = (10, 18)
    perspective_prob: float = 0.0
    perspective: tuple[float, float] = (0.05, 0.25)
    curve_prob: float = 0.0
    curve: tuple[float, float] = (0.04, 0.12)
    motion_blur_prob: float = 0.0
    motion_blur: tuple[float, float] = (1.5, 4.0)
    texture_prob: float = 0.0
    texture: tuple[float, float] = (3.0, 12.0)
    quasicrystal_prob: float = 0.0
    quasicrystal: tuple[float, float] = (15.0, 60.0)
    quasicrystal_period: tuple[float, float] = (3.0, 24.0)
    colour_prob: float = 0.0
    paper_tint: tuple[float, float] = (0.05, 0.3)
    ink_saturation: tuple[float, float] = (0.3, 1.0)
    jpeg_artifact_prob: float = 0.0
    jpeg_artifact_quality: tuple[int, int] = (5, 35)

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
        number("latin_face_prob", self.latin_face_prob, 0.0, 1.0)
        number("question_prob", self.question_prob, 0.0, 1.0)
        number("halfwidth_punct_prob", self.halfwidth_punct_prob, 0.0, 1.0)
        number("neighbour_prob", self.neighbour_prob, 0.0, 1.0)
        pair("neighbour_gap", 0.0, 2.0)
        pair("neighbour_visible", 0.0, 1.0)
        number("underline_prob", self.underline_prob, 0.0, 1.0)
        number("rules_prob", self.rules_prob, 0.0, 1.0)
        pair("line_width", 0.0, 0.5)
        number("screen_prob", self.screen_prob, 0.0, 1.0)
        pair("screen_size", 6, 128, integers=True)
        number("perspective_prob", self.perspective_prob, 0.0, 1.0)
        pair("perspective", 0.0, 0.5)
        number("curve_prob", self.curve_prob, 0.0, 1.0)
        pair("curve", 0.0, 0.5)
        number("motion_blur_prob", self.motion_blur_prob, 0.0, 1.0)
        pair("motion_blur", 0.0, 4.0)
        number("texture_prob", self.texture_prob, 0.0, 1.0)
        pair("texture", 0.0, 64.0)
        number("quasicrystal_prob", self.quasicrystal_prob, 0.0, 1.0)
        pair("quasicrystal", 0.0, 128.0)
        pair("quasicrystal_period", 1.0, 256.0)
        number("colour_prob", self.colour_prob, 0.0, 1.0)
        pair("paper_tint", 0.0, 1.0)
        pair("ink_saturation", 0.0, 1.0)
        number("jpeg_artifact_prob", self.jpeg_artifact_prob, 0.0, 1.0)
        pair("jpeg_artifact_quality", 1, 100, integers=True)

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
# For crops of real documents and screenshots: the robust preset plus the degradations of
# toolkit.synth.degrade. On lines with noisy or textured paper (gaussian noise, quasicrystal patterns)
# the step-51,000 release model had CER 0.21 against Tesseract's 0.13; none of these effects were in
# its training data.
AUGMENT_PRESETS["real"] = {
    **AUGMENT_PRESETS["robust"],
    "jpeg_quality": (15, 95),
    "gradient_prob": 0.35,
    "noise_prob": 0.4,
    "neighbour_prob": 0.15,
    "underline_prob": 0.05,
    "rules_prob": 0.08,
    "screen_prob": 0.2,
    "perspective_prob": 0.15,
    "curve_prob": 0.1,
    "motion_blur_prob": 0.1,
    "texture_prob": 0.35,
    "quasicrystal_prob": 0.08,
    "colour_prob": 0.3,
    "jpeg_artifact_prob": 0.15,
}
"""Named :class:`SynthConfig` overrides for ``gen-images --augment``: ``basic`` (the defaults),
``robust`` (unseen fonts and renderings) and ``real`` (``robust`` plus the degradations of real crops)."""


class ConfigValueError(ValueError):
    """A ``--config`` file whose fields :class:`SynthConfig` rejects (the message names the file)."""


def resolve_config(preset: str = "basic", config_file: str | os.PathLike | None = None,
                   **overrides: Any) -> SynthConfig:
    """The :class:`SynthConfig` of ``gen-images``: the preset (:data:`AUGMENT_PRESETS`), then the
    fields of ``config_file`` (:func:`read_config_overrides`), then the ``overrides`` that are not
    ``None`` (the command's options).

    Raises:
        ValueError: for an unknown preset, a bad file (names it; see :func:`read_config_overrides`)
            or a bad override.
        ConfigValueError: if a value of the file is rejected (names the file).
    """
    if preset not in AUGMENT_PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; choose from {sorted(AUGMENT_PRESETS)}")
    config = SynthConfig(**AUGMENT_PRESETS[preset])
    if config_file is not None:
        from_file = read_config_overrides(config_file)  # its errors name the file
        try:
            config = dataclasses.replace(config, **from_file)
        except ValueError as e:  # a bad value
            raise ConfigValueError(f"{config_file}: {e}") from None
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def draw_uniform(rng: np.random.Generator, pair: tuple[float, float]) -> float:
    """A float drawn uniformly from the range ``pair = (low, high)`` with ``rng`` (one draw)."""
    return float(rng.uniform(pair[0], pair[1]))


def draw_integer(rng: np.random.Generator, pair: tuple[int, int]) -> int:
    """An int drawn uniformly from the inclusive range ``pair = (low, high)`` with ``rng`` (one draw)."""
    return int(rng.integers(pair[0], pair[1] + 1))
