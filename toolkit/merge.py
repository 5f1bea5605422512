"""``merge-shards``: join the output of a job array of gen-images or write-tfrecords (see
:mod:`toolkit.shards`), whichever a directory holds."""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.records import JOB_METADATA_GLOB, WriteReport, merge_record_shards
from toolkit.synth import SHARDS_DIR, GenSummary, merge_gen_shards


class NothingToMergeError(ValueError):
    """A directory that holds neither gen-images shards nor write-tfrecords job files."""


def merge_shards(directory: str | os.PathLike[str]) -> GenSummary | WriteReport:
    """Merge a gen-images ``--output-dir`` (its ``shards/*-of-N``, :func:`toolkit.synth.merge_gen_shards`)
    or a write-tfrecords ``--save-dir`` (its ``metadata.shard-*-of-N.json`` job files,
    :func:`toolkit.records.merge_record_shards`).

    Returns:
        The merge's summary (both kinds have a ``format()`` method).

    Raises:
        NothingToMergeError: if ``directory`` holds neither.
        ValueError: from the merge (e.g. a shard missing; :class:`toolkit.records.DatasetError` for
            records).
    """
    directory = Path(directory)
    if (directory / SHARDS_DIR).is_dir():
        return merge_gen_shards(directory)
    if any(directory.glob(JOB_METADATA_GLOB)):
        return merge_record_shards(directory)
    raise NothingToMergeError(f"{directory}: neither gen-images shards ({SHARDS_DIR}/) nor "
                              f"write-tfrecords jobs ({JOB_METADATA_GLOB}) to merge")
