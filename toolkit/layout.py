"""Whole-page reading: find the text lines of a page image so that each can be read as a line.

The steps, all on a grey uint8 image ``(height, width)``:

1. :func:`binarize`: Otsu's threshold (:func:`otsu_threshold`) splits the pixels into two classes;
   the smaller class is the ink, so dark-on-light and light-on-dark pages both work.
2. :func:`estimate_skew`: the angle, within a few degrees, at which the ink's horizontal
   projection profile is sharpest (the projection-profile method), refined by the slope of the ink
   within each line it separates; :func:`rotate` deskews the grey image.
3. :func:`find_lines`: runs of ink rows in the deskewed profile are the lines; gaps of any height
   (blank lines) separate them, short runs (an accent, the dots of a ``：``, a stray underline) are
   joined to the nearer line, and specks are dropped.
4. :func:`analyze_page` puts these together and gives each line's crop, with a margin that never
   reaches into the neighbouring lines; lines come in reading order, top to bottom.

What it does not handle: photos in perspective or of curved pages (only a global rotation of a
few degrees is corrected), several columns or text beside pictures (a row of the page is one line
whatever it holds), vertical text, tables, and pages whose border or background is darker than
the text's paper (a scanner's black margin becomes ink). Such pages need a text detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SKEW = 3.0
"""Largest skew searched by :func:`estimate_skew`, degrees either way."""
SKEW_POINTS = 200_000
"""Ink pixels used at most to estimate the skew (an even subsample of a larger page's ink)."""
MIN_LINE_HEIGHT = 4
"""A run of ink rows lower than this, px, that cannot join a line is dropped as a speck."""
FRAGMENT_FRACTION = 0.5
"""A run lower than this fraction of the median line height, closer than this fraction of it to
a neighbouring run, is a fragment of a line (an accent, a tall glyph's tip, a dot) and is joined to
the nearer neighbour."""
MARGIN_FRACTION = 0.25
"""Margin kept around a line's ink in its crop, as a fraction of the line's height (top and
bottom: at most half of the gap to the neighbouring line)."""


@dataclass(frozen=True)
class LineBox:
    """A text line's ink rectangle in the deskewed page, px; ``bottom`` and ``right`` exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def height(self) -> int:
        return self.bottom - self.top


@dataclass(frozen=True)
class PageLayout:
    """The lines found on a page.

    Attributes:
        skew: the page's estimated rotation, degrees, counter-clockwise positive (the text rises
            to the right); the page was rotated by ``-skew`` to give ``image``.
        image: the deskewed grey page, uint8 ``(h, w)`` (larger than the input by the rotation's
            corners, filled with the paper's grey).
        lines: the lines' ink boxes in ``image``, top to bottom.
        crops: per line, the grey uint8 crop of ``image`` to read: the box plus a margin.
    """

    skew: float
    image: np.ndarray
    lines: tuple[LineBox, ...]
    crops: tuple[np.ndarray, ...]


def otsu_threshold(grey: np.ndarray) -> int:
    """Otsu's threshold of a grey uint8 image: the level ``t`` that maximises the between-class
    variance of the pixels ``<= t`` and ``> t`` (N. Otsu, IEEE Trans. SMC 9(1), 1979).

    Returns:
        ``t`` in [0, 254]; for an image of one grey level, that level (or 0 for pure black).
    """
    hist = np.bincount(np.asarray(grey, dtype=np.uint8).ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    weight0 = np.cumsum(hist)[:-1]                   # pixels <= t, for t = 0..254
    weight1 = hist.sum() - weight0
    mass0 = np.cumsum(hist * levels)[:-1]
    mean0 = np.divide(mass0, weight0, out=np.zeros(255), where=weight0 > 0)
    mean1 = np.divide(mass0[-1] + hist[-1] * 255.0 - mass0, weight1, out=np.zeros(255),
                      where=weight1 > 0)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    if not between.any():  # a single grey level
        return int(min(np.argmax(hist), 254))
    return int(np.argmax(between))


def binarize(grey: np.ndarray) -> np.ndarray:
    """The ink of a page: bool ``(h, w)``, True where :func:`otsu_threshold` puts a pixel in the
    smaller of its two classes (text covers less of a page than its paper does).

    Raises:
        ValueError: if ``grey`` is not a 2-D array.
    """
    grey = np.asarray(grey, dtype=np.uint8)
    if grey.ndim != 2:
        raise ValueError(f"binarize: expected a grey (height, width) image, got shape {grey.shape}")
    dark = grey <= otsu_threshold(grey)
    return dark if dark.sum() * 2 <= dark.size else ~dark


def _deskewed(ys: np.ndarray, xs: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """The points ``(ys, xs)`` of a page rotated counter-clockwise by ``angle_deg``, rotated back:
    ``(rows, columns)`` float, so a line at that angle has a constant row."""
    a = np.radians(angle_deg)
    return ys * np.cos(a) + xs * np.sin(a), xs * np.cos(a) - ys * np.sin(a)


def _profile_sharpness(ys: np.ndarray, xs: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Sum of squared row counts of the ink points ``(ys, xs)`` deskewed by each angle."""
    out = np.empty(len(angles_deg))
    for i, angle in enumerate(angles_deg):
        rows = np.round(_deskewed(ys, xs, angle)[0]).astype(np.int64)
        counts = np.bincount(rows - rows.min())
        out[i] = float(np.dot(counts, counts))
    return out


def _line_slope_angle(ys: np.ndarray, xs: np.ndarray, angle_deg: float) -> float:
    """The skew left after deskewing the points by ``angle_deg``, degrees counter-clockwise: the
    pooled least-squares slope of row on column within each line (a run of ink rows)."""
    rows, cols = _deskewed(ys, xs, angle_deg)
    r = np.round(rows).astype(np.int64)
    r -= r.min()
    line_of_row = np.full(r.max() + 1, -1)
    for i, (start, end) in enumerate(_runs(np.bincount(r) > 0)):
        line_of_row[start:end] = i
    line = line_of_row[r]
    count = np.bincount(line)
    # Within-line deviations: subtract each line's mean column and row.
    dc = cols - np.bincount(line, cols)[line] / count[line]
    dr = rows - np.bincount(line, rows)[line] / count[line]
    den = float(np.dot(dc, dc))
    return -float(np.degrees(np.arctan(np.dot(dc, dr) / den))) if den > 0 else 0.0


def estimate_skew(ink: np.ndarray, max_angle: float = MAX_SKEW) -> float:
    """The rotation of a page's text lines, degrees, counter-clockwise positive.

    First the projection-profile method: the angle in ``[-max_angle, max_angle]``, in steps of
    0.25 degrees, whose horizontal projection of the ink is sharpest (the largest sum of squared
    row counts). Then, twice, the lines found at that angle (runs of ink rows) give the skew left:
    the least-squares slope of the ink's row on its column within each line, pooled over the
    lines. At most :data:`SKEW_POINTS` ink pixels are used.

    Args:
        ink: bool ``(h, w)`` (:func:`binarize`).
        max_angle: the largest skew searched, degrees.

    Returns:
        The skew in degrees, rounded to 0.01 and within ``max_angle`` (0.0 for a page without
        ink). On pages of a few lines of ten or more chars it is within about 0.1 degrees; few
        short lines give a rougher answer, as the glyphs' own shapes weigh in.

    Raises:
        ValueError: if ``max_angle`` is negative or 45 degrees or more.
    """
    if not 0 <= max_angle < 45:
        raise ValueError(f"estimate_skew: max_angle must be in [0, 45) degrees, got {max_angle}")
    ys, xs = np.nonzero(ink)
    if len(ys) == 0 or max_angle == 0:
        return 0.0
    if len(ys) > SKEW_POINTS:
        step = -(-len(ys) // SKEW_POINTS)
        ys, xs = ys[::step], xs[::step]
    ys = ys.astype(np.float64)
    xs = xs - xs.mean()
    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.25)
    angle = float(coarse[np.argmax(_profile_sharpness(ys, xs, coarse))])
    for _ in range(2):
        angle += _line_slope_angle(ys, xs, angle)
    return float(round(np.clip(angle, -max_angle, max_angle), 2))


def rotate(grey: np.ndarray, angle: float, fill: int) -> np.ndarray:
    """Rotate a grey uint8 image counter-clockwise by ``angle`` degrees about its centre
    (bicubic), growing it to hold the corners, which are filled with ``fill``."""
    from PIL import Image

    if angle == 0:
        return np.asarray(grey, dtype=np.uint8)
    im = Image.fromarray(np.asarray(grey, dtype=np.uint8), mode="L")
    return np.asarray(im.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=int(fill)))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` (end exclusive) of each run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, ends, strict=True))


def _join_fragments(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join each run lower than :data:`FRAGMENT_FRACTION` of the median run to the nearer of its
    neighbours when the gap between them is under that fraction too, lowest runs first."""
    runs = list(runs)
    while len(runs) > 1:
        heights = np.array([b - a for a, b in runs])
        median = float(np.median(heights))
        limit = FRAGMENT_FRACTION * median
        small = [i for i in np.argsort(heights, kind="stable") if heights[i] < limit]
        joined = False
        for i in small:
            gaps = []
            if i > 0:
                gaps.append((runs[i][0] - runs[i - 1][1], i - 1))
            if i + 1 < len(runs):
                gaps.append((runs[i + 1][0] - runs[i][1], i + 1))
            gap, j = min(gaps)
            if gap < limit:
                a, b = min(i, j), max(i, j)
                runs[a:b + 1] = [(runs[a][0], runs[b][1])]
                joined = True
                break
        if not joined:
            break
    return runs


def find_lines(ink: np.ndarray) -> list[LineBox]:
    """The text lines of a deskewed page: runs of rows holding ink, top to bottom.

    Rows with no ink separate lines (so blank lines do too); a run lower than
    :data:`FRAGMENT_FRACTION` of the median line and as close to a line is joined to it; a run lower
    than :data:`MIN_LINE_HEIGHT` px that joins nothing is dropped (when there are other lines).
    Each box spans its rows' ink columns.

    Args:
        ink: bool ``(h, w)``, the deskewed page's ink.

    Returns:
        The lines' ink boxes, top to bottom (empty for a page without ink).
    """
    ink = np.asarray(ink, dtype=bool)
    runs = _join_fragments(_runs(ink.any(axis=1)))
    boxes = []
    for top, bottom in runs:
        if bottom - top < MIN_LINE_HEIGHT and len(runs) > 1:
            continue
        cols = np.flatnonzero(ink[top:bottom].any(axis=0))
        boxes.append(LineBox(int(cols[0]), int(top), int(cols[-1]) + 1, int(bottom)))
    return boxes


def _crop_bounds(lines: list[LineBox], height: int, width: int) -> list[tuple[int, int, int, int]]:
    """``(left, top, right, bottom)`` of each line's crop: :data:`MARGIN_FRACTION` of the line's
    height around its box, above and below at most half of the gap to the next line."""
    out = []
    for i, box in enumerate(lines):
        margin = int(round(MARGIN_FRACTION * box.height)) + 1
        above = box.top if i == 0 else (box.top - lines[i - 1].bottom) // 2
        below = height - box.bottom if i == len(lines) - 1 else (lines[i + 1].top - box.bottom) // 2
        out.append((max(0, box.left - 2 * margin), box.top - min(margin, above),
                    min(width, box.right + 2 * margin), box.bottom + min(margin, below)))
    return out


def analyze_page(grey: np.ndarray, max_skew: float = MAX_SKEW) -> PageLayout:
    """Find the lines of a page image: binarize, estimate the skew, deskew, find the lines, crop.

    Args:
        grey: uint8 ``(h, w)`` page image (any polarity).
        max_skew: the largest skew corrected, degrees (0 turns deskewing off).

    Returns:
        The :class:`PageLayout`: skew, deskewed image, line boxes and crops, top to bottom.

    Raises:
        ValueError: if ``grey`` is not a 2-D array or ``max_skew`` is out of range (see
            :func:`estimate_skew`).
    """
    grey = np.asarray(grey, dtype=np.uint8)
    ink = binarize(grey)
    skew = estimate_skew(ink, max_skew)
    if skew:
        paper = int(np.median(grey[~ink])) if (~ink).any() else 255
        grey = rotate(grey, -skew, fill=paper)
        ink = binarize(grey)
    lines = find_lines(ink)
    bounds = _crop_bounds(lines, *grey.shape)
    crops = tuple(grey[top:bottom, left:right] for left, top, right, bottom in bounds)
    return PageLayout(skew=skew, image=grey, lines=tuple(lines), crops=crops)
