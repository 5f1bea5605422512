"""Rendering of one text line: glyph bitmaps (cached per process), the ink mask of a line with its
per-char and stroke augmentations, glyph rises and mask warps, shear / rotation / scaling to the line
height, the paper and ink composition (:func:`render_line`) and JPEG encoding.

Everything random is drawn from the ``numpy.random.Generator`` passed in, in a fixed order, so the same
generator state gives the same pixels. No file is read or written here except the font files.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import simplejpeg
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from toolkit import preprocess
from toolkit.fonts import FontFace
from toolkit.synth import degrade
from toolkit.synth.config import SynthConfig, draw_integer, draw_uniform

# The ideographic em box of CJK fonts spans 0.88 em above the baseline and 0.12 em below it. The crop
# always holds this box (plus the real ink), so that every line, even "一一" or "。。", is scaled to the
# image height by the same factor instead of blowing small marks up to full height.
_EM_ASCENT = 0.88
_EM_DESCENT = 0.12
CORNER_PUNCT = frozenset("，。、．,.")
"""Punctuation that Simplified Chinese faces draw in a corner of the em box and Traditional Chinese
faces centre (see ``SynthConfig.punct_center_prob``)."""
LATIN_FACE_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))
"""The chars a Latin text face draws in a line (``SynthConfig.latin_face_prob``): printable ASCII
without the space (a space keeps the Chinese face's advance width)."""
_GLYPH_CACHE_SIZE = 20000  # glyph bitmaps kept per process (about 1-3 KB each)


@functools.lru_cache(maxsize=512)
def truetype(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    """Open a face at a size, once per process (the basic layout engine, for the same result
    everywhere: chars are placed one by one, so no shaping is needed)."""
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


@functools.lru_cache(maxsize=_GLYPH_CACHE_SIZE)
def glyph_bitmap(
    path: str, index: int, size: int, aliased: bool, ch: str
) -> tuple[np.ndarray | None, int, int, float]:
    """One char of a face at a size, rendered once per process and then reused (chars repeat: in the
    bundled corpus the 500 most frequent chars make most of the text).

    Returns:
        ``(coverage, left, top, advance)``: the glyph's ink coverage (uint8 array ``(height, width)``,
        0 = paper, 255 = ink; read-only, shared; None for a space or an empty glyph), its top-left
        corner relative to the pen position on the baseline (px, y down), and the advance width (px,
        fractional).
    """
    font = truetype(path, index, size)
    advance = font.getlength(ch)
    if ch.isspace():
        return None, 0, 0, advance
    drawn = draw_glyph(font, ch, aliased)
    if drawn is None:
        return None, 0, 0, advance
    coverage, left, top = drawn
    coverage.flags.writeable = False
    return coverage, left, top, advance


def draw_glyph_imagedraw(font: ImageFont.FreeTypeFont, ch: str, aliased: bool
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


def draw_glyph_mask(font: ImageFont.FreeTypeFont, ch: str, aliased: bool
                     ) -> tuple[np.ndarray, int, int] | None:
    """The same pixels as :func:`draw_glyph_imagedraw` from one ``font.getmask2`` call (the
    rasterization ``ImageDraw.text`` itself does), without the bounding-box pass and the drawing
    onto a second image: 38 us instead of 55 us a glyph (Noto Sans SC, 22-40 px, Pillow 13), and
    misses of this cache are about a quarter of gen-images' time. One difference: an aliased glyph
    gets the box of its own (aliased) rendering, where the ImageDraw path took the anti-aliased
    box and so cut a pixel row or column off some glyphs of hinted TrueType faces (144 of 1,200 WQY
    Zen Hei glyphs at 13-31 px; none in the bundled OpenType faces). Wrapping the returned core image
    uses Pillow's ``Image.Image()._new``, which is not public API: :data:`draw_glyph` falls back to
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


draw_glyph = draw_glyph_mask if callable(getattr(Image.Image(), "_new", None)) else draw_glyph_imagedraw


def text_mask(text: str, face: FontFace, rng: np.random.Generator, config: SynthConfig,
              size: int | None = None, latin_faces: Sequence[FontFace] = ()) -> Image.Image:
    """Draw ``text`` as an ink-coverage mask (mode ``L``, 0 = paper, 255 = ink) cropped around the ink
    and the em box with random margins, with the per-char and stroke augmentations and the layout
    decorations (neighbouring lines, underline, rules: :func:`toolkit.synth.degrade.decorate`)
    applied, at render size (not yet sheared, rotated or scaled to the height).

    Chars are placed one by one on whole pixels at the face's advance widths (plus the extra spacing),
    from per-process cached glyph bitmaps (:func:`glyph_bitmap`); where glyphs overlap, the larger coverage wins.
    The font size (px) is drawn from ``config.font_size`` unless ``size`` is given. With
    ``config.latin_face_prob`` and ``latin_faces``, the line's :data:`LATIN_FACE_CHARS` that a drawn
    Latin face covers are drawn in it, at the same size and on the same baseline.
    """
    if size is None:
        size = draw_integer(rng, config.font_size)
    spacing = draw_uniform(rng, config.spacing) * size if rng.random() < config.spacing_prob else 0.0
    aliased = bool(rng.random() < config.aliased_prob)
    sizes = [size] * len(text)
    offsets = [0.0] * len(text)
    if rng.random() < config.jitter_prob:
        for i in range(len(text)):
            sizes[i] = max(4, round(size * draw_uniform(rng, config.jitter_scale)))
            offsets[i] = draw_uniform(rng, (-config.jitter_offset, config.jitter_offset)) * size
    rises = [0.0] * len(text)
    if config.rise_prob > 0 and rng.random() < config.rise_prob:
        rises = [draw_uniform(rng, config.rise) for _ in text]
    center_punct = config.punct_center_prob > 0 and rng.random() < config.punct_center_prob
    latin = None
    if latin_faces and config.latin_face_prob > 0 and rng.random() < config.latin_face_prob:
        latin = latin_faces[int(rng.integers(len(latin_faces)))]
        latin_path = str(latin.render_path)
    em_middle = (_EM_DESCENT - _EM_ASCENT) / 2 * size  # y of the em box's middle, from the baseline

    path = str(face.render_path)  # a WOFF2 face renders from its decompressed copy
    placed = []  # (coverage, x, y) of every visible glyph, relative to the first pen position
    x = 0.0
    for ch, char_size, dy, slope in zip(text, sizes, offsets, rises, strict=True):
        if ch.isspace() and ord(ch) not in face.codepoints:
            # a space the face has no glyph for: never draw it, only leave a gap
            advance = float(size) if ch == "\u3000" else 0.3 * size
        else:
            if latin is not None and ch in LATIN_FACE_CHARS and ord(ch) in latin.codepoints:
                glyph = glyph_bitmap(latin_path, latin.index, char_size, aliased, ch)
            else:
                glyph = glyph_bitmap(path, face.index, char_size, aliased, ch)
            coverage, left, top, advance = glyph
            if coverage is not None:
                if slope > 0:
                    coverage, top = rise_glyph(coverage, top, slope)
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
    ml, mr = (draw_uniform(rng, config.margin_x) * size for _ in range(2))
    mt, mb = (draw_uniform(rng, config.margin_y) * size for _ in range(2))
    box = (left - ml, top - mt, right + mr, bottom + mb)
    drawer = functools.partial(_plain_line, path=path, index=face.index, aliased=aliased)
    placed, box = degrade.decorate(text, placed, (left, top, right, bottom), box, size, drawer, rng, config)
    x0, y0 = math.floor(box[0]), math.floor(box[1])
    line = Image.fromarray(degrade.paint(placed, x0, y0, max(1, math.ceil(box[2]) - x0),
                                         math.ceil(box[3]) - y0))
    if config.warp_prob > 0 and rng.random() < config.warp_prob:
        line = warp_mask(line, size * draw_uniform(rng, config.warp), size / 3, rng)
    if rng.random() < config.stroke_prob:
        thinner = rng.random() < 0.5 and size >= 36
        line = line.filter(ImageFilter.MinFilter(3) if thinner else ImageFilter.MaxFilter(3))
    return line


def _plain_line(text: str, size: int, *, path: str, index: int, aliased: bool) -> list[degrade.Placed]:
    """Glyphs of ``text`` at ``size`` px from pen position (0, 0) on the baseline, at the face's advance
    widths, without spacing or per-char augmentations (the neighbouring lines of
    :func:`toolkit.synth.degrade.neighbour_lines`)."""
    placed, x = [], 0.0
    for ch in text:
        coverage, left, top, advance = glyph_bitmap(path, index, size, aliased, ch)
        if coverage is not None:
            placed.append((coverage, round(x) + left, top))
        x += advance
    return placed


def _centred_offsets(coverage: np.ndarray, advance: float, em_middle: float) -> tuple[int, int]:
    """Offsets (left, top) from the pen position, px, that put the middle of a glyph's ink (uint8
    coverage, h x w; the bitmap may hold blank rows or columns) at the middle of its advance and at
    ``em_middle`` (px from the baseline, negative = up)."""
    rows, cols = np.flatnonzero(coverage.max(axis=1)), np.flatnonzero(coverage.max(axis=0))
    if not rows.size:
        return 0, round(em_middle)
    return (round(advance / 2 - (cols[0] + cols[-1] + 1) / 2),
            round(em_middle - (rows[0] + rows[-1] + 1) / 2))


def rise_glyph(coverage: np.ndarray, top: int, slope: float) -> tuple[np.ndarray, int]:
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


def warp_mask(mask: Image.Image, sigma: float, cell: float, rng: np.random.Generator) -> Image.Image:
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


def fit_height(line: Image.Image, height: int, stretch: float, slope: float, angle: float,
               resample: Image.Resampling | None = None) -> Image.Image:
    """Scale a mask to ``height`` px (width times ``stretch``), after an italic-like horizontal shear
    (the top row moves ``slope * height`` px right of the bottom row, left for a negative slope) and a
    counter-clockwise rotation by ``angle`` degrees. The canvas grows so no corner is cut; new area is
    paper (0). Shear, rotation and scaling are one affine resampling at output size (cost grows with
    the output pixels, not with the render size); without shear and rotation it is a plain resize.
    ``resample`` (e.g. a screenshot's nearest) replaces the default: bicubic for the plain resize,
    bilinear for the affine one. The mask may be mode ``L`` or ``RGB`` (per-channel coverage).
    """
    w, h = line.size
    if slope == 0.0 and angle == 0.0:
        width = max(1, round(w * height / h * stretch))
        return line.resize((width, height),
                           resample=Image.Resampling.BICUBIC if resample is None else resample)
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
                          resample=Image.Resampling.BILINEAR if resample is None else resample, fillcolor=0)


def _ink_on_paper(line: Image.Image, rng: np.random.Generator, config: SynthConfig) -> np.ndarray:
    """Compose the ink of a coverage mask at output size (mode ``L``, or ``RGB`` per channel) over the
    paper: grey levels drawn from ``config.ink`` and ``config.paper``, a possible linear shading of the
    paper (``gradient_prob``), and the textures, patterns and colours of :mod:`toolkit.synth.degrade`.

    Returns:
        float32 ``(height, width)`` grey levels, not yet rounded or clipped.
    """
    width, height = line.size
    paper = float(draw_integer(rng, config.paper))
    ink = float(draw_integer(rng, config.ink))
    coverage = np.asarray(line, dtype=np.float32)
    coverage *= 1.0 / 255.0
    background = None
    if rng.random() < config.gradient_prob:
        depth = draw_uniform(rng, config.gradient_depth)
        angle = draw_uniform(rng, (0.0, 2 * math.pi))
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = xs * math.cos(angle) + ys * math.sin(angle)
        span = float(ramp.max() - ramp.min())
        background = np.full((height, width), paper, dtype=np.float32)
        if span > 0:
            background -= depth * (ramp - ramp.min()) / span
    layers = degrade.paper_layers(height, width, rng, config)
    colours = degrade.draw_colours(rng, config)
    if layers is not None or colours is not None or coverage.ndim == 3:
        pixels = degrade.compose(coverage, paper if background is None else background, ink, layers, colours)
    elif background is not None:
        pixels = background + coverage * (ink - background)
    else:  # paper + coverage * (ink - paper), in place
        pixels = coverage
        pixels *= ink - paper
        pixels += paper
    return pixels


def ctc_min_width(text: str, height: int) -> int:
    """The narrowest width in px, at ``height`` px, at which ShadowNet gives ``text`` the CTC time
    steps it needs (:func:`toolkit.preprocess.ctc_min_steps` of its chars, spaces included: one per
    char plus a blank between equal neighbours; the image is scaled to
    :data:`toolkit.preprocess.HEIGHT` px and gives one time step per
    :data:`toolkit.preprocess.WIDTH_MULTIPLE` px)."""
    steps = preprocess.ctc_min_steps(list(text))
    return math.ceil(steps * preprocess.WIDTH_MULTIPLE * height / preprocess.HEIGHT)


def render_line(text: str, face: FontFace, rng: np.random.Generator, config: SynthConfig,
                latin_faces: Sequence[FontFace] = ()) -> Image.Image:
    """Render one text line as a grey image.

    The text is drawn char by char with Pillow's FreeType rasterizer (``getmask2``, what
    ``ImageDraw.text`` uses) at the face's advance widths plus a random extra spacing, as a coverage
    mask; the mask is cropped around the real ink and the CJK em
    box (so no glyph, descender or low punctuation such as ``，。`` is clipped) with random margins,
    possibly drawn without anti-aliasing, with per-char jitter, a changed stroke weight, sheared and
    rotated (the canvas grows, so no corner is cut or filled with black), scaled to ``config.height``
    (aspect ratio kept, times a horizontal ``stretch``), possibly blurred, composed as ink over a paper
    background (possibly shaded), possibly shrunk and scaled back (low resolution), with possible
    gaussian noise. The real-world degradations of :mod:`toolkit.synth.degrade` come in where they
    act: neighbouring lines, underline and rules in the mask's layout; a screenshot-like small-size
    rasterization after it; perspective and curve before the shear and rotation; motion blur after the
    gaussian one; textures, patterns and colours in the composition; a JPEG round trip last. Every
    random choice is drawn from ``rng``, in a fixed order, so the same generator state gives the same
    pixels.

    Args:
        text: the text; must hold at least one non-whitespace char, all covered by ``face``.
        face: the font face (opened with Pillow once per process and size, then cached).
        rng: the random generator; it is advanced.
        config: ranges and probabilities of the augmentations.
        latin_faces: Latin text faces (style ``latin``) for ``config.latin_face_prob``: with that
            chance one of them draws the line's printable ASCII chars that it covers.

    Returns:
        A mode ``"L"`` image of height ``config.height`` px, width proportional to the rendered text
        and at least :func:`ctc_min_width` (a narrower rendering is stretched horizontally to it, so
        every label fits the CTC time steps write-tfrecords checks), dark ink on light paper.

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
    screen = degrade.draw_screen(rng, config)
    if screen is None:
        line = text_mask(text, face, rng, config, latin_faces=latin_faces)
    else:
        line = degrade.capture(text_mask(text, face, rng, config, size=screen.render_size,
                                         latin_faces=latin_faces), screen)
    line = degrade.bend(line, rng, config)
    slope = angle = 0.0
    if rng.random() < config.shear_prob and config.max_shear > 0:
        slope = draw_uniform(rng, (-config.max_shear, config.max_shear))
    if rng.random() < config.rotation_prob and config.max_rotation > 0:
        angle = draw_uniform(rng, (-config.max_rotation, config.max_rotation))
    height = config.height
    stretch = draw_uniform(rng, config.stretch) if config.stretch != (1.0, 1.0) else 1.0
    line = fit_height(line, height, stretch, slope, angle, None if screen is None else screen.resample)
    min_width = ctc_min_width(text, height)
    if line.width < min_width:  # a condensed, tiny or tall rendering: widen it until CTC can fit
        line = line.resize((min_width, height), Image.Resampling.BILINEAR)
    width = line.width
    if rng.random() < config.blur_prob:
        line = line.filter(ImageFilter.GaussianBlur(draw_uniform(rng, config.blur_radius)))
    line = degrade.motion_blur(line, rng, config)

    pixels = _ink_on_paper(line, rng, config)
    if rng.random() < config.downscale_prob:
        factor = draw_uniform(rng, config.downscale)
        small = (max(1, round(width * factor)), max(1, round(height * factor)))
        back = Image.Resampling.NEAREST if rng.random() < 0.3 else Image.Resampling.BILINEAR
        low = Image.fromarray(pixels.astype(np.float32)).resize(small, Image.Resampling.BOX)
        pixels = np.array(low.resize((width, height), back), dtype=np.float32)
    if rng.random() < config.noise_prob:
        noise = rng.standard_normal(pixels.shape, dtype=np.float32)
        noise *= draw_uniform(rng, config.noise_sigma)
        pixels += noise
    np.rint(pixels, out=pixels)
    np.clip(pixels, 0, 255, out=pixels)
    image = Image.fromarray(pixels.astype(np.uint8))
    if config.jpeg_artifact_prob > 0 and rng.random() < config.jpeg_artifact_prob:
        image = jpeg_round_trip(image, draw_integer(rng, config.jpeg_artifact_quality))
    return image


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """Encode a grey (mode ``L``) image as a baseline JPEG at ``quality`` (1..100, the libjpeg scale
    Pillow uses too) with simplejpeg (libjpeg-turbo): 40 us against 70 us for Pillow's ``save`` of a
    32 x 150-400 px line, most of the difference being ``save``'s per-call Python overhead.
    """
    pixels = np.asarray(image)[:, :, None]
    return simplejpeg.encode_jpeg(pixels, quality=quality, colorspace="GRAY")


def jpeg_round_trip(image: Image.Image, quality: int) -> Image.Image:
    """A grey (mode ``L``) image encoded with :func:`encode_jpeg` at ``quality`` and decoded again: its
    block and ringing artifacts. The grey level is JPEG's luma channel (what a reader of the colour
    file converted to grey sees), so compressing the grey image stands for compressing the colour one.
    """
    decoded = simplejpeg.decode_jpeg(encode_jpeg(image, quality), colorspace="GRAY")
    return Image.fromarray(decoded[:, :, 0])


def clear_glyph_cache() -> None:
    """Empty this process's glyph bitmap cache (:func:`glyph_bitmap`), e.g. to time a cold start."""
    glyph_bitmap.cache_clear()
