"""Recognition of line images with a trained model (the demo stage), batched by width.

Any image is accepted: any size, grey or colour, palette, alpha or 16-bit; it is converted to grey
and scaled to height 32 keeping its aspect ratio by the same function training used
(:func:`toolkit.preprocess.prepare_tf`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from toolkit import preprocess
from toolkit.backends import Backend, KerasBackend, open_backend
from toolkit.charset import Charset
from toolkit.ctc import collapse_path
from toolkit.io import atomic_write_text
from toolkit.labels import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)


class ImageError(ValueError):
    """An image file that cannot be read as a line image."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a grey uint8 array ``(height, width)``.

    Raises:
        ImageError: if the file is missing, not an image, truncated, or has zero size; the message
            names the file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
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


def demo(image_paths: Sequence[str | os.PathLike], weights_path: str | os.PathLike,
         batch_size: int = 32) -> list[tuple[Path, str, float]]:
    """The demo stage: recognize image files (directories expand to their images).

    Returns:
        ``(path, text, confidence)`` per image, in the order given (directories sorted by name).

    Raises:
        ImageError: for a missing or unreadable image (names the file).
        CheckpointError: for a bad weights path.
    """
    paths = expand_image_paths(image_paths)
    images = [load_image(p) for p in paths]
    recognizer = Recognizer.from_weights(weights_path, batch_size=batch_size)
    return [(p, t, c) for p, (t, c) in zip(paths, recognizer.recognize(images))]


def demo_lines(rows: Sequence[tuple[Path, str, float]]) -> list[str]:
    """``path<TAB>text<TAB>confidence`` (4 decimals) per :func:`demo` result."""
    return [f"{p}\t{t}\t{c:.4f}" for p, t, c in rows]


def write_demo_tsv(path: str | os.PathLike, rows: Sequence[tuple[Path, str, float]]) -> None:
    """Write :func:`demo` results as a TSV file with a ``path text confidence`` header
    (:func:`demo_lines`), atomically; the folder is created if needed."""
    atomic_write_text(path, "path\ttext\tconfidence\n" + "".join(line + "\n" for line in demo_lines(rows)),
                      make_parents=True)
