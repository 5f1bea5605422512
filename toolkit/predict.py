"""Recognition of line images with a trained model (the demo stage), batched by width.

Any image is accepted: any size, grey or colour, palette, alpha or 16-bit; it is converted to grey
and scaled to height 32 keeping its aspect ratio by the same function training used
(:func:`toolkit.preprocess.prepare_tf`). An image of several lines (a page) is first split into
lines by :mod:`toolkit.layout` (``layout="page"``, or ``"auto"``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit import layout as page_layout
from toolkit import preprocess
from toolkit.backends import Backend, KerasBackend, open_backend
from toolkit.charset import Charset
from toolkit.ctc import collapse_path, collapse_path_chars
from toolkit.images import MAX_PIXELS, open_image
from toolkit.images import ImageTooLargeError as PixelLimitError
from toolkit.io import atomic_write_text
from toolkit.labels import IMAGE_EXTENSIONS

LAYOUTS = ("line", "page", "auto")
"""How an image is read: ``line``: as one line; ``page``: split into lines first
(:func:`toolkit.layout.analyze_page`); ``auto``: as a page if more than one line is found in it."""

logger = logging.getLogger(__name__)


class ImageError(ValueError):
    """An image file that cannot be read as a line image."""


class ImageTooLargeError(ImageError):
    """An image of more pixels than the limit it was read with (:func:`decode_image`)."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a grey uint8 array ``(height, width)``.

    Raises:
        ImageError: if the file is missing, not an image, truncated, has zero size, or has more
            pixels than :data:`toolkit.images.MAX_PIXELS` (refused before it is decoded); the
            message names the file.
    """
    from PIL import ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with open_image(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return preprocess.to_grey_array(im)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot read image: {e}") from None


def decode_image(data: bytes, name: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """Decode image bytes (any format Pillow reads) as a grey uint8 array ``(height, width)``.

    Args:
        data: the encoded image.
        name: what to call it in error messages (a file name, "request body").
        max_pixels: refuse images of more pixels (width x height), read from the header before
            any pixel is decoded (:func:`toolkit.images.open_image`); ``None``: the toolkit's
            limit, :data:`toolkit.images.MAX_PIXELS`.

    Raises:
        ImageTooLargeError: if the image has more than ``max_pixels`` pixels.
        ImageError: if ``data`` is empty, not an image, or truncated.
    """
    from PIL import ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError(f"{name}: empty (0 bytes)")
    try:
        with open_image(data, MAX_PIXELS if max_pixels is None else max_pixels) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return preprocess.to_grey_array(im)
    except PixelLimitError as e:
        raise ImageTooLargeError(f"{name}: {e}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image in a format Pillow reads (PNG, JPEG, BMP, GIF, "
                         f"TIFF, WebP, ...)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{name}: cannot read image: {e}") from None


@dataclass(frozen=True)
class LineReading:
    """One line as the model read it.

    Attributes:
        text: the greedy (best-path) CTC decoding.
        confidence: in [0, 1], the mean of ``chars``' probabilities (see
            :func:`toolkit.ctc.collapse_path_chars`; 0 for an empty line).
        chars: ``(char, probability)`` per char of ``text``, in order; the probability is the
            largest softmax probability over the char's time steps.
        box: ``(left, top, right, bottom)`` px of the line in the deskewed page
            (:attr:`ImageReading.skew`), or ``None`` when the image was read as one line.
    """

    text: str
    confidence: float
    chars: tuple[tuple[str, float], ...]
    box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class ImageReading:
    """An image as the model read it: one line, or a page of lines in reading order.

    Attributes:
        layout: ``line`` (read as one line) or ``page`` (split into ``lines`` first).
        lines: the lines, top to bottom (one for ``line``; none for a page without ink).
        skew: the page's rotation corrected before reading, degrees counter-clockwise (0.0 for
            ``line``).
    """

    layout: str
    lines: tuple[LineReading, ...]
    skew: float = 0.0

    @property
    def text(self) -> str:
        """The lines' text joined by newlines."""
        return "\n".join(line.text for line in self.lines)

    @property
    def chars(self) -> tuple[tuple[str, float], ...]:
        """Every line's ``(char, probability)``, in reading order (no newline entries)."""
        return tuple(c for line in self.lines for c in line.chars)

    @property
    def confidence(self) -> float:
        """The mean probability of all chars; for a reading without chars, the mean of the lines'
        confidences (0.0 without lines)."""
        probs = [p for _, p in self.chars]
        if probs:
            return float(np.mean(probs))
        return float(np.mean([line.confidence for line in self.lines])) if self.lines else 0.0


def expand_image_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories to the image files they hold (sorted by name, by extension).

    Raises:
        ImageError: if a path does not exist or a directory holds no image.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise ImageError(f"{p}: directory holds no image ({', '.join(IMAGE_EXTENSIONS)})")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise ImageError(f"{p}: no such file or directory")
    return out


