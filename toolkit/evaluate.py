"""The test-shadownet stage: score a trained model on a record split.

Prints CER, line accuracy, the seeds' per-char accuracy and the count (see :mod:`toolkit.metrics`).
Ground truth is the label text stored in each record, so a record set written with another char
dict can still be scored (chars the model does not know count as errors).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from tqdm import tqdm

from toolkit import records
from toolkit.metrics import Scores, score_batches
from toolkit.predict import Recognizer

logger = logging.getLogger(__name__)


def test_shadownet(dataset_dir: str | os.PathLike, weights_path: str | os.PathLike,
                   split: str = "test", batch_size: int = 32,
                   on_line: Callable[[str, str, str], None] | None = None,
                   progress: bool = True) -> Scores:
    """Greedy-decode every line of a record split and score it.

    Args:
        dataset_dir: a record directory written by write-tfrecords.
        weights_path: a model directory or checkpoint, a SavedModel directory or a ``.tflite``
            file (see :func:`toolkit.backends.open_backend`).
        split: ``test`` (default), ``validation`` or ``train``.
        batch_size: lines per forward pass.
        on_line: called with ``(image name, ground truth, prediction)`` for every line.

    Returns:
        The accumulated :class:`~toolkit.metrics.Scores`.

    Raises:
        DatasetError: if the record set or split is missing, or a shard is corrupt or truncated
            (names the shard and the record).
        CheckpointError: for a bad weights path.
    """
    import tensorflow as tf

    meta = records.read_metadata(dataset_dir)
    recognizer = Recognizer.from_weights(weights_path, batch_size=batch_size)
    charset = recognizer.charset
    if meta["charset"]["sha256"] != charset.sha256:
        logger.warning("%s was written with another char dict than the model's; scoring by text",
                       dataset_dir)
    ds = records.make_dataset(dataset_dir, split, batch_size, training=False)
    total = meta["counts"].get(split, 0)
    with tqdm(total=total, desc="test-shadownet", unit="line", disable=not progress) as bar:
        try:
            return score_batches(recognizer.predict_batch, ds, charset, on_line=on_line, bar=bar)
        except tf.errors.DataLossError as err:
            raise records.damaged_records_error(dataset_dir, (split,), err) from None
