"""ShadowNet (CRNN, arXiv 1507.05717): CNN -> map to sequence -> 2 x BiLSTM -> logits, and its views.

Layer layout from REFERENCE.md ("ShadowNet"): conv 64, pool 2x2 -> conv 128, pool 2x2 -> conv 256
-> conv 256, pool (2,1) -> conv 512 + BN -> conv 512 + BN, pool (2,1) -> conv 512 kernel 2x2; all
3x3 and ReLU but the last. Height 32 becomes 1; the width is divided by 4, so a ``W`` px wide input
gives ``W / 4`` time steps (``W`` a multiple of 4; see :mod:`toolkit.preprocess`). The last 2x2
conv pads one column on the right so that it keeps the width.

Input ``images``: float32 ``(batch, 32, W, 1)``, ink high, paper 0. Output ``logits``: float32
``(batch, W / 4, num_classes)``; the CTC blank is the last class.

Views over the trained weights (nothing copied): :func:`masked_forward` and :class:`PredictionView`
(the batch padding masked, for validation and inference) and :func:`export_view` (fixed shape,
unrolled LSTMs, for TFLite).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from toolkit import preprocess
from toolkit.ctc import best_path_tf

TAIL_PX = 8
"""Paper (px) that :func:`masked_forward` adds after each batch's widest line (see there)."""

PRESETS = {
    # Channels of the 7 convs, LSTM units per direction.
    "shadownet": {"channels": (64, 128, 256, 256, 512, 512, 512), "lstm_units": 256},
    "small": {"channels": (32, 64, 128, 128, 256, 256, 256), "lstm_units": 128},
    "tiny": {"channels": (8, 16, 16, 16, 32, 32, 32), "lstm_units": 16},
}


