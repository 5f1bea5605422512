"""Real-world degradations of a rendered text line, the ones real crops of documents and screenshots
have: fragments of the neighbouring lines, underlines, table rules and boxes, screenshot-like
rasterization, perspective and curved baselines, motion blur, paper textures, quasicrystal-like
patterns, tinted paper and colour ink. :func:`toolkit.synth.render.render_line` calls them in this
order:

1. :func:`decorate`, on the ink layout at render size: more ink items (glyphs of the lines above and
   below, lines) and a larger crop box;
2. :func:`draw_screen` and :func:`capture`: the line drawn at a small pixel size, as a screen shows it
   (hinted, unhinted or RGB-stripe anti-aliasing), later resampled to the line height;
3. :func:`bend`: perspective (keystone) and a curved baseline, on the ink mask;
4. :func:`motion_blur`, on the mask at output size;
5. :func:`paper_layers`, :func:`draw_colours` and :func:`compose`: the paper (textures, quasicrystal
   patterns, tint) and the ink, composed in RGB and converted to grey.

Each effect is gated by its own ``SynthConfig`` probability, and every random number comes from the
``numpy.random.Generator`` passed in, in a fixed order. An effect whose probability is 0 draws no
random number at all, so configs that leave them off (the ``basic`` and ``robust`` presets) render
the same pixels as before this module existed.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from toolkit.synth.config import SynthConfig, draw_integer, draw_uniform

Placed = tuple[np.ndarray, int, int]
"""One ink item of a line layout: ``(coverage, x, y)``, a uint8 coverage array ``(h, w)`` (0 = paper,
255 = ink) and its top-left corner in px, relative to the first pen position on the baseline (y down)."""

Box = tuple[float, float, float, float]
"""``(left, top, right, bottom)`` of a region of a line layout, px, in the coordinates of :data:`Placed`."""

LineDrawer = Callable[[str, int], list[Placed]]
"""Draws a text at a size (px) with the line's face, glyph after glyph at its advance widths, from the
pen position (0, 0) on the baseline: the glyphs of a neighbouring line."""

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""Weights of R, G, B in the grey level: ITU-R BT.601 luma, what Pillow's ``convert("L")`` and the Y
channel of JPEG's YCbCr use."""

MIN_CONTRAST = 40.0
"""Smallest grey-level difference kept between the ink and any paper pixel when textures, patterns or
colours are composed (grey levels), so that a pattern never hides the text the label names."""

SCREEN_MODES = ("hinted", "unhinted", "subpixel")
"""How :func:`capture` rasterizes a screenshot-like line (drawn with equal chances): FreeType's own
rendering at the small size, with the default hinting Pillow asks for (hinted), a 4x rendering
reduced by 4 (unhinted: exact area coverage, quarter-pixel glyph positions), or a 3x rendering whose
three horizontal subpixels become the R, G and B coverage of one pixel (RGB-stripe anti-aliasing, as
LCD text rendering does)."""
_SCREEN_FACTOR = {"hinted": 1, "unhinted": 4, "subpixel": 3}
SCREEN_RESAMPLING = (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)
"""Resamplings of a screenshot-like line to the line height, drawn with equal chances."""

# FreeType's default LCD filter (FT_LCD_FILTER_DEFAULT in ftlcdfil.h): five taps over subpixels,
# 0x08 0x4D 0x56 0x4D 0x08 out of 256, which spreads each subpixel's coverage over its neighbours so
# that colour fringes stay faint.
_LCD_FILTER = np.array([8, 77, 86, 77, 8], dtype=np.float32) / 256.0
# Cell sizes (px at output size) of the smooth noise fields summed into a paper texture: grain,
# mottling, clouds, and shading over a few chars.
_TEXTURE_CELLS = (1.5, 4.0, 12.0, 40.0)


def _hit(rng: np.random.Generator, prob: float) -> bool:
    """Whether an effect of chance ``prob`` happens; draws a number only when ``prob > 0``."""
    return prob > 0 and rng.random() < prob


# -- decorations of the layout (render size) --------------------------------------------------------


