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

from toolkit.charset import normalize_text


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


def collapse_path_chars(best: np.ndarray, top: np.ndarray, lengths,
                        blank_index: int) -> list[tuple[list[int], list[float], float]]:
    """The CTC collapse of best paths, keeping each emitted char's probability.

    Repeated classes are merged and blanks removed.

    Args:
        best: int ``(batch, T)`` class per time step (see :func:`best_path`).
        top: float ``(batch, T)`` its probability.
        lengths: int ``(batch,)`` valid time steps per line (``<= T``).
        blank_index: class index of the CTC blank.

    Returns:
        Per line, ``(class indices, char probabilities, confidence)``: a char's probability is the
        largest softmax probability over its run of repeated time steps; the confidence is their
        mean, and 0.0 for an empty result (no char was read: the blanks' own probability says how
        sure the model is that there is nothing, not how well it read text).
    """
    out = []
    for b in range(best.shape[0]):
        n = int(lengths[b])
        path = best[b, :n]
        ids: list[int] = []
        probs: list[float] = []
        prev = -1
        for t, k in enumerate(path):
            k = int(k)
            if k != prev and k != blank_index:
                ids.append(k)
                probs.append(float(top[b, t]))
            elif k == prev and k != blank_index and probs:
                probs[-1] = max(probs[-1], float(top[b, t]))
            prev = k
        c = float(np.mean(probs)) if probs else 0.0
        out.append((ids, probs, c))
    return out


def collapse_path(best: np.ndarray, top: np.ndarray, lengths,
                  blank_index: int) -> list[tuple[list[int], float]]:
    """The CTC collapse of best paths: repeated classes merged, blanks removed.

    Args:
        best, top, lengths, blank_index: as for :func:`collapse_path_chars`.

    Returns:
        Per line, ``(class indices, confidence)``: confidence is the mean probability of the
        emitted chars (the largest over a run of repeats), and 0.0 for an empty result.
    """
    return [(ids, c) for ids, _, c in collapse_path_chars(best, top, lengths, blank_index)]


def greedy_decode(logits: np.ndarray, lengths, blank_index: int) -> list[tuple[list[int], float]]:
    """Best-path (greedy) CTC decoding: :func:`best_path` then :func:`collapse_path`.

    Args:
        logits: float ``(batch, T, num_classes)`` unnormalized scores.
        lengths: int ``(batch,)`` valid time steps per line (``<= T``).
        blank_index: class index of the CTC blank (the toolkit uses the last one).

    Returns:
        Per line, ``(class indices, confidence)``: repeated classes merged, blanks removed;
        confidence is the mean softmax probability of the emitted chars, 0.0 for an empty
        result (see :func:`collapse_path`).
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
        of the highest softmax probability within the char's run of steps; 0 when nothing is
        emitted (see :func:`collapse_path`).
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
    confidence = tf.math.divide_no_nan(tf.reduce_sum(char_conf, axis=1), n_emit)  # 0 if none
    return ids, confidence


def ids_to_text_tf(ids, charset):
    """Ragged int32 class ids ``(batch, None)`` -> UTF-8 string ``(batch,)``, with the chars of
    ``charset`` (a :class:`toolkit.charset.Charset`, its ``chars`` in class order) as a graph
    constant, each folded as :meth:`toolkit.charset.Charset.decode` folds it
    (:func:`toolkit.charset.normalize_text`)."""
    import tensorflow as tf

    table = tf.constant([normalize_text(c) for c in charset.chars], dtype=tf.string)
    return tf.strings.reduce_join(tf.gather(table, ids), axis=-1)