@dataclass(frozen=True)
class ModelConfig:
    """ShadowNet hyper-parameters; saved as JSON beside every checkpoint.

    Attributes:
        num_classes: chars + space + blank, always taken from :class:`toolkit.charset.Charset`.
        channels: output channels of the seven convolutions.
        lstm_units: units per direction of each bidirectional LSTM layer.
        lstm_layers: number of stacked bidirectional LSTM layers (paper: 2).
        dropout: dropout after each BiLSTM layer in training (REFERENCE.md: 0.5).
        height: input height, px: always :data:`toolkit.preprocess.HEIGHT` (32).
    """

    num_classes: int
    channels: tuple[int, ...] = PRESETS["shadownet"]["channels"]
    lstm_units: int = 256
    lstm_layers: int = 2
    dropout: float = 0.5
    height: int = preprocess.HEIGHT

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (a char and the blank), got {self.num_classes}")
        if len(self.channels) != 7 or any(int(c) < 1 for c in self.channels):
            raise ValueError(f"channels must be 7 positive ints, got {self.channels!r}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.lstm_units < 1 or self.lstm_layers < 1:
            raise ValueError(f"lstm_units and lstm_layers must be >= 1, got {self.lstm_units}, "
                             f"{self.lstm_layers}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.height != preprocess.HEIGHT:
            raise ValueError(f"height must be {preprocess.HEIGHT} (the CNN reduces it to 1 px), got "
                             f"{self.height}")

    @classmethod
    def from_preset(cls, preset: str, num_classes: int, **overrides) -> ModelConfig:
        """A config from a named size: ``shadownet`` (paper, ~8.7 M parameters with 6k classes),
        ``small`` (half the channels), ``tiny`` (for tests).

        Raises:
            ValueError: on an unknown preset name.
        """
        if preset not in PRESETS:
            raise ValueError(f"unknown model preset {preset!r}; choose from {sorted(PRESETS)}")
        return cls(num_classes=num_classes, **{**PRESETS[preset], **overrides})

    def to_json(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_json(cls, d: dict) -> ModelConfig:
        return cls(**d)


def _conv(x, filters, name, kernel=3, padding="same", batch_norm=False, activation="relu",
          sync_batch_norm=False):
    from keras import layers

    x = layers.Conv2D(filters, kernel, padding=padding, use_bias=not batch_norm, name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(synchronized=sync_batch_norm, name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_relu")(x)
    return x


def build_shadownet(config: ModelConfig, name: str = "shadownet", sync_batch_norm: bool = False,
                    *, unroll: bool = False, batch_size: int | None = None,
                    width: int | None = None):
    """Build the Keras functional ShadowNet.

    Args:
        config: the hyper-parameters.
        unroll: unroll the LSTMs (the export view: TFLite cannot convert the tensor-list ops of
            a symbolic loop). Needs a fixed ``width``. Same weights as the rolled network.
        batch_size: fix the batch dimension (the export view); ``None``: any batch.
        width: fix the input width, px (a multiple of 4); ``None``: any width.
        sync_batch_norm: under a ``tf.distribute`` strategy, compute the batch-norm statistics
            over the global batch (all replicas) instead of each replica's share, so training
            on N replicas matches training on one device with the same global batch. It adds no
            variables: checkpoints are the same either way.

    Returns:
        A ``keras.Model`` mapping ``images`` float32 ``(batch, 32, W, 1)`` to ``logits`` float32
        ``(batch, W / 4, num_classes)``. Layers are named by stage: ``cnn_*``,
        ``map_to_sequence``, ``bilstm_*``, ``logits``. Under a mixed precision policy the logits
        are still float32.

    Raises:
        ValueError: if ``unroll`` is asked without a fixed ``width``, or ``width`` is not a
            positive multiple of 4.
    """
    import keras
    from keras import layers

    from toolkit.lstm import ProjectedInputLSTM  # imports keras and so TensorFlow: only to build

    if width is not None and (width < 8 or width % 4):
        raise ValueError(f"width must be a multiple of 4 and >= 8 px, got {width}")
    if unroll and width is None:
        raise ValueError("unroll=True needs a fixed width (the number of time steps)")
    c = config.channels
    images = keras.Input(shape=(config.height, width, 1), batch_size=batch_size, name="images",
                         dtype="float32")
    x = _conv(images, c[0], "cnn_1")
    x = layers.MaxPooling2D((2, 2), name="cnn_pool_1")(x)          # (b, 16, W/2, c0)
    x = _conv(x, c[1], "cnn_2")
    x = layers.MaxPooling2D((2, 2), name="cnn_pool_2")(x)          # (b, 8, W/4, c1)
    x = _conv(x, c[2], "cnn_3")
    x = _conv(x, c[3], "cnn_4")
    x = layers.MaxPooling2D((2, 1), name="cnn_pool_3")(x)          # (b, 4, W/4, c3)
    x = _conv(x, c[4], "cnn_5", batch_norm=True, sync_batch_norm=sync_batch_norm)
    x = _conv(x, c[5], "cnn_6", batch_norm=True, sync_batch_norm=sync_batch_norm)
    x = layers.MaxPooling2D((2, 1), name="cnn_pool_4")(x)          # (b, 2, W/4, c5)
    x = layers.ZeroPadding2D(((0, 0), (0, 1)), name="cnn_7_pad")(x)  # (b, 2, W/4 + 1, c5)
    x = _conv(x, c[6], "cnn_7", kernel=2, padding="valid")         # (b, 1, W/4, c6)
    x = layers.Reshape((-1, c[6]), name="map_to_sequence")(x)      # (b, T = W/4, c6)
    for i in range(config.lstm_layers):
        lstm = ProjectedInputLSTM(config.lstm_units, return_sequences=True, unroll=unroll)
        x = layers.Bidirectional(lstm,
                                 name=f"bilstm_{i + 1}")(x)        # (b, T, 2 * units)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"bilstm_{i + 1}_dropout")(x)
    logits = layers.Dense(config.num_classes, dtype="float32", name="logits")(x)  # (b, T, classes)
    return keras.Model(images, logits, name=name)


def masked_forward(model, tail_px: int = TAIL_PX):
    """Run a ShadowNet with the batch padding masked in its BiLSTMs.

    A batch of lines is right-padded to its widest line. Without a mask, the backward LSTM of
    each layer reads a short line's padding before the line's last char, so the same line is read
    differently in different batches. With a Keras RNN mask, a masked step keeps the LSTM state
    unchanged, so each line's backward pass starts at its own last time step, as when it is alone
    in its batch. The CNN still sees the padding (its receptive field reaches a few pixels past a
    line's end), and every line gets at least ``tail_px`` of it: the batch is padded ``tail_px``
    further with paper (0) before the CNN, and those time steps are masked and cut off again. The
    weights are the model's own; nothing is copied.

    Measured (the v1 bundled model at step 40,000, held-out set of
    ``tools/build_yuanqu_eval_set.py``, batches of 32 by width): CER 0.0892 -> 0.0799 on the Pillow part,
    0.0745 -> 0.0735 on the pango part (lines alone in their batch: 0.0836 / 0.0735). Lines alone,
    with 8 px of paper after them (``tail_px``): 0.0794 / 0.0732 there, and 0.0696 -> 0.0678 /
    0.0731 -> 0.0722 on a second set of 600 + 600 lines (``--seed 7``); 16-24 px did no better.

    Args:
        model: a ShadowNet from :func:`build_shadownet` (any width and batch), or any Keras model
            with its layer names (``map_to_sequence``, ``bilstm_<i>``, ``bilstm_<i>_dropout``,
            ``logits``).
        tail_px: paper added after the batch's widest line, px (a multiple of 4, >= 0).

    Returns:
        ``forward(images, widths, training=False) -> logits``: ``images`` float32
        ``(batch, 32, W, 1)``, ``widths`` int32 ``(batch,)`` each line's width before padding, px;
        ``logits`` float32 ``(batch, W / 4, num_classes)``. Only the first ``widths // 4`` time
        steps of a line are meaningful (the decoders read only those).

    Raises:
        ValueError: if the model lacks one of those layers, or ``tail_px`` is not a multiple of 4.
    """
    import keras
    import tensorflow as tf

    if tail_px < 0 or tail_px % 4:
        raise ValueError(f"tail_px must be a multiple of 4 and >= 0, got {tail_px}")
    names = [layer.name for layer in model.layers]
    bilstms = sorted((n for n in names if n.startswith("bilstm_") and n[7:].isdigit()),
                     key=lambda n: int(n[7:]))
    if "map_to_sequence" not in names or "logits" not in names or not bilstms:
        raise ValueError(f"{model.name}: not a ShadowNet (layers map_to_sequence, bilstm_<i> and "
                         f"logits expected, found {names})")
    cnn = keras.Model(model.input, model.get_layer("map_to_sequence").output,
                      name=f"{model.name}_cnn")
    stack = [(model.get_layer(n), model.get_layer(f"{n}_dropout") if f"{n}_dropout" in names
              else None) for n in bilstms]
    head = model.get_layer("logits")

    def forward(images, widths, training=False):
        steps = tf.shape(images)[2] // 4
        if tail_px:
            images = tf.pad(images, [[0, 0], [0, 0], [0, tail_px], [0, 0]])
        x = cnn(images, training=training)                                   # (b, T + tail, c)
        mask = tf.sequence_mask(tf.cast(widths, tf.int32) // 4, tf.shape(x)[1])  # (b, T + tail)
        for bilstm, dropout in stack:
            x = bilstm(x, mask=mask, training=training)
            if dropout is not None:
                x = dropout(x, training=training)
        return tf.cast(head(x[:, :steps]), tf.float32)                      # (b, T, classes)

    return forward


class PredictionView:
    """A ShadowNet's prediction view: :func:`masked_forward` compiled as ``tf.function`` s of fixed
    signature, so a line reads the same whatever else is in its batch (train-shadownet's validation
    and the Keras backend both read lines through it).

    Args:
        model: a ShadowNet (see :func:`masked_forward`).
        tail_px: paper added after each batch's widest line, px (see :func:`masked_forward`).

    Raises:
        ValueError: as :func:`masked_forward`.
    """

    def __init__(self, model, tail_px: int = TAIL_PX):
        import tensorflow as tf

        forward = masked_forward(model, tail_px)
        signature = [tf.TensorSpec([None, preprocess.HEIGHT, None, 1], tf.float32),
                     tf.TensorSpec([None], tf.int32)]
        self.logits = tf.function(forward, input_signature=signature)
        """images float32 ``(batch, 32, W, 1)``, widths int32 ``(batch,)`` px -> logits float32
        tensor ``(batch, W / 4, classes)``, the batch padding masked."""
        self._path = tf.function(lambda x, widths: best_path_tf(forward(x, widths)),
                                 input_signature=signature)

    def predict_batch(self, images, widths) -> tuple[np.ndarray, np.ndarray]:
        """Logits of a batch.

        Args:
            images: float32 ``(batch, 32, W, 1)``, right-padded with 0.
            widths: int ``(batch,)`` each line's width before padding, px.

        Returns:
            ``(logits, lengths)``: float32 ``(batch, W / 4, num_classes)`` and int ``(batch,)``
            valid time steps (``widths / 4``).
        """
        widths = np.asarray(widths, dtype=np.int32)
        return self.logits(images, widths).numpy(), widths // preprocess.WIDTH_MULTIPLE

    def predict_path(self, images, widths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The best path of a batch, computed in TensorFlow: only ``(batch, T)`` arrays leave the
        graph, not the ``(batch, T, num_classes)`` logits (with 6,000 classes, their copy and a NumPy
        softmax took a third of the time of :meth:`toolkit.predict.Recognizer.recognize`).

        Args:
            images, widths: as for :meth:`predict_batch`.

        Returns:
            ``(best, top, lengths)``: int32 ``(batch, T)`` argmax classes, float32 ``(batch, T)``
            their softmax probabilities (:func:`toolkit.ctc.best_path`), int ``(batch,)`` valid
            time steps.
        """
        widths = np.asarray(widths, dtype=np.int32)
        best, top = self._path(images, widths)
        return best.numpy(), top.numpy(), widths // preprocess.WIDTH_MULTIPLE


def export_view(model, model_config: ModelConfig, width: int, batch_size: int = 1):
    """The fixed-shape view of a trained network that TFLite converts.

    Args:
        model: the trained Keras ShadowNet (from :func:`toolkit.checkpoints.load_model`).
        model_config: its :class:`ModelConfig`.
        width: input width, px (a multiple of 4, at least 8).
        batch_size: fixed batch.

    Returns:
        A Keras model ``(batch_size, 32, width, 1)`` float32 -> ``(batch_size, width / 4,
        num_classes)`` with unrolled LSTMs and the trained weights.

    Raises:
        ValueError: if ``width`` is not a multiple of 4 (at least 8).
    """
    view = build_shadownet(model_config, name="shadownet_export", unroll=True,
                           batch_size=batch_size, width=width)
    view.set_weights(model.get_weights())
    return view