def decorate(
    text: str, placed: list[Placed], ink: Box, box: Box, size: int, draw: LineDrawer,
    rng: np.random.Generator, config: SynthConfig,
) -> tuple[list[Placed], Box]:
    """Add the decorations of a line crop to its layout: fragments of the lines above and below
    (``neighbour_prob``), an underline (``underline_prob``), table rules or a box (``rules_prob``).

    Args:
        text: the line's text; the neighbouring lines are drawn from its non-space chars (so the face
            covers them).
        placed: the line's glyphs (:data:`Placed`); not changed.
        ink: the box of the glyphs and the em box (:data:`Box`).
        box: the crop box, margins included.
        size: the font size, px.
        draw: draws the neighbouring lines with the line's face (:data:`LineDrawer`).
        rng, config: the generator and the config.

    Returns:
        ``(items, box)``: ``placed`` followed by the decorations' items, which may reach past the crop
        (the painter clips them), and the crop box grown to show the decorations.
    """
    items = list(placed)
    if _hit(rng, config.neighbour_prob):
        more, box = neighbour_lines(text, box, size, draw, rng, config)
        items += more
    if _hit(rng, config.underline_prob):
        more, box = underline(ink, box, size, rng, config)
        items += more
    if _hit(rng, config.rules_prob):
        more, box = table_rules(ink, box, size, rng, config)
        items += more
    return items, box


def neighbour_lines(
    text: str, box: Box, size: int, draw: LineDrawer, rng: np.random.Generator, config: SynthConfig
) -> tuple[list[Placed], Box]:
    """Glyphs of the line above, below or both (equal chances), as a line detector's loose crop cuts
    them: a line pitch of ``size * (1 + gap)`` with ``gap`` drawn from ``config.neighbour_gap``, text
    of chars drawn from ``text``, starting up to one em left of the crop and, three times in ten,
    ending early (the last line of a paragraph). The crop grows until at least ``neighbour_visible``
    (drawn, times ``size``) of the fragment's ink height is inside it; the rest is cut by the crop
    edge.

    Returns:
        ``(items, box)``: the fragments' glyphs (possibly none, if the line ended before the crop) and
        the crop box.
    """
    chars = [ch for ch in text if not ch.isspace()]
    left, top, right, bottom = box
    sides = ((-1,), (1,), (-1, 1))[int(rng.integers(3))]
    items: list[Placed] = []
    for side in sides:
        pitch = size * (1.0 + draw_uniform(rng, config.neighbour_gap))
        start = left - draw_uniform(rng, (0.0, 1.0)) * size
        # At least one char per half em up to the crop's right edge (Latin chars are narrow).
        count = math.ceil((right - start) / (0.5 * size)) + 1
        picks = rng.integers(len(chars), size=count)
        end = start + draw_uniform(rng, (0.2, 1.0)) * (right - start) if rng.random() < 0.3 else math.inf
        visible = draw_uniform(rng, config.neighbour_visible) * size
        dx, dy = round(start), round(side * pitch)
        glyphs = [(c, x + dx, y + dy) for c, x, y in draw("".join(chars[i] for i in picks), size)
                  if x + dx < min(end, right)]
        if not glyphs:
            continue
        if side < 0:
            top = min(top, max(y + c.shape[0] for c, _, y in glyphs) - visible)
        else:
            bottom = max(bottom, min(y for _, _, y in glyphs) + visible)
        items += glyphs
    return items, (left, top, right, bottom)


def _line_width(rng: np.random.Generator, config: SynthConfig, size: int) -> int:
    """A rule or underline thickness drawn from ``config.line_width`` (times ``size``), at least 1 px."""
    return max(1, round(draw_uniform(rng, config.line_width) * size))


def underline(
    ink: Box, box: Box, size: int, rng: np.random.Generator, config: SynthConfig
) -> tuple[list[Placed], Box]:
    """A full-ink underline 0.1-0.25 em below the baseline (it may cross descenders), from up to 0.2
    em left of the ink to up to 0.2 em right of it, ``config.line_width`` thick. The crop grows to
    hold it and 0.02-0.15 em under it.

    Returns:
        ``([item], box)``.
    """
    width = _line_width(rng, config, size)
    y = round(draw_uniform(rng, (0.1, 0.25)) * size)
    x0 = math.floor(ink[0] - draw_uniform(rng, (0.0, 0.2)) * size)
    x1 = math.ceil(ink[2] + draw_uniform(rng, (0.0, 0.2)) * size)
    below = draw_uniform(rng, (0.02, 0.15)) * size
    left, top, right, bottom = box
    item = (np.full((width, max(1, x1 - x0)), 255, dtype=np.uint8), x0, y)
    return [item], (min(left, x0), top, max(right, x1), max(bottom, y + width + below))


