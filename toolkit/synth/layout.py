"""Where the synthesis stage puts its files: image paths, and the shard folders of a job array."""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.shards import check_shard, shard_name

SHARDS_DIR = "shards"


def image_relpath(index: int, image_format: str) -> str:
    """Return the path of image ``index`` relative to the output dir, ``images/0000/00000012.jpg``."""
    return f"images/{index // 1000:04d}/{index:08d}.{image_format}"


def shard_range(num_images: int, shard_index: int, num_shards: int) -> range:
    """Image indices of shard ``shard_index`` of ``num_shards``: the contiguous block
    ``[num_images * I // N, num_images * (I + 1) // N)``. The blocks of ``I = 0..N-1`` cover
    ``range(num_images)`` once, in order, and differ in size by at most one.

    Raises:
        TypeError: if either is not an int.
        ValueError: unless ``num_shards >= 1`` and ``0 <= shard_index < num_shards``.
    """
    check_shard(shard_index, num_shards)
    return range(num_images * shard_index // num_shards, num_images * (shard_index + 1) // num_shards)


def shard_dir(output_dir: str | os.PathLike[str], shard_index: int, num_shards: int) -> Path:
    """Where shard ``I`` of ``N`` writes its lists: ``<output_dir>/shards/<IIIII>-of-<NNNNN>``."""
    return Path(output_dir) / SHARDS_DIR / shard_name(shard_index, num_shards)
