"""The contact sheet of a generated dataset (``preview.png``): its first images with their labels."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from toolkit.fonts import FontFace
from toolkit.images import open_image
from toolkit.io import atomic_write_bytes
from toolkit.synth.layout import image_relpath
from toolkit.synth.render import truetype

PREVIEW_COUNT = 24
_PREVIEW_COLUMNS = 2
_PREVIEW_MAX_WIDTH = 480
_PREVIEW_LABEL_PX = 20


def _label_face(label: str, faces: Sequence[FontFace]) -> FontFace | None:
    return next((f for f in faces if f.covers(label)), None)


def write_preview(
    output_dir: Path, written: Sequence[tuple[int, str]], faces: Sequence[FontFace], image_format: str
) -> Path:
    """Contact sheet of the first images (as saved) with each label drawn beneath in a covering face."""
    items = list(written[:PREVIEW_COUNT])
    tiles = []
    for index, _ in items:
        with open_image(output_dir / image_relpath(index, image_format)) as im:
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
            font = truetype(str(face.render_path), face.index, _PREVIEW_LABEL_PX)
            draw.text((x0 + 60, y_label), label, font=font, fill=0)
    path = output_dir / "preview.png"
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue(), make_parents=True)
    return path