def table_rules(
    ink: Box, box: Box, size: int, rng: np.random.Generator, config: SynthConfig
) -> tuple[list[Placed], Box]:
    """Rules of a table cell around the text: a full box four times in ten, otherwise each side with
    chance 1/2 (at least one). Each rule lies 0.05-0.4 em outside the ink box, ``config.line_width``
    thick, with a grey level drawn from 40-100% of the ink's (rules are often lighter than text), and
    runs across the whole crop; the crop grows to hold each rule and 0-0.15 em beyond it.

    Returns:
        ``(items, box)``: one item per rule, and the crop box.
    """
    if rng.random() < 0.4:
        sides = [True] * 4
    else:
        sides = [bool(s) for s in rng.random(4) < 0.5]
        if not any(sides):
            sides[int(rng.integers(4))] = True
    level = round(255 * draw_uniform(rng, (0.4, 1.0)))
    width = _line_width(rng, config, size)
    left, top, right, bottom = box
    positions = []  # (side, first px row or column of the rule)
    for side, on in enumerate(sides):  # left, top, right, bottom
        if not on:
            continue
        gap = draw_uniform(rng, (0.05, 0.4)) * size
        beyond = draw_uniform(rng, (0.0, 0.15)) * size
        if side == 0:
            at = math.floor(ink[0] - gap) - width
            left = min(left, at - beyond)
        elif side == 1:
            at = math.floor(ink[1] - gap) - width
            top = min(top, at - beyond)
        elif side == 2:
            at = math.ceil(ink[2] + gap)
            right = max(right, at + width + beyond)
        else:
            at = math.ceil(ink[3] + gap)
            bottom = max(bottom, at + width + beyond)
        positions.append((side, at))
    x0, y0 = math.floor(left) - 1, math.floor(top) - 1
    span_x, span_y = math.ceil(right) + 1 - x0, math.ceil(bottom) + 1 - y0
    items = []
    for side, at in positions:
        if side in (0, 2):
            items.append((np.full((span_y, width), level, dtype=np.uint8), at, y0))
        else:
            items.append((np.full((width, span_x), level, dtype=np.uint8), x0, at))
    return items, (left, top, right, bottom)


