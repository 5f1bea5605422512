"""Image preprocessing shared by training, evaluation, prediction and export.

One function turns a decoded grey line image into the model's input, so a model sees the same
pixels in training and in use (the most common cause of "worse after export" in this field).

Model input: ``(batch, 32, width, 1)`` float32 in [0, 1] with **ink high and paper 0**
(``x = 1 - grey / 255``); width is a multiple of :data:`WIDTH_MULTIPLE` and at least
:data:`MIN_WIDTH` px; the image keeps its aspect ratio (scaled to height 32, never stretched) and
batches are right-padded with 0 (= paper). Light-on-dark lines are inverted first (decided from the
mean grey level of the border pixels). Time steps = width / 4.
"""

from __future__ import annotations

import math

import numpy as np

HEIGHT = 32
"""Model input height in px (CRNN paper; REFERENCE.md)."""
WIDTH_MULTIPLE = 4
"""ShadowNet reduces the width by 4 (two 2x2 poolings), so one time step covers 4 px."""
MIN_WIDTH = 8
"""Narrowest input, px (2 time steps)."""
MAX_WIDTH = 2048
"""Widest input, px (512 time steps); wider lines are scaled down to this width."""
TRIM_PAD = 0.15
"""Rows kept above and below the ink when trimming a line (:func:`trim_rows_tf`), as a fraction
of the ink's height. Chosen on the held-out set (release run, step 19,000): 0.10, 0.15 and 0.25
gave CER 0.110 / 0.103 / 0.103 on its Pillow part and 0.105 / 0.102 / 0.108 on its pango part,
against 0.103 and 0.143 untrimmed."""
TRIM_MIN_FRACTION = 0.5
"""A trimmed line keeps at least this fraction of its height (a line of flat strokes such as
``一一`` is not blown up to a sliver)."""


