"""CTC decoding: greedy (best-path) decoding of ShadowNet logits, in NumPy and in TensorFlow.

The blank is an explicit argument (the toolkit's charset puts it last, ``num_classes - 1``, see
:mod:`toolkit.charset`). A best path is the most probable class per time step; its CTC collapse
merges repeated classes and then removes the blanks (Graves et al., 2006). The NumPy decoders
(:func:`best_path`, :func:`collapse_path`, :func:`greedy_decode`) score and print predictions; the
TensorFlow ones (:func:`best_path_tf`, :func:`greedy_decode_tf`, :func:`ids_to_text_tf`) run inside
a graph (the Keras backend, an exported SavedModel) and give the same ids and confidences up to
float32 rounding. TensorFlow is imported only by the TensorFlow decoders.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax over ``axis`` (float64 out)."""
    z = logits.astype(np.float64) - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def best_path(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most probable class per time step and its softmax probability.

    Args:
        logits: float ``(batch, T, num_classes)`` unnormalized scores.

    Returns:
        ``(best, top)``: int ``(batch, T)`` argmax classes and float32 ``(batch, T)`` their softmax
        probabilities, ``1 / sum(exp(logits - max))`` (no full softmax is materialized).
    """
    logits = np.asarray(logits, dtype=np.float32)
    best = logits.argmax(-1)
    z = logits - logits.max(-1, keepdims=True)
    np.exp(z, out=z)
    return best, 1.0 / z.sum(-1)


def collapse_path(best: np.ndarray, top: np.ndarray, lengths,
                  blank_index: int) -> list[tuple[list[int], float]]:
    """The CTC collapse of best paths: repeated classes merged, blanks removed.

    Args:
        best: int ``(batch, T)`` class per time step (see :func:`best_path`).
        top: float ``(batch, T)`` its probability.
        lengths: int ``(batch,)`` valid time steps per line (``<= T``).
        blank_index: class index of the CTC blank.

    Returns:
        Per line, ``(class indices, confidence)``: confidence is the mean probability of the
        emitted chars (the largest over a run of repeats), or, for an empty result, the mean blank
        probability (1.0 when the blanks are certain).
    """
    out = []
    for b in range(best.shape[0]):
        n = int(lengths[b])
        path = best[b, :n]
        ids: list[int] = []
        conf: list[float] = []
        prev = -1
        for t, k in enumerate(path):
            k = int(k)
            if k != prev and k != blank_index:
                ids.append(k)
                conf.append(float(top[b, t]))
            elif k == prev and k != blank_index and conf:
                conf[-1] = max(conf[-1], float(top[b, t]))
            prev = k
        c = float(np.mean(conf)) if conf else float(np.mean(top[b, :n])) if n else 0.0
        out.append((ids, c))
    return out


def greedy_decode(logits: np.ndarray, lengths, blank_index: int) -> list[tuple[list[int], float]]:
    """Best-path (greedy) CTC decoding: :func:`best_path` then :func:`collapse_path`.

    Args:
        logits: float ``(batch, T, num_classes)`` unnormalized scores.
        lengths: int ``(batch,)`` valid time steps per line (``<= T``).
        blank_index: class index of the CTC blank (the toolkit uses the last one).

    Returns:
        Per line, ``(class indices, confidence)``: repeated classes merged, blanks removed;
        confidence is the mean softmax probability of the emitted chars (1.0 for an empty result
        whose blanks are certain: then the mean blank probability is used).
    """
    best, top = best_path(logits)
    return collapse_path(best, top, lengths, blank_index)


def best_path_tf(logits):
    """The graph twin of :func:`best_path`: argmax class and its softmax probability per step.

    Args:
        logits: float32 ``(batch, T, num_classes)`` tensor.

    Returns:
        ``(best, top)``: int32 ``(batch, T)`` and float32 ``(batch, T)`` tensors.
    """
    import tensorflow as tf

    top = tf.exp(tf.reduce_max(logits, -1) - tf.reduce_logsumexp(logits, -1))
    return tf.argmax(logits, -1, output_type=tf.int32), top


def greedy_decode_tf(logits, lengths, blank_index: int):
    """Greedy (best-path) CTC decoding in TensorFlow; the graph twin of
    :func:`greedy_decode` (same ids, same confidence up to float32 rounding).

    Args:
        logits: float32 ``(batch, T, num_classes)``.
        lengths: int32 ``(batch,)`` valid time steps per line (``<= T``).
        blank_index: class index of the CTC blank.

    Returns:
        ``(ids, confidence)``: ``ids`` an int32 ``tf.RaggedTensor`` ``(batch, None)`` (repeats
        merged, blanks removed); ``confidence`` float32 ``(batch,)``, the mean over emitted chars
        of the highest softmax probability within the char's run of steps (the mean top
        probability of the valid steps when nothing is emitted; 0 for a line of 0 steps).
    """
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    probs = tf.nn.softmax(logits, axis=-1)
    best = tf.argmax(probs, axis=-1, output_type=tf.int32)           # (b, T)
    top = tf.reduce_max(probs, axis=-1)                               # (b, T)
    b, t = tf.shape(best)[0], tf.shape(best)[1]
    valid = tf.sequence_mask(lengths, t)
    prev = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    starts = tf.not_equal(best, prev)                                 # first step of each run
    emit = starts & tf.not_equal(best, blank_index) & valid
    ids = tf.ragged.boolean_mask(best, emit)
    # Confidence of a char: max top probability over the valid steps of its run.
    run = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1 + tf.range(b)[:, None] * t
    top_valid = tf.where(valid, top, tf.zeros_like(top))
    run_max = tf.math.unsorted_segment_max(tf.reshape(top_valid, [-1]), tf.reshape(run, [-1]),
                                           b * t)
    char_conf = tf.where(emit, tf.gather(run_max, run), tf.zeros_like(top))
    n_emit = tf.reduce_sum(tf.cast(emit, tf.float32), axis=1)
    n_valid = tf.cast(tf.minimum(lengths, t), tf.float32)
    fallback = tf.math.divide_no_nan(tf.reduce_sum(top_valid, axis=1), n_valid)
    confidence = tf.where(n_emit > 0,
                          tf.math.divide_no_nan(tf.reduce_sum(char_conf, axis=1), n_emit), fallback)
    return ids, confidence


def ids_to_text_tf(ids, charset):
    """Ragged int32 class ids ``(batch, None)`` -> UTF-8 string ``(batch,)``, with the chars of
    ``charset`` (a :class:`toolkit.charset.Charset`, its ``chars`` in class order) as a graph
    constant."""
    import tensorflow as tf

    table = tf.constant(list(charset.chars), dtype=tf.string)
    return tf.strings.reduce_join(tf.gather(table, ids), axis=-1)
