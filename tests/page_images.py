"""Synthetic line and page images for the layout, serve and web page tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from conftest import TINY_FONT
from PIL import Image, ImageDraw, ImageFont

# Lines of the tiny font's chars, of different lengths so that a line's crop width tells which
# line it is; the empty string is a blank line.
PAGE_LINES = ["春风明月天人山水花", "江河日夜秋雨落长白云", "", "山水花云江河日",
              "天人花云水山河月明春风秋"]


def render_page(lines, font_path: Path = TINY_FONT, size: int = 28, pitch: int = 40,
                width: int | None = None, rotate: float = 0.0, margin: int = 24) -> Image.Image:
    """Black text on white, one line every ``pitch`` px, rotated counter-clockwise by
    ``rotate`` degrees (corners filled white)."""
    font = ImageFont.truetype(str(font_path), size)
    width = width or margin * 2 + max(int(font.getlength(t)) for t in lines if t)
    im = Image.new("L", (width, margin * 2 + pitch * len(lines)), 255)
    draw = ImageDraw.Draw(im)
    for i, text in enumerate(lines):
        draw.text((margin, margin + pitch * i), text, font=font, fill=0)
    if rotate:
        im = im.rotate(rotate, resample=Image.BICUBIC, expand=True, fillcolor=255)
    return im


def grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.uint8)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()
