"""Recognition of line images with a trained model (the demo stage), batched by width.

Any image is accepted: any size, grey or colour, palette, alpha or 16-bit; it is converted to grey
and scaled to height 32 keeping its aspect ratio by the same function training used
(:func:`toolkit.preprocess.prepare_tf`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit import preprocess
from toolkit.backends import Backend, KerasBackend, open_backend
from toolkit.charset import Charset
from toolkit.ctc import collapse_path
from toolkit.images import open_image
from toolkit.io import atomic_write_text
from toolkit.labels import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)


class ImageError(ValueError):
    """An image file that cannot be read as a line image."""


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

    def recognize(self, images: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Recognize grey uint8 line images ``(h, w)`` (or ``(h, w, 1)``).

        Images are sorted by their scaled width and batched, so a batch is padded little.

        Returns:
            One ``(text, confidence)`` per image, in input order; confidence in [0, 1] (see
            :func:`toolkit.ctc.greedy_decode`).
        """
        import tensorflow as tf

        prepared = []
        for img in images:
            arr = np.asarray(img, dtype=np.uint8)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            prepared.append(self._prepare(arr))
        order = sorted(range(len(prepared)), key=lambda i: int(prepared[i].shape[1]))
        results: list[tuple[str, float] | None] = [None] * len(prepared)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            widths = [int(prepared[i].shape[1]) for i in idx]
            wmax = max(widths)
            batch = tf.stack([tf.pad(prepared[i], [[0, 0], [0, wmax - w], [0, 0]])
                              for i, w in zip(idx, widths)])
            best, top, lengths = self.backend.predict_path(batch, np.array(widths))
            decoded = collapse_path(best, top, lengths, self.charset.blank_index)
            for i, (ids, conf) in zip(idx, decoded):
                results[i] = (self.charset.decode(ids), conf)
        return results  # type: ignore[return-value]


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
         batch_size: int = 32) -> list[DemoResult]:
    """The demo stage: recognize image files (directories expand to their images).

    An image that cannot be read (missing, not an image, truncated, over the pixel limit) does
    not stop the others: its result carries the error (see :func:`load_image`) and is logged
    at WARNING.

    Returns:
        One :class:`DemoResult` per image, in the order given (directories sorted by name).

    Raises:
        ImageError: if a given path does not exist or a directory holds no image.
        CheckpointError: for a bad weights path (only if some image could be read).
    """
    paths = expand_image_paths(image_paths)
    images: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            images[i] = load_image(path)
        except ImageError as e:
            errors[i] = str(e)
            logger.warning("%s", e)
    read: dict[int, tuple[str, float]] = {}
    if images:
        recognizer = Recognizer.from_weights(weights_path, batch_size=batch_size)
        read = dict(zip(images, recognizer.recognize(list(images.values())), strict=True))
    return [DemoResult(p, *read[i]) if i in read else DemoResult(p, "", 0.0, errors[i])
            for i, p in enumerate(paths)]


def demo_lines(results: Sequence[DemoResult]) -> list[str]:
    """``path<TAB>text<TAB>confidence`` (4 decimals) per image that was read (what ``demo``
    prints; the unreadable ones are reported on stderr)."""
    return [f"{r.path}\t{r.text}\t{r.confidence:.4f}" for r in results if not r.error]


def write_demo_tsv(path: str | os.PathLike, results: Sequence[DemoResult]) -> None:
    """Write :func:`demo` results as a TSV file, a row per image (:func:`demo_tsv_row`) under a
    :data:`DEMO_TSV_HEADER` line, atomically; the folder is created if needed."""
    lines = ["\t".join(DEMO_TSV_HEADER), *map(demo_tsv_row, results)]
    atomic_write_text(path, "".join(line + "\n" for line in lines), make_parents=True)