def scaled_width(width: int, height: int, target_height: int = HEIGHT) -> int:
    """Width in px of a ``width x height`` image after scaling to ``target_height`` and padding.

    The result is rounded up to a multiple of :data:`WIDTH_MULTIPLE`, at least :data:`MIN_WIDTH`
    and at most :data:`MAX_WIDTH`.

    Raises:
        ValueError: if ``width`` or ``height`` is not positive.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got width={width} height={height}")
    w = max(1, int(round(width * target_height / height)))
    w = min(w, MAX_WIDTH)
    w = int(math.ceil(w / WIDTH_MULTIPLE) * WIDTH_MULTIPLE)
    return max(MIN_WIDTH, w)


def time_steps(width: int, height: int, target_height: int = HEIGHT) -> int:
    """Number of CTC time steps ShadowNet produces for a ``width x height`` image."""
    return scaled_width(width, height, target_height) // WIDTH_MULTIPLE


def ctc_min_steps(label_ids) -> int:
    """Minimum time steps CTC needs for a label: its length plus one blank per repeated neighbour."""
    n = len(label_ids)
    repeats = sum(1 for a, b in zip(label_ids, label_ids[1:]) if a == b)
    return n + repeats


def to_grey_array(image) -> np.ndarray:
    """Convert a PIL image of any mode to a ``(height, width)`` uint8 grey array.

    Palette images are converted through RGBA; transparency is composited on white; 16-bit and
    32-bit integer images are scaled by their maximum; float images are assumed in [0, 1] or
    [0, 255].

    Raises:
        ValueError: if the image has zero width or height.
    """
    from PIL import Image

    if image.width == 0 or image.height == 0:
        raise ValueError(f"image has zero size ({image.width}x{image.height})")
    mode = image.mode
    if mode in ("P", "PA"):
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        bg = Image.new("RGBA", image.size, (255, 255, 255, 255))
        bg.alpha_composite(image.convert("RGBA"))
        return np.asarray(bg.convert("L"), dtype=np.uint8)
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        top = arr.max()
        if mode == "F" and top <= 1.0:
            arr = arr * 255.0
        elif top > 255:
            arr = arr * (255.0 / top)
        return np.clip(arr, 0, 255).astype(np.uint8)
    if mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8)


def trim_rows_tf(x):
    """Crop a line to the rows that hold ink, plus :data:`TRIM_PAD` of the ink's height above and
    below, keeping at least :data:`TRIM_MIN_FRACTION` of the height (centred on the ink).

    Args:
        x: float32 ``(h, w, 1)`` in [0, 1], ink high (after the polarity step of
            :func:`prepare_tf`).

    Returns:
        float32 ``(h', w, 1)``, ``h' <= h``. A pixel is ink if it is above the middle between the
        paper level (the mean of the border pixels) and the darkest ink (the maximum); a line whose
        contrast (maximum - paper) is under 0.1 is returned as it is.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x, tf.float32)
    h = tf.shape(x)[0]
    # Paper level: the mean of the border pixels (mostly paper, as in the polarity step); cheaper
    # than a median (a sort of every pixel cost 1.3 ms a line on 2 cores).
    paper = _border_mean(x)
    top = tf.reduce_max(x)
    rows = tf.where(tf.reduce_any(x[:, :, 0] > paper + 0.5 * (top - paper), axis=1))[:, 0]

    def crop():
        r0, r1 = tf.cast(rows[0], tf.int32), tf.cast(rows[-1], tf.int32) + 1
        pad = tf.cast(tf.round(TRIM_PAD * tf.cast(r1 - r0, tf.float32)), tf.int32)
        a, b = tf.maximum(0, r0 - pad), tf.minimum(h, r1 + pad)
        min_h = tf.cast(tf.math.ceil(TRIM_MIN_FRACTION * tf.cast(h, tf.float32)), tf.int32)
        short = tf.maximum(0, min_h - (b - a))
        a = tf.maximum(0, a - (short + 1) // 2)
        b = tf.maximum(b, tf.minimum(h, a + min_h))
        a = tf.minimum(a, tf.maximum(0, b - min_h))
        return x[a:b]

    # With contrast, the brightest pixel is above the threshold, so ``rows`` is never empty.
    return tf.cond(top - paper < 0.1, lambda: x, crop)


def _border_mean(x):
    """Mean of the first and last rows and columns of ``(h, w, c)`` ``x`` (a scalar tensor)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.concat([tf.reshape(x[0], [-1]), tf.reshape(x[-1], [-1]),
                                     tf.reshape(x[:, 0], [-1]), tf.reshape(x[:, -1], [-1])], axis=0))


def prepare_tf(grey, trim: bool = False):
    """TensorFlow preprocessing of one image: uint8 ``(h, w, 1)`` -> float32 ``(32, W, 1)``.

    ``W = scaled_width(w, h)`` (of the trimmed size with ``trim``). Used by the TFRecord reader and
    the predictor, so both see the same resizing (bilinear, antialiased) and polarity handling.

    ``trim`` (inference: ``demo``, ``compare``, the SavedModel's ``serving_default``) first crops
    the line to its ink rows (:func:`trim_rows_tf`), so a loose crop (a detector's box, a layout
    engine's line box with the text at half its height) reads like a tight one; the training
    records are not trimmed (their crops, tight to loose, are the augmentation), and tight crops
    are among them, so trimmed lines are inputs the model has learned.
    """
    import tensorflow as tf

    grey = tf.convert_to_tensor(grey)
    x = tf.cast(grey, tf.float32) / 255.0
    # Polarity: paper must be light. Decide from the border pixels' mean.
    x = tf.cond(_border_mean(x) < 0.5, lambda: 1.0 - x, lambda: x)
    x = 1.0 - x  # ink high, paper 0
    if trim:
        x = trim_rows_tf(x)
    shape = tf.shape(x)
    h, w = shape[0], shape[1]
    new_w = tf.cast(tf.round(tf.cast(w, tf.float32) * HEIGHT / tf.cast(h, tf.float32)), tf.int32)
    new_w = tf.clip_by_value(new_w, 1, MAX_WIDTH)
    x = tf.cond(
        tf.logical_and(tf.equal(h, HEIGHT), tf.equal(w, new_w)),
        lambda: x,
        lambda: tf.image.resize(x, [HEIGHT, new_w], method="bilinear", antialias=True),
    )
    padded = tf.maximum(MIN_WIDTH, (new_w + WIDTH_MULTIPLE - 1) // WIDTH_MULTIPLE * WIDTH_MULTIPLE)
    x = tf.pad(x, [[0, 0], [0, padded - new_w], [0, 0]])
    x = tf.ensure_shape(x, [HEIGHT, None, 1])
    return tf.clip_by_value(x, 0.0, 1.0)


def fit_width_tf(image, width: int):
    """Fit one prepared image to a fixed width (the TFLite export's input), px.

    Args:
        image: float32 ``(32, W, 1)`` from :func:`prepare_tf` (or a slice of a padded batch with
            its true width).
        width: the fixed width, px, a multiple of :data:`WIDTH_MULTIPLE`.

    Returns:
        ``(image, steps)``: float32 ``(32, width, 1)`` and the int32 number of valid time steps.
        A line narrower than ``width`` is right-padded with 0 (paper) and keeps ``W / 4`` valid
        steps; a wider line is squeezed to ``width`` (bilinear, antialiased) and all
        ``width / 4`` steps are valid.
    """
    import tensorflow as tf

    image = tf.convert_to_tensor(image, tf.float32)
    w = tf.shape(image)[1]
    x = tf.cond(
        w <= width,
        lambda: tf.pad(image, [[0, 0], [0, width - w], [0, 0]]),
        lambda: tf.clip_by_value(
            tf.image.resize(image, [HEIGHT, width], method="bilinear", antialias=True), 0.0, 1.0),
    )
    return tf.ensure_shape(x, [HEIGHT, width, 1]), tf.minimum(w, width) // WIDTH_MULTIPLE