def paint(items: list[Placed], x0: int, y0: int, width: int, height: int) -> np.ndarray:
    """Paint ink items into a new ``(height, width)`` uint8 canvas whose top-left px is at ``(x0, y0)``
    in layout coordinates; where items overlap the larger coverage wins, parts outside are cut."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    for coverage, gx, gy in items:
        h, w = coverage.shape
        cx0, cy0 = max(gx - x0, 0), max(gy - y0, 0)
        cx1, cy1 = min(gx - x0 + w, width), min(gy - y0 + h, height)
        if cx0 >= cx1 or cy0 >= cy1:
            continue
        region = canvas[cy0:cy1, cx0:cx1]
        np.maximum(region, coverage[cy0 - (gy - y0):cy1 - (gy - y0), cx0 - (gx - x0):cx1 - (gx - x0)],
                   out=region)
    return canvas


# -- screenshot-like rasterization --------------------------------------------------------------------


@dataclass(frozen=True)
class ScreenLook:
    """How a screenshot-like line is rasterized: the pixel size of its font on the screen (px), the
    mode (one of :data:`SCREEN_MODES`) and the resampling to the line height (one of
    :data:`SCREEN_RESAMPLING`)."""

    size: int
    mode: str
    resample: Image.Resampling

    @property
    def render_size(self) -> int:
        """The font size the line is drawn at before :func:`capture` reduces it, px."""
        return self.size * _SCREEN_FACTOR[self.mode]


def draw_screen(rng: np.random.Generator, config: SynthConfig) -> ScreenLook | None:
    """A :class:`ScreenLook` with chance ``config.screen_prob`` (size drawn from ``screen_size``,
    mode and resampling uniformly), else None."""
    if not _hit(rng, config.screen_prob):
        return None
    size = draw_integer(rng, config.screen_size)
    mode = SCREEN_MODES[int(rng.integers(len(SCREEN_MODES)))]
    return ScreenLook(size, mode, SCREEN_RESAMPLING[int(rng.integers(len(SCREEN_RESAMPLING)))])


def capture(mask: Image.Image, look: ScreenLook) -> Image.Image:
    """Reduce a mask drawn at ``look.render_size`` to the screen's pixels.

    Args:
        mask: the line's ink mask (mode ``L``) drawn at ``look.render_size``.
        look: the screen look.

    Returns:
        ``hinted``: the mask itself. ``unhinted``: the mask reduced 4x4 (box average: exact area
        coverage). ``subpixel``: a mode ``RGB`` coverage image, the mask reduced by 3 vertically and
        its columns filtered with FreeType's default LCD filter and taken three at a time as the R, G
        and B coverage of one pixel (the canvas is padded with paper to a multiple of 3 columns).
    """
    if look.mode == "hinted":
        return mask
    if look.mode == "unhinted":
        return mask.reduce(4)
    rows = np.asarray(mask.reduce((1, 3)), dtype=np.float32)  # (h, 3 * w) subpixel columns
    h, sub = rows.shape
    width = max(1, math.ceil(sub / 3))
    padded = np.zeros((h, 3 * width + 4), dtype=np.float32)
    padded[:, 2:2 + sub] = rows
    filtered = sum(weight * padded[:, k:k + 3 * width] for k, weight in enumerate(_LCD_FILTER))
    rgb = np.rint(filtered).clip(0, 255).astype(np.uint8).reshape(h, width, 3)
    return Image.fromarray(rgb, mode="RGB")


# -- perspective, curved baseline, motion blur --------------------------------------------------------


def bend(mask: Image.Image, rng: np.random.Generator, config: SynthConfig) -> Image.Image:
    """Perspective (with chance ``perspective_prob``) and a curved baseline (``curve_prob``) of an ink
    mask (mode ``L`` or ``RGB``), as one piecewise-bilinear resampling (Pillow's MESH transform over
    vertical strips about half the mask height wide).

    Perspective is a keystone: the height of the columns shrinks linearly towards one side (left or
    right, equal chances), down to ``1 - k`` of the original at that edge with ``k`` drawn from
    ``config.perspective``, columns staying centred; the horizontal spacing shrinks with it (a plane
    turned about a vertical axis). The curve moves columns vertically by
    ``a * sin(pi * periods * u + phase)``, with ``u`` in [0, 1] across the line, ``a`` drawn from
    ``config.curve`` times the mask height, ``periods`` from 0.5 to 1.5 (an arc to an S) and a random
    phase. The canvas grows by ``2a`` rows so that nothing is cut; new area is paper.

    Returns:
        The mask, unchanged if neither effect happens (no random number is drawn for an effect whose
        probability is 0).
    """
    keystone = draw_uniform(rng, config.perspective) if _hit(rng, config.perspective_prob) else 0.0
    short_left = keystone > 0 and rng.random() < 0.5
    amplitude = periods = phase = 0.0
    if _hit(rng, config.curve_prob):
        amplitude = draw_uniform(rng, config.curve) * mask.height
        periods, phase = draw_uniform(rng, (0.5, 1.5)), draw_uniform(rng, (0.0, 2 * math.pi))
    if keystone == 0 and amplitude == 0:
        return mask
    w, h = mask.size
    strips = max(2, min(64, round(2 * w / h)))
    s = np.linspace(0.0, 1.0, strips + 1)  # source columns, as a share of the width
    scale = 1.0 - keystone * ((1.0 - s) if short_left else s)  # column heights, per source column
    # Output column of each source column: the integral of the scale (exact for a linear scale),
    # so horizontal spacing shrinks as the height does.
    t = np.concatenate([[0.0], np.cumsum((scale[1:] + scale[:-1]) / 2 * np.diff(s))])
    out_w = max(strips, round(w * t[-1]))
    xs = np.round(t / t[-1] * out_w).astype(int)
    pad = math.ceil(amplitude)
    out_h = h + 2 * pad
    shift = amplitude * np.sin(math.pi * periods * s + phase)
    # Output (x, y) of a column at source column s_i comes from source y = (y - out_h / 2 - shift) /
    # scale + h / 2; Pillow maps each output strip to the source quadrilateral of its corners.
    y_top = (-out_h / 2 - shift) / scale + h / 2
    y_bottom = (out_h / 2 - shift) / scale + h / 2
    mesh = []
    for i in range(strips):
        if xs[i + 1] <= xs[i]:
            continue
        quad = (s[i] * w, y_top[i], s[i] * w, y_bottom[i],
                s[i + 1] * w, y_bottom[i + 1], s[i + 1] * w, y_top[i + 1])
        mesh.append(((int(xs[i]), 0, int(xs[i + 1]), out_h), tuple(float(v) for v in quad)))
    return mask.transform((out_w, out_h), Image.Transform.MESH, mesh,
                          resample=Image.Resampling.BILINEAR, fillcolor=0)


def motion_blur(image: Image.Image, rng: np.random.Generator, config: SynthConfig) -> Image.Image:
    """With chance ``config.motion_blur_prob``, blur an image (mode ``L`` or ``RGB``) along a line:
    a camera or page moving during the exposure. The kernel is a segment of length drawn from
    ``config.motion_blur`` (px, at most 4: the kernel is Pillow's 5 x 5 ``ImageFilter.Kernel``) at an
    angle drawn uniformly, rasterized with bilinear weights and normalized to sum 1.

    Returns:
        The blurred image (same size and mode), or ``image`` itself when the effect does not happen.
    """
    if not _hit(rng, config.motion_blur_prob):
        return image
    length = draw_uniform(rng, config.motion_blur)
    angle = draw_uniform(rng, (0.0, math.pi))
    weights = np.zeros((6, 6), dtype=np.float64)  # one spare row and column for the bilinear splat
    for step in np.linspace(-length / 2, length / 2, 33):
        x, y = 2 + step * math.cos(angle), 2 + step * math.sin(angle)
        ix, iy = math.floor(x), math.floor(y)
        fx, fy = x - ix, y - iy
        weights[iy, ix] += (1 - fx) * (1 - fy)
        weights[iy, ix + 1] += fx * (1 - fy)
        weights[iy + 1, ix] += (1 - fx) * fy
        weights[iy + 1, ix + 1] += fx * fy
    kernel = weights[:5, :5]
    return image.filter(ImageFilter.Kernel((5, 5), kernel.ravel().tolist(), scale=float(kernel.sum())))


# -- paper, ink and their composition -------------------------------------------------------------


def paper_texture(height: int, width: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A procedural paper texture: smooth noise fields at several scales (cells of 1.5, 4, 12 and 40
    px, each gaussian noise on a coarse grid upsampled bicubically, with its own random weight),
    normalized to a standard deviation of ``strength`` grey levels, plus fibres: short thin strokes,
    one per 400 px on average, all darker or all lighter than the paper by up to twice ``strength``.

    Returns:
        float32 ``(height, width)`` grey-level offsets to add to the paper.
    """
    total = np.zeros((height, width), dtype=np.float32)
    for cell in _TEXTURE_CELLS:
        grid = rng.standard_normal((math.ceil(height / cell) + 1, math.ceil(width / cell) + 1),
                                   dtype=np.float32)
        grid *= draw_uniform(rng, (0.3, 1.0))
        total += np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC))
    total *= strength / max(float(total.std()), 1e-6)
    count = int(rng.poisson(height * width / 400))
    if count:
        fibres = Image.new("L", (width, height), 0)
        pen = ImageDraw.Draw(fibres)
        starts = rng.random((count, 2)) * (width, height)
        angles = rng.uniform(0.0, math.pi, count)
        lengths = rng.uniform(2.0, 10.0, count)
        levels = rng.integers(80, 256, count)
        for (x, y), a, n, level in zip(starts, angles, lengths, levels, strict=True):
            pen.line((x, y, x + n * math.cos(a), y + n * math.sin(a)), fill=int(level), width=1)
        sign = -1.0 if rng.random() < 0.7 else 1.0
        total += np.asarray(fibres, dtype=np.float32) * (sign * 2.0 * strength / 255.0)
    return total