class Recognizer:
    """A trained ShadowNet in any form (a :class:`~toolkit.backends.Backend`) with its charset,
    mapping line images to text.

    Args:
        backend: the model (:func:`toolkit.backends.open_backend`, or :meth:`from_model` for a
            Keras model in memory).
        batch_size: lines per forward pass.
        trim: crop each line to its ink rows first (:func:`toolkit.preprocess.trim_rows_tf`), so
            loose crops read like tight ones.
    """

    def __init__(self, backend: Backend, batch_size: int = 32, trim: bool = True):
        import tensorflow as tf

        self.backend = backend
        self.charset = backend.charset
        self.batch_size = batch_size
        self._prepare = tf.function(lambda grey: preprocess.prepare_tf(grey, trim=trim),
                                    input_signature=[tf.TensorSpec([None, None, 1], tf.uint8)])

    @classmethod
    def from_model(cls, model, charset: Charset, batch_size: int = 32, trim: bool = True) -> Recognizer:
        """A Keras ShadowNet ``(batch, 32, W, 1)`` float32 -> ``(batch, W / 4, num_classes)`` with the
        charset it was trained with (:class:`~toolkit.backends.KerasBackend`)."""
        return cls(KerasBackend(model, charset), batch_size=batch_size, trim=trim)

    @classmethod
    def from_weights(cls, weights_path: str | os.PathLike, batch_size: int = 32,
                     trim: bool = True) -> Recognizer:
        """Load a model directory or checkpoint (see :mod:`toolkit.checkpoints`), a SavedModel
        directory or a ``.tflite`` file (see :func:`toolkit.backends.open_backend`)."""
        return cls(open_backend(weights_path), batch_size=batch_size, trim=trim)

    def predict_batch(self, images, widths) -> tuple[np.ndarray, np.ndarray]:
        """images float32 ``(batch, 32, W, 1)`` and widths int ``(batch,)`` px -> ``(logits,
        valid time steps)`` (see :meth:`toolkit.backends.Backend.predict_batch`)."""
        return self.backend.predict_batch(images, widths)

    def _best_paths(self, images: Sequence[np.ndarray]
                    ) -> Iterator[tuple[list[int], np.ndarray, np.ndarray, np.ndarray]]:
        """Batches of the best paths of grey uint8 line images ``(h, w)`` (or ``(h, w, 1)``),
        sorted by scaled width so a batch is padded little.

        Yields:
            ``(indices, best, top, lengths)``: the batch's positions in ``images``, int ``(b, T)``
            classes, float ``(b, T)`` their probabilities, int ``(b,)`` valid time steps.
        """
        import tensorflow as tf

        prepared = []
        for img in images:
            arr = np.asarray(img, dtype=np.uint8)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            prepared.append(self._prepare(arr))
        order = sorted(range(len(prepared)), key=lambda i: int(prepared[i].shape[1]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            widths = [int(prepared[i].shape[1]) for i in idx]
            wmax = max(widths)
            batch = tf.stack([tf.pad(prepared[i], [[0, 0], [0, wmax - w], [0, 0]])
                              for i, w in zip(idx, widths)])
            best, top, lengths = self.backend.predict_path(batch, np.array(widths))
            yield idx, best, top, lengths

    def recognize(self, images: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Recognize grey uint8 line images ``(h, w)`` (or ``(h, w, 1)``).

        Images are sorted by their scaled width and batched, so a batch is padded little.

        Returns:
            One ``(text, confidence)`` per image, in input order; confidence in [0, 1] (see
            :func:`toolkit.ctc.greedy_decode`).
        """
        results: list[tuple[str, float] | None] = [None] * len(images)
        for idx, best, top, lengths in self._best_paths(images):
            decoded = collapse_path(best, top, lengths, self.charset.blank_index)
            for i, (ids, conf) in zip(idx, decoded):
                results[i] = (self.charset.decode(ids), conf)
        return results  # type: ignore[return-value]

    def read_lines(self, images: Sequence[np.ndarray]) -> list[LineReading]:
        """Like :meth:`recognize`, with each char's probability: one :class:`LineReading` per
        grey uint8 line image ``(h, w)``, in input order (``box`` is ``None``)."""
        results: list[LineReading | None] = [None] * len(images)
        for idx, best, top, lengths in self._best_paths(images):
            decoded = collapse_path_chars(best, top, lengths, self.charset.blank_index)
            for i, (ids, probs, conf) in zip(idx, decoded, strict=True):
                chars = tuple((self.charset.decode([k]), p)
                              for k, p in zip(ids, probs, strict=True))
                results[i] = LineReading("".join(c for c, _ in chars), conf, chars)
        return results  # type: ignore[return-value]

    def read_images(self, images: Sequence[np.ndarray], layout: str = "auto"
                    ) -> list[ImageReading]:
        """Read grey uint8 images ``(h, w)`` as lines or pages (see :data:`LAYOUTS`).

        Every line of every image goes through :meth:`read_lines` in one call, so the lines of
        many images share batches.

        Returns:
            One :class:`ImageReading` per image, in input order. With ``auto``, an image in which
            :func:`toolkit.layout.analyze_page` finds at most one line is read whole, as with
            ``line``.

        Raises:
            ValueError: for a ``layout`` not in :data:`LAYOUTS`.
        """
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        plans = [self._plan(np.asarray(img, dtype=np.uint8), layout) for img in images]
        readings = iter(self.read_lines([crop for _, crops, _ in plans for crop in crops]))
        out = []
        for page, crops, skew in plans:
            lines = [next(readings) for _ in crops]
            if page is not None:
                lines = [LineReading(r.text, r.confidence, r.chars,
                                     (box.left, box.top, box.right, box.bottom))
                         for r, box in zip(lines, page.lines, strict=True)]
            out.append(ImageReading("page" if page is not None else "line", tuple(lines), skew))
        return out

    @staticmethod
    def _plan(grey: np.ndarray, layout: str):
        """``(page layout or None, images to read, skew)`` of one image (:meth:`read_images`)."""
        if grey.ndim == 3:
            grey = grey[:, :, 0]
        if layout == "line":
            return None, [grey], 0.0
        page = page_layout.analyze_page(grey)
        if layout == "auto" and len(page.lines) <= 1:
            return None, [grey], 0.0
        return page, list(page.crops), page.skew


@dataclass(frozen=True)
class DemoResult:
    """One image of a :func:`demo` run.

    Attributes:
        path: the image file.
        text: what the model read; ``""`` if nothing (or if the image could not be read).
        confidence: in [0, 1], the mean probability of the chars read
            (:func:`toolkit.ctc.collapse_path`); 0.0 when nothing was read.
        error: why the image could not be read (names the file), ``""`` if it was.
    """

    path: Path
    text: str
    confidence: float
    error: str = ""

    @property
    def blank(self) -> bool:
        """True if the image was read and the model found no char in it."""
        return not self.error and not self.text


DEMO_TSV_HEADER = ("path", "text", "confidence", "blank", "error")
"""Columns of :func:`demo_tsv_row` (the header line of ``demo --output``)."""


def demo_tsv_row(result: DemoResult) -> str:
    """``path<TAB>text<TAB>confidence<TAB>blank<TAB>error`` (no line end): confidence with 4
    decimals and empty for an unreadable image, blank ``1`` or ``0``, tabs and line ends in the
    error message replaced by spaces."""
    conf = "" if result.error else f"{result.confidence:.4f}"
    error = " ".join(result.error.split())
    return "\t".join([str(result.path), result.text, conf, str(int(result.blank)), error])


def demo(image_paths: Sequence[str | os.PathLike], weights_path: str | os.PathLike,
         batch_size: int = 32, layout: str = "auto") -> list[DemoResult]:
    """The demo stage: recognize image files (directories expand to their images).

    An image that cannot be read (missing, not an image, truncated, over the pixel limit) does
    not stop the others: its result carries the error (see :func:`load_image`) and is logged
    at WARNING.

    Args:
        layout: one of :data:`LAYOUTS`: read each image as a line, as a page, or as a page when
            more than one line is found in it.

    Returns:
        :class:`DemoResult` s in the order given (directories sorted by name): one per image read
        as a line or that could not be read, one per line found (top to bottom) for an image read
        as a page (one with empty text and confidence 0.0 if none is).

    Raises:
        ImageError: if a given path does not exist or a directory holds no image.
        CheckpointError: for a bad weights path (only if some image could be read).
        ValueError: for a ``layout`` not in :data:`LAYOUTS`.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    paths = expand_image_paths(image_paths)
    images: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            images[i] = load_image(path)
        except ImageError as e:
            errors[i] = str(e)
            logger.warning("%s", e)
    read: dict[int, list[tuple[str, float]]] = {}
    if images:
        recognizer = Recognizer.from_weights(weights_path, batch_size=batch_size)
        if layout == "line":
            readings = [[r] for r in recognizer.recognize(list(images.values()))]
        else:
            readings = [[(line.text, line.confidence) for line in reading.lines] or [("", 0.0)]
                        for reading in recognizer.read_images(list(images.values()), layout)]
        read = dict(zip(images, readings, strict=True))
    return [r for i, p in enumerate(paths)
            for r in ([DemoResult(p, t, c) for t, c in read[i]] if i in read
                      else [DemoResult(p, "", 0.0, errors[i])])]


def demo_lines(results: Sequence[DemoResult]) -> list[str]:
    """``path<TAB>text<TAB>confidence`` (4 decimals) per image that was read (what ``demo``
    prints; the unreadable ones are reported on stderr)."""
    return [f"{r.path}\t{r.text}\t{r.confidence:.4f}" for r in results if not r.error]


def write_demo_tsv(path: str | os.PathLike, results: Sequence[DemoResult]) -> None:
    """Write :func:`demo` results as a TSV file, a row per image (:func:`demo_tsv_row`) under a
    :data:`DEMO_TSV_HEADER` line, atomically; the folder is created if needed."""
    lines = ["\t".join(DEMO_TSV_HEADER), *map(demo_tsv_row, results)]
    atomic_write_text(path, "".join(line + "\n" for line in lines), make_parents=True)
