"""Recognizer backends: the same line batches through a Keras model, a SavedModel or a TFLite file.

Every backend implements the :class:`Backend` protocol: it maps prepared images to logits (and to
their best path); decoding and scoring stay in one place (:class:`toolkit.predict.Recognizer`,
:func:`toolkit.metrics.score_batches`), so every form of a model is measured by the same code.
:func:`open_backend` picks one from ``--weights-path`` (:func:`toolkit.export_format.export_kind`):

- a directory holding ``saved_model.pb``: :class:`SavedModelBackend` (``crnn-toolkit export
  --format saved_model``);
- a ``.tflite`` file: :class:`TFLiteBackend` (``crnn-toolkit export --format tflite``);
- anything else: a model directory or checkpoint, :class:`KerasBackend`.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np

from toolkit import preprocess
from toolkit.charset import Charset
from toolkit.checkpoints import load_model
from toolkit.ctc import best_path
from toolkit.export_format import (
    ExportError,
    export_kind,
    read_export_info,
    tflite_json_path,
)
from toolkit.model import PredictionView

logger = logging.getLogger(__name__)


class Backend(Protocol):
    """What the recognizer and the scorer need of a model in any form.

    Attributes:
        kind: ``keras``, ``saved_model`` or ``tflite``.
        name: a description for logs (the path it was loaded from).
        charset: the charset the model was trained with.
    """

    kind: str
    name: str
    charset: Charset

    def predict_batch(self, images, widths) -> tuple[np.ndarray, np.ndarray]:
        """Logits of a batch.

        Args:
            images: float32 ``(batch, 32, W, 1)``, right-padded with 0.
            widths: int ``(batch,)`` each line's width before padding, px.

        Returns:
            ``(logits, lengths)``: float32 ``(batch, T, num_classes)`` and int ``(batch,)`` valid
            time steps (``T = W / 4`` and ``widths / 4``, except where a backend says otherwise).
        """
        ...

    def predict_path(self, images, widths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The best path of a batch: ``(best, top, lengths)``, int ``(batch, T)`` argmax classes,
        float32 ``(batch, T)`` their softmax probabilities and int ``(batch,)`` valid time steps.

        This default takes the best path of :meth:`predict_batch`'s logits in NumPy
        (:func:`toolkit.ctc.best_path`); a backend that subclasses the protocol inherits it.
        """
        logits, lengths = self.predict_batch(images, widths)
        best, top = best_path(logits)
        return best, top, lengths


class KerasBackend(Backend):
    """A Keras ShadowNet, run with the batch padding masked in its BiLSTMs
    (:class:`toolkit.model.PredictionView`), so a line reads the same in any batch.

    Args:
        model: Keras model ``(batch, 32, W, 1)`` float32 -> ``(batch, W / 4, num_classes)``.
        charset: the charset it was trained with.
        name: a description for logs.
    """

    kind = "keras"

    def __init__(self, model, charset: Charset, name: str = "keras model"):
        self.model = model
        self.charset = charset
        self.name = name
        self.view = PredictionView(model)
        self.predict_logits = self.view.logits
        """images float32 ``(batch, 32, W, 1)``, widths int32 ``(batch,)`` px -> logits float32
        ``(batch, W / 4, classes)``, the batch padding masked (:func:`toolkit.model.masked_forward`)."""

    @classmethod
    def from_weights(cls, weights_path: str | os.PathLike) -> KerasBackend:
        """Load a model directory or checkpoint.

        Raises:
            CheckpointError: see :func:`toolkit.checkpoints.load_model`.
        """
        model, spec, prefix = load_model(weights_path)
        return cls(model, spec.charset, name=str(prefix))

    def predict_batch(self, images, widths) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`Backend.predict_batch` (:meth:`toolkit.model.PredictionView.predict_batch`)."""
        return self.view.predict_batch(images, widths)

    def predict_path(self, images, widths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """See :meth:`Backend.predict_path`; computed in the graph
        (:meth:`toolkit.model.PredictionView.predict_path`)."""
        return self.view.predict_path(images, widths)


class SavedModelBackend(Backend):
    """A SavedModel written by :func:`toolkit.export.export_saved_model`, run through its
    ``predict_images`` signature (the same batches as the Keras model; its ``serving_default``
    signature adds image decoding and text output for TF Serving).

    Raises:
        ExportError: if ``export.json`` is missing or the directory has no ``predict_images``
            signature.
    """

    kind = "saved_model"

    def __init__(self, path: str | os.PathLike):
        import tensorflow as tf

        self.path = Path(path)
        self.name = str(self.path)
        self.info = read_export_info(self.path)
        self.charset = self.info["charset"]
        self.loaded = tf.saved_model.load(str(self.path))
        if "predict_images" not in self.loaded.signatures:
            raise ExportError(f"{self.path}: SavedModel has no 'predict_images' signature (has "
                              f"{sorted(self.loaded.signatures)})")
        self._fn = self.loaded.signatures["predict_images"]

    def predict_batch(self, images, widths) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`Backend.predict_batch`."""
        import tensorflow as tf

        widths = np.asarray(widths, dtype=np.int32)
        out = self._fn(images=tf.convert_to_tensor(images, tf.float32),
                       widths=tf.convert_to_tensor(widths))
        return out["logits"].numpy(), widths // preprocess.WIDTH_MULTIPLE


