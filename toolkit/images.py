"""Opening image files: every image the toolkit reads goes through :func:`open_image`, which
refuses images with more pixels than a limit before they are decoded.

A decompression bomb is a small file that decodes to a huge image (a 40000 x 40000 1-bit PNG is
280 KB on disk and 1.6 G pixels, 1.6 GB as the 8-bit grey array the toolkit makes of it).
Pillow's own guard (``PIL.Image.MAX_IMAGE_PIXELS``, 89,478,485 px) only warns up to twice that
and raises an exception of its own above it; :func:`open_image` applies the toolkit's lower
limit, :data:`MAX_PIXELS`, to the size in the file's header and raises :class:`ImageTooLargeError`
(a ``ValueError``, so callers report it like any other bad image).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

MAX_PIXELS = 50_000_000
"""The most pixels (width x height) an image may have. A line image is far smaller (the model reads
lines at 32 px high, at most 2048 px wide); a page scanned at 600 dpi (A4, 4960 x 7016) is 35 M
px. At 50 M px, the grey array is 50 MB and the float32 model input made from it 200 MB."""


class ImageTooLargeError(ValueError):
    """An image with more pixels than allowed (:data:`MAX_PIXELS`), refused before decoding.

    Attributes:
        width, height: the size its header gives, px (0 if Pillow refused it before saying).
        max_pixels: the limit that was applied.
    """

    def __init__(self, message: str, width: int, height: int, max_pixels: int):
        super().__init__(message)
        self.width = width
        self.height = height
        self.max_pixels = max_pixels


def header_size(data: bytes) -> tuple[str, int, int] | None:
    """``(format, width, height)`` read from the first bytes of a PNG, GIF or BMP file (26 bytes
    are enough), or ``None`` for another format or too few bytes. For messages only: the
    image's own decoder is the judge of its size."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return "PNG", w, h
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return "GIF", w, h
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return "BMP", w, abs(h)
    except struct.error:
        return None
    return None


def _too_large(width: int, height: int, max_pixels: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"image too large: {width}x{height} px = {width * height:,} px, over the limit of "
        f"{max_pixels:,} px (a decompression bomb, or a page far larger than a line)",
        width, height, max_pixels)


@contextmanager
def open_image(source: str | os.PathLike[str] | bytes,
               max_pixels: int = MAX_PIXELS) -> Iterator[Image.Image]:
    """Open an image file (a path) or encoded image bytes with Pillow, lazily, as a context
    manager: ``with open_image(path) as im: im.load()``.

    Only the header has been read when the image is handed over, so the pixel check costs
    nothing for an image that is refused. Pillow's decompression-bomb warning is silenced here
    (this function applies its own limit).

    Args:
        source: a file path, or the bytes of an encoded image.
        max_pixels: the limit, pixels (width x height); default :data:`MAX_PIXELS`.

    Raises:
        ImageTooLargeError: if ``width * height > max_pixels`` (the message gives the size and
            the limit, not the file: callers add it).
        FileNotFoundError, PIL.UnidentifiedImageError, OSError: as :func:`PIL.Image.open`.
    """
    fp = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Image.DecompressionBombError as e:  # above twice Pillow's own limit
        if isinstance(fp, Path):
            with fp.open("rb") as f:
                head = f.read(32)
        else:
            head = source[:32]
        size = header_size(head)
        if size is not None:
            raise _too_large(size[1], size[2], max_pixels) from None
        raise ImageTooLargeError(f"image too large: {e} (the toolkit's limit is {max_pixels:,} "
                                 f"px)", 0, 0, max_pixels) from None
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise _too_large(width, height, max_pixels)
        yield im
