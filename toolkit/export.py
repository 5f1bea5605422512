"""The export stage: a trained ShadowNet as a SavedModel (TensorFlow Serving) or a TFLite file.

Both forms carry the preprocessing and the charset of the trained model, so an exported model reads
the same pixels and emits the same text as the Keras one (see the parity table in README.md).

SavedModel (``export_saved_model``), a directory usable as a TensorFlow Serving model version::

    <dir>/saved_model.pb, variables/     # the network, preprocessing and CTC decoding
    <dir>/export.json                     # input spec, charset, source checkpoint
    <dir>/char_dict/                      # the three JSON maps

Signatures:

- ``serving_default``: ``image_bytes`` string ``(batch,)`` (PNG, JPEG, BMP or GIF file bytes) ->
  ``text`` string ``(batch,)`` (UTF-8) and ``confidence`` float32 ``(batch,)``. An image whose
  header gives more than :data:`toolkit.images.MAX_PIXELS` pixels is refused before it is decoded
  (the call fails with ``InvalidArgumentError`` naming its size: a decompression bomb cannot make
  the server allocate gigabytes), as ``serve`` and ``demo`` refuse it. Each image is
  decoded to grey and prepared by :func:`toolkit.preprocess.prepare_tf` (the training code) with
  ``trim=True`` (cropped to its ink rows first, like ``demo``); the batch is right-padded to its
  widest line.
- ``predict_images``: ``images`` float32 ``(batch, 32, W, 1)`` (the model input, see
  :mod:`toolkit.preprocess`) and ``widths`` int32 ``(batch,)`` (each line's width before batch
  padding, px) -> ``logits`` float32 ``(batch, W / 4, num_classes)``, ``text``, ``confidence``.

Both signatures mask the batch padding in the BiLSTMs (:func:`toolkit.model.masked_forward`, as the
Keras backend does), so a line reads the same whatever else is in its batch.

TFLite (``export_tflite``): ``<name>.tflite`` with ``<name>.export.json`` and ``char_dict/`` beside
it. Input ``images`` float32 ``(1, 32, width, 1)`` (default width 320 px), prepared as above and then
fitted to the width by :func:`toolkit.preprocess.fit_width_tf` (narrower lines right-padded with 0,
wider lines squeezed). Output ``logits`` float32 ``(1, width / 4, num_classes)``; decode the first
``min(W, width) / 4`` steps greedily (:func:`toolkit.ctc.greedy_decode`), the blank is the last
class. ``fp16`` stores float16 weights (float32 compute); ``int8`` quantizes weights and activations
(float32 input and output), calibrated on real line images of a record set, or without one on
lines rendered from the model's charset with the bundled corpus and fonts.

The TFLite view has a fixed batch and width and unrolled LSTMs, and no padding mask (one input; the
backward LSTM reads the padding to the fixed width first) (``build_shadownet(..., unroll=True)``):
``TFLiteConverter`` cannot convert the tensor-list ops of a symbolic LSTM loop. It goes through
``keras.Model.export`` and ``TFLiteConverter.from_saved_model``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from toolkit import preprocess, records
from toolkit.charset import Charset
from toolkit.checkpoints import load_model
from toolkit.ctc import greedy_decode_tf, ids_to_text_tf
from toolkit.export_format import (
    CHAR_DICT_DIR,
    EXPORT_JSON,
    FORMAT_VERSION,
    ExportError,
    tflite_json_path,
)
from toolkit.images import MAX_PIXELS
from toolkit.io import atomic_write_bytes, atomic_write_json
from toolkit.model import export_view, masked_forward
from toolkit.quiet import hold_back_logs

logger = logging.getLogger(__name__)

FORMATS = ("saved_model", "tflite")
QUANTIZATIONS = ("none", "fp16", "int8")
DEFAULT_WIDTH = 320
"""TFLite input width, px (80 time steps); the bundled test lines are at most ~210 px wide."""
DEFAULT_CALIBRATION_LINES = 200
"""Line images used to calibrate int8 activation ranges."""


# ---------------------------------------------------------------------------------- helpers
def _check_output_free(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite and (path.is_file() or any(path.iterdir())):
        raise ExportError(f"{path} already exists; choose another --output or pass --overwrite")


def _check_char_dict_free(directory: Path, charset: Charset) -> None:
    """Refuse an output folder whose ``char_dict/`` holds another charset (before any file is
    written: an export that would fail there writes nothing)."""
    d = directory / CHAR_DICT_DIR
    if d.is_dir() and any(d.iterdir()):
        try:
            existing = Charset.load(d)
        except (ValueError, OSError) as e:
            raise ExportError(f"{d}: holds an unreadable char dict ({e}); export elsewhere") from None
        if existing.sha256 != charset.sha256:
            raise ExportError(f"{d} holds another model's char dict (sha256 {existing.sha256[:12]}, "
                              f"this model {charset.sha256[:12]}); export to another directory")


def _write_char_dict(directory: Path, charset: Charset) -> Path:
    """Write ``directory/char_dict/``; refuse to replace a char dict of another charset there."""
    _check_char_dict_free(directory, charset)
    d = directory / CHAR_DICT_DIR
    charset.save(d)
    return d


def _describe(fmt: str, spec, prefix: str, **extra) -> dict:
    return {"format_version": FORMAT_VERSION, "format": fmt, **extra,
            "preprocessing": ("grey; inverted if the border is dark; x = 1 - grey / 255 (ink high, "
                              f"paper 0); scaled to height {preprocess.HEIGHT} keeping the aspect ratio (bilinear, "
                              "antialiased); right-padded with 0 to a multiple of 4 px "
                              "(toolkit.preprocess.prepare_tf)"),
            "decoding": ("greedy CTC: argmax per step over the valid steps (width / 4), repeats "
                         "merged, blank removed (toolkit.ctc.greedy_decode)"),
            "charset": spec.charset.to_json(), "model": spec.model_config.to_json(),
            "source_checkpoint": str(prefix), "char_dict": CHAR_DICT_DIR}


# ---------------------------------------------------------------------------------- SavedModel
def export_saved_model(weights_path: str | os.PathLike, output_dir: str | os.PathLike,
                       overwrite: bool = False) -> Path:
    """Export a model directory or checkpoint as a SavedModel for TensorFlow Serving.

    Args:
        weights_path: a model directory or checkpoint (see :mod:`toolkit.checkpoints`).
        output_dir: the SavedModel directory to write (for TF Serving: ``<model>/<version>``).
        overwrite: replace an existing ``output_dir``.

    Returns:
        ``output_dir``, holding ``saved_model.pb``, ``variables/``, ``export.json`` and
        ``char_dict/`` (signatures in the module docstring).

    Raises:
        CheckpointError: for a bad weights path.
        ExportError: if ``output_dir`` exists (and not ``overwrite``).
    """
    import keras
    import tensorflow as tf

    out = Path(output_dir)
    _check_output_free(out, overwrite)
    model, spec, prefix = load_model(weights_path)
    charset = spec.charset
    blank = charset.blank_index

    forward = masked_forward(model)

    def run(images, widths):
        logits = forward(images, widths)
        ids, confidence = greedy_decode_tf(logits, widths // preprocess.WIDTH_MULTIPLE, blank)
        return logits, ids_to_text_tf(ids, charset), confidence

    def predict_images(images, widths):
        logits, text, confidence = run(images, widths)
        return {"logits": logits, "text": text, "confidence": confidence}

    def serving_default(image_bytes):
        def prepare(data):
            with tf.control_dependencies([check_pixels_tf(data)]):  # checked, then decoded
                grey = tf.io.decode_image(data, channels=1, expand_animations=False)
            x = preprocess.prepare_tf(grey, trim=True)                       # (32, W, 1)
            return tf.transpose(x, [1, 0, 2])                                # (W, 32, 1)

        cols = tf.map_fn(prepare, image_bytes, fn_output_signature=tf.RaggedTensorSpec(
            shape=[None, preprocess.HEIGHT, 1], dtype=tf.float32, ragged_rank=0))
        widths = tf.cast(cols.row_lengths(), tf.int32)                       # (b,)
        images = tf.transpose(cols.to_tensor(0.0), [0, 2, 1, 3])             # (b, 32, W, 1)
        _, text, confidence = run(images, widths)
        return {"text": text, "confidence": confidence}

    archive = keras.export.ExportArchive()
    # Not archive.track(model): it would save every variable twice (as a Keras variable and as the
    # tf.Variable an endpoint captures); the endpoints' captured variables are saved once.
    archive.add_endpoint("serving_default", serving_default,
                         input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.add_endpoint("predict_images", predict_images, input_signature=[
        tf.TensorSpec([None, preprocess.HEIGHT, None, 1], tf.float32, name="images"),
        tf.TensorSpec([None], tf.int32, name="widths")])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        archive.write_out(str(tmp), verbose=False)
        tmp.chmod(0o755)  # mkdtemp makes it private; a served model directory is not
        _write_char_dict(tmp, charset)
        info = _describe("saved_model", spec, prefix, signatures={
            "serving_default": {"inputs": {"image_bytes": "string (batch,): PNG/JPEG file bytes"},
                                "outputs": {"text": "string (batch,) UTF-8",
                                            "confidence": "float32 (batch,)"}},
            "predict_images": {"inputs": {"images": "float32 (batch, 32, W, 1) in [0, 1]",
                                          "widths": "int32 (batch,) px before batch padding"},
                               "outputs": {"logits": "float32 (batch, W / 4, num_classes)",
                                           "text": "string (batch,)",
                                           "confidence": "float32 (batch,)"}}})
        atomic_write_json(tmp / EXPORT_JSON, info)
        if out.exists() and overwrite:  # replaced only once the new export is complete
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("exported %s as a SavedModel to %s", prefix, out)
    return out


def header_size_tf(data):
    """``(width, height)`` int64 scalars read from the header of encoded image bytes (a string
    scalar tensor), in graph ops: PNG (IHDR), GIF (logical screen), BMP (DIB header, height's sign
    dropped) and JPEG (``tf.image.extract_jpeg_shape``); ``(0, 0)`` for another format or bytes
    too short to say. The graph twin of :func:`toolkit.images.header_size`."""
    import tensorflow as tf

    def field(offset: int, length: int, little_endian: bool, signed: bool = False):
        raw = tf.io.decode_raw(tf.strings.substr(data, offset, length), tf.uint8)
        raw = tf.cast(raw, tf.int64)
        if little_endian:
            raw = tf.reverse(raw, [0])
        value = tf.reduce_sum(raw * tf.bitwise.left_shift(
            tf.constant(1, tf.int64), tf.range(8 * (length - 1), -1, -8, dtype=tf.int64)))
        if signed:
            value = tf.where(value >= 2 ** (8 * length - 1), value - 2 ** (8 * length), value)
        return tf.abs(value)

    def png():
        return field(16, 4, False), field(20, 4, False)

    def gif():
        return field(6, 2, True), field(8, 2, True)

    def bmp():
        return field(18, 4, True, signed=True), field(22, 4, True, signed=True)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[1], shape[0]

    def unknown():
        return tf.constant(0, tf.int64), tf.constant(0, tf.int64)

    size = tf.strings.length(data)
    head = tf.strings.substr(data, 0, 8)
    return tf.case([
        (tf.logical_and(tf.equal(head, b"\x89PNG\r\n\x1a\n"), size >= 24), png),
        (tf.logical_and(tf.logical_or(tf.equal(tf.strings.substr(data, 0, 6), b"GIF87a"),
                                      tf.equal(tf.strings.substr(data, 0, 6), b"GIF89a")),
                        size >= 10), gif),
        (tf.logical_and(tf.equal(tf.strings.substr(data, 0, 2), b"BM"), size >= 26), bmp),
        (tf.logical_and(tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff"), size >= 4), jpeg),
    ], default=unknown, exclusive=True)


def check_pixels_tf(data, max_pixels: int = MAX_PIXELS):
    """The assert op that fails with ``tf.errors.InvalidArgumentError`` ("image too large: W x H
    px ...") if the header of the encoded image ``data`` (string scalar) gives more than
    ``max_pixels`` pixels (:func:`header_size_tf`); make the decode it guards depend on it
    (``tf.control_dependencies``). An image whose header cannot be read is left to its decoder."""
    import tensorflow as tf

    width, height = header_size_tf(data)
    return tf.debugging.Assert(width * height <= max_pixels, [
        "image too large:", width, "x", height, "px, over the limit of", max_pixels,
        "px (a decompression bomb, or a page far larger than a line)"], summarize=8)


# ---------------------------------------------------------------------------------- TFLite
def calibration_images(record_dir: str | os.PathLike, width: int,
                       count: int = DEFAULT_CALIBRATION_LINES, split: str = "train", seed: int = 0):
    """Real line images of a record set, prepared as at inference, for int8 calibration.

    Args:
        record_dir: a record directory written by write-tfrecords.
        width: the export width, px.
        count: lines to take (a seeded shuffle of the split; fewer if the split is smaller).
        split: the record split to read.

    Returns:
        A list of float32 arrays ``(1, 32, width, 1)``.

    Raises:
        DatasetError: if the record set or split is missing.
    """
    import tensorflow as tf

    files = records.shard_paths(record_dir, split)
    ds = (tf.data.TFRecordDataset(files).shuffle(4 * count, seed=seed).take(count)
          .map(records.parse_example))
    return [preprocess.fit_width_tf(ex["images"], width)[0].numpy()[None] for ex in ds]


def export_tflite(weights_path: str | os.PathLike, output: str | os.PathLike,
                  quantize: str = "none", width: int = DEFAULT_WIDTH,
                  calibration_dir: str | os.PathLike | None = None,
                  calibration_lines: int = DEFAULT_CALIBRATION_LINES,
                  overwrite: bool = False) -> Path:
    """Convert a model directory or checkpoint to a TFLite file.

    Args:
        weights_path: a model directory or checkpoint.
        output: the ``.tflite`` file to write; ``<stem>.export.json`` and ``char_dict/`` are
            written beside it.
        quantize: ``none`` (float32), ``fp16`` (float16 weights) or ``int8`` (int8 weights and
            activations; float32 input and output).
        width: fixed input width, px (a multiple of 4); wider lines are squeezed to it.
        calibration_dir: record directory whose train split calibrates ``int8``; without it,
            ``int8`` calibrates on lines rendered from the model's charset with the bundled
            corpus and fonts (:mod:`toolkit.calibration`).
        calibration_lines: line images used for calibration.
        overwrite: replace an existing ``output``.

    Returns:
        The path of the ``.tflite`` file.

    Raises:
        ExportError: on an unknown ``quantize``, an output not ending in ``.tflite``, an
            existing output, a ``char_dict/`` of another charset beside it (nothing is written
            then), or a failed conversion.
        CheckpointError: for a bad weights path.
        DatasetError: for a bad calibration record set.
    """
    import tensorflow as tf

    out = Path(output)
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    if out.suffix != ".tflite":
        raise ExportError(f"{out}: a TFLite output must end in .tflite")
    if width < preprocess.MIN_WIDTH or width % preprocess.WIDTH_MULTIPLE:
        raise ExportError(f"width must be a multiple of {preprocess.WIDTH_MULTIPLE} and at least "
                          f"{preprocess.MIN_WIDTH} px, got {width}")
    _check_output_free(out, overwrite)
    model, spec, prefix = load_model(weights_path)
    _check_char_dict_free(out.parent, spec.charset)
    samples = calibration = None
    if quantize == "int8" and calibration_dir is not None:
        samples = calibration_images(calibration_dir, width, calibration_lines)
        calibration = {"dataset_dir": str(calibration_dir), "split": "train",
                       "lines": len(samples)}
    elif quantize == "int8":
        # Imported here: it brings in the synthesizer, which nothing else of export needs.
        from toolkit.calibration import rendered_calibration_images

        rendered = rendered_calibration_images(spec.charset, width, calibration_lines)
        samples, calibration = rendered.images, rendered.describe()
        logger.info("no calibration record set (--dataset-dir) given: calibrating int8 on %d "
                    "lines rendered from the model's charset with the bundled corpus and fonts "
                    "(%s)", len(samples), ", ".join(calibration["fonts"]))
    view = export_view(model, spec.model_config, width)
    with tempfile.TemporaryDirectory(prefix="crnn_export_") as tmp:
        view.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([x] for x in samples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        try:
            with hold_back_logs():  # int8 calibration prints "fully_quantize: 0, ..."
                flat = converter.convert()
        except Exception as e:  # the converter raises its own ConverterError and others
            raise ExportError(f"TFLite conversion of {prefix} ({quantize}) failed: {e}") from e
    flat = strip_intermediate_names(flat)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, flat)
    _write_char_dict(out.parent, spec.charset)
    steps = width // preprocess.WIDTH_MULTIPLE
    info = _describe(
        "tflite", spec, prefix, file=out.name, quantize=quantize, width=width,
        size_bytes=len(flat),
        input={"name": "images", "shape": [1, preprocess.HEIGHT, width, 1], "dtype": "float32",
               "range": [0.0, 1.0], "fit": ("prepared line right-padded with 0 to width; a wider "
                                            "line is squeezed to width "
                                            "(toolkit.preprocess.fit_width_tf)")},
        output={"name": "logits", "shape": [1, steps, spec.charset.num_classes],
                "dtype": "float32", "valid_steps": "min(W, width) / 4",
                "blank_index": spec.charset.blank_index},
        calibration=calibration)
    atomic_write_json(tflite_json_path(out), info)
    logger.info("exported %s as TFLite %s (%d bytes) to %s", prefix, quantize, len(flat), out)
    return out


def strip_intermediate_names(flat: bytes) -> bytes:
    """Drop the names of a TFLite model's intermediate tensors; keep the input (``images``) and
    output (``logits``) names and the signature.

    The unrolled LSTMs give thousands of intermediate tensors whose long names (and, in int8, long
    fused names) are a third of an int8 file; the interpreter never reads them.

    Args:
        flat: a serialized TFLite model.

    Returns:
        The serialized model without those names (the same graph and weights).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flat))
    for subgraph in model.subgraphs:
        keep = {int(i): b"images" for i in subgraph.inputs}
        keep.update({int(i): b"logits" for i in subgraph.outputs})
        for index, tensor in enumerate(subgraph.tensors):
            tensor.name = keep.get(index)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export(weights_path: str | os.PathLike, output: str | os.PathLike, fmt: str = "saved_model",
           quantize: str = "none", **kwargs) -> Path:
    """The ``export`` command: :func:`export_saved_model` or :func:`export_tflite`.

    Raises:
        ExportError: on an unknown format, or ``quantize`` other than ``none`` for a SavedModel.
    """
    if fmt == "saved_model":
        if quantize != "none":
            raise ExportError(f"--quantize {quantize} applies to TFLite only; a SavedModel keeps "
                              f"the float32 weights")
        return export_saved_model(weights_path, output, overwrite=kwargs.get("overwrite", False))
    if fmt == "tflite":
        return export_tflite(weights_path, output, quantize=quantize, **kwargs)
    raise ExportError(f"format must be one of {FORMATS}, got {fmt!r}")