def quasicrystal(height: int, width: int, depth: float, period: float, waves: int,
                 rng: np.random.Generator) -> np.ndarray:
    """A quasicrystal-like pattern (the kind of background trdg renders): the sum of ``waves`` plane
    waves of wavelength ``period`` px whose directions are evenly spaced over a half turn (from a
    random start), each with a random phase, mapped to [0, 1] and scaled to ``depth`` grey levels.

    Returns:
        float32 ``(height, width)`` offsets, in ``[-depth, 0]`` (darker than the paper).
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    start = draw_uniform(rng, (0.0, math.pi))
    phases = rng.uniform(0.0, 2 * math.pi, waves)
    total = np.zeros((height, width), dtype=np.float32)
    k = 2 * math.pi / period
    for i in range(waves):
        theta = start + i * math.pi / waves
        total += np.cos(xs * (k * math.cos(theta)) + ys * (k * math.sin(theta)) + phases[i])
    return total * (-depth / (2 * waves)) - depth / 2


def paper_layers(height: int, width: int, rng: np.random.Generator, config: SynthConfig
                 ) -> np.ndarray | None:
    """The paper's texture (chance ``texture_prob``, strength drawn from ``config.texture``) and
    quasicrystal pattern (chance ``quasicrystal_prob``: depth from ``quasicrystal``, wavelength from
    ``quasicrystal_period``, 4 to 8 waves), summed.

    Returns:
        float32 ``(height, width)`` grey-level offsets to add to the paper, or None if neither happens.
    """
    layers = None
    if _hit(rng, config.texture_prob):
        layers = paper_texture(height, width, draw_uniform(rng, config.texture), rng)
    if _hit(rng, config.quasicrystal_prob):
        pattern = quasicrystal(height, width, draw_uniform(rng, config.quasicrystal),
                               draw_uniform(rng, config.quasicrystal_period), int(rng.integers(4, 9)), rng)
        layers = pattern if layers is None else layers + pattern
    return layers


def draw_colours(rng: np.random.Generator, config: SynthConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """With chance ``config.colour_prob``: a paper tint and an ink colour.

    Returns:
        ``(paper_gain, ink_hue)``, float32 ``(3,)`` each, or None. ``paper_gain`` multiplies the grey
        paper per channel: white mixed with a fully saturated colour of random hue at a share drawn
        from ``config.paper_tint`` (so each channel keeps ``1 - tint`` .. 1). ``ink_hue`` is the ink's
        RGB colour at full value (channels in [0, 1]): random hue, saturation drawn from
        ``config.ink_saturation``; :func:`compose` scales it to the drawn ink level.
    """
    if not _hit(rng, config.colour_prob):
        return None
    tint = draw_uniform(rng, config.paper_tint)
    paper_hue = np.array(colorsys.hsv_to_rgb(float(rng.random()), 1.0, 1.0), dtype=np.float32)
    paper_gain = 1.0 - tint * (1.0 - paper_hue)
    saturation = draw_uniform(rng, config.ink_saturation)
    ink_hue = np.array(colorsys.hsv_to_rgb(float(rng.random()), saturation, 1.0), dtype=np.float32)
    return paper_gain.astype(np.float32), ink_hue


def compose(
    coverage: np.ndarray, paper: np.ndarray | float, ink: float, layers: np.ndarray | None,
    colours: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """Compose ink over paper, in RGB when there are colours, and return the grey levels.

    Args:
        coverage: float32 ink coverage in [0, 1], ``(h, w)``, or ``(h, w, 3)`` per channel
            (subpixel rendering).
        paper: the grey paper, a level or a float32 ``(h, w)`` array (e.g. shaded by a gradient).
        ink: the ink's grey level (0 black .. 255).
        layers: float32 ``(h, w)`` offsets added to the paper (:func:`paper_layers`), or None.
        colours: ``(paper_gain, ink_hue)`` from :func:`draw_colours`, or None for grey paper and ink.

    Returns:
        float32 ``(h, w)`` grey levels (BT.601 luma of the RGB composition, :data:`LUMA`), not yet
        rounded or clipped. The ink colour is scaled so that its luma is the ink level (channels
        clipped to 255, so a pure blue stays darker), and darkened further if needed so that it is at
        least :data:`MIN_CONTRAST` below white paper of the tint; paper pixels are raised where
        needed to stay that far above the ink.
    """
    h, w = coverage.shape[:2]
    background = np.broadcast_to(np.asarray(paper, dtype=np.float32), (h, w)).copy()
    if layers is not None:
        background += layers
    if colours is None:
        gain, ink_rgb = np.ones(3, dtype=np.float32), np.full(3, ink, dtype=np.float32)
    else:
        gain, hue = colours
        ink_rgb = np.minimum(hue * (ink / float(hue @ LUMA)), 255.0).astype(np.float32)
    gain_luma = float(gain @ LUMA)
    ink_luma = float(ink_rgb @ LUMA)
    limit = 255.0 * gain_luma - MIN_CONTRAST
    if ink_luma > limit:
        ink_rgb *= max(limit, 0.0) / ink_luma
        ink_luma = float(ink_rgb @ LUMA)
    np.maximum(background, (ink_luma + MIN_CONTRAST) / gain_luma, out=background)
    if colours is None and coverage.ndim == 2:
        return background + coverage * (ink_luma - background)
    cover = coverage if coverage.ndim == 3 else coverage[:, :, None]
    paper_rgb = background[:, :, None] * gain
    rgb = paper_rgb + cover * (ink_rgb - paper_rgb)
    np.clip(rgb, 0.0, 255.0, out=rgb)
    return rgb @ LUMA
