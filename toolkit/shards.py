"""Job-array sharding shared by gen-images and write-tfrecords: which part of the work job ``I`` of
``N`` does, and finding the ``<I>-of-<N>`` pieces the jobs left for the merge step.

A job array (Slurm ``--array=0-7``, a Kubernetes Indexed Job with ``completions: 8``...) runs the
same command ``N`` times with ``--shard-index I --num-shards N``; each job writes only its part,
named ``...<IIIII>-of-<NNNNN>...``, and ``crnn-toolkit merge-shards DIR`` joins them when all are
done. Nothing here talks to a scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_NAME = re.compile(r"(\d+)-of-(\d+)")


def check_shard(shard_index: int, num_shards: int) -> None:
    """Check a job's place in its array.

    Raises:
        TypeError: if either is not an int.
        ValueError: unless ``num_shards >= 1`` and ``0 <= shard_index < num_shards``.
    """
    for name, value in (("shard_index", shard_index), ("num_shards", num_shards)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer, got {value!r}")
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"need num_shards >= 1 and 0 <= shard_index < num_shards, got shard_index "
                         f"{shard_index!r}, num_shards {num_shards!r}")


def shard_name(shard_index: int, num_shards: int) -> str:
    """``"00002-of-00008"`` for shard 2 of 8."""
    return f"{shard_index:05d}-of-{num_shards:05d}"


def find_shards(paths: Iterable[Path], root: Path, what: str) -> tuple[int, dict[int, Path]]:
    """Sort the finished pieces of a job array by shard index.

    Args:
        paths: the pieces (e.g. ``root.glob(...)``); the first ``<I>-of-<N>`` in each path
            relative to ``root`` names its shard.
        root: for messages and relative names.
        what: ``"gen-images"`` or ``"write-tfrecords"``, for messages.

    Returns:
        ``(N, {I: path})`` with every ``I`` in ``0..N-1``.

    Raises:
        ValueError: if there is no piece, pieces of several ``N`` (an older run's; the message
            lists them), or some ``I`` is missing (job not run or not finished; listed).
    """
    found: dict[int, dict[int, Path]] = {}
    for p in paths:
        m = _NAME.search(str(Path(p).relative_to(root)))
        if m:
            found.setdefault(int(m.group(2)), {})[int(m.group(1))] = Path(p)
    if not found:
        raise ValueError(f"{root}: no finished {what} shards to merge")
    if len(found) > 1:
        runs = ", ".join(f"{len(v)} of N={n}" for n, v in sorted(found.items()))
        raise ValueError(f"{root}: {what} shards of several runs ({runs}); delete the stale ones "
                         f"and merge again")
    count, shards = next(iter(found.items()))
    missing = [i for i in range(count) if i not in shards]
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ValueError(f"{root}: {what} shard(s) {missing[:10]}{more} of {count} missing or "
                         f"unfinished; run them (same arguments, --shard-index I --num-shards "
                         f"{count}) and merge again")
    return count, shards