def _tflite_interpreter(path: Path, num_threads: int | None):
    try:  # LiteRT, the successor of tf.lite.Interpreter, when installed
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            return tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)
    return Interpreter(model_path=str(path), num_threads=num_threads)


class TFLiteBackend(Backend):
    """A ``.tflite`` file written by :func:`toolkit.export.export_tflite`, one line per call.

    Each line is cut to its true width and fitted to the file's fixed width by
    :func:`toolkit.preprocess.fit_width_tf` (padded, or squeezed when wider).

    Args:
        path: the ``.tflite`` file (its ``.export.json`` beside it gives the charset and width).
        num_threads: interpreter threads (default: CPU count).

    Raises:
        ExportError: if the ``.export.json`` is missing or does not match the file's input shape.
    """

    kind = "tflite"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        self.path = Path(path)
        self.name = str(self.path)
        self.info = read_export_info(self.path)
        self.charset = self.info["charset"]
        self.width = int(self.info["width"])
        self.interpreter = _tflite_interpreter(self.path, num_threads or os.cpu_count())
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        self._in, self._out = inp["index"], self.interpreter.get_output_details()[0]["index"]
        import tensorflow as tf

        self._fit = tf.function(lambda x: preprocess.fit_width_tf(x, self.width),
                                input_signature=[tf.TensorSpec([preprocess.HEIGHT, None, 1],
                                                               tf.float32)])
        expected = [1, preprocess.HEIGHT, self.width, 1]
        if list(inp["shape"]) != expected:
            raise ExportError(f"{self.path}: input shape {list(inp['shape'])} is not the "
                              f"{expected} of {tflite_json_path(self.path)}")

    def predict_batch(self, images, widths) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`Backend.predict_batch`, except that the logits have the
        file's ``width / 4`` steps and ``lengths`` is ``min(widths, width) / 4``."""
        images = np.asarray(images, dtype=np.float32)
        logits, lengths = [], []
        for img, w in zip(images, np.asarray(widths)):
            x, steps = self._fit(img[:, :int(w)])
            self.interpreter.set_tensor(self._in, x.numpy()[None])
            self.interpreter.invoke()
            logits.append(self.interpreter.get_tensor(self._out)[0])
            lengths.append(int(steps))
        return np.stack(logits), np.asarray(lengths)


def open_backend(weights_path: str | os.PathLike) -> Backend:
    """Open a Keras model directory / checkpoint, a SavedModel directory or a ``.tflite`` file.

    Raises:
        CheckpointError: for a bad model directory or checkpoint.
        ExportError: for an exported model without its ``export.json``.
        FileNotFoundError: for a missing ``.tflite`` file.
    """
    kind = export_kind(weights_path)
    if kind == "saved_model":
        backend = SavedModelBackend(weights_path)
    elif kind == "tflite":
        if not Path(weights_path).is_file():
            raise FileNotFoundError(f"{weights_path}: no such TFLite file")
        backend = TFLiteBackend(weights_path)
    else:
        backend = KerasBackend.from_weights(weights_path)
    logger.info("loaded %s (%s, %d classes)", backend.name, kind, backend.charset.num_classes)
    return backend
