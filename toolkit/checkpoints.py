"""Model directories and checkpoints: where a trained ShadowNet lives and how it is loaded.

A model directory written by train-shadownet::

    <model_dir>/shadownet.json        # model config, charset (chars + sha256), training config
    <model_dir>/char_dict/            # the three JSON maps of the charset it was trained with
    <model_dir>/checkpoints/ckpt-<step>.index, .data-*, checkpoint   # tf.train.Checkpoint files
    <model_dir>/logs/                 # TensorBoard

``--weights-path`` accepts the model directory, its ``checkpoints/`` directory, or one checkpoint
prefix (``.../checkpoints/ckpt-500``); ``shadownet.json`` is looked up beside it.

Fine-tuning (``train-shadownet --init-from MODEL``) starts a new model directory from another
model's weights even when its charset differs: :func:`map_classes` matches the classes by char,
:func:`transfer_weights` copies the weights, :class:`FineTuneSource` ties both to a model directory,
and :func:`freeze_stages` keeps a stage (the CNN) fixed while the rest trains.

A directory's checkpoint is the newest *complete* one: its ``.index`` and every ``.data`` shard
present and every tensor readable with an intact checksum (:func:`checkpoint_problem`). Newer
damaged ones (a disk that filled, a copy cut short) are skipped with a warning that names them;
a checkpoint prefix given by name is used only if it is complete.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from toolkit.charset import Charset
from toolkit.io import atomic_write_json, read_versioned_json
from toolkit.model import PRESETS, ModelConfig, build_shadownet

logger = logging.getLogger(__name__)

MODEL_JSON = "shadownet.json"
CHECKPOINT_DIR = "checkpoints"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A weights path that cannot be used: missing, incomplete, or made for another charset."""


@dataclass(frozen=True)
class ModelSpec:
    """What a model directory says about its model.

    Attributes:
        model_dir: the directory holding ``shadownet.json``.
        model_config: the network's hyper-parameters.
        charset: the charset it was trained with.
        train: the training configuration saved at the first run (a dict), or ``{}``.
        init_from: for a fine-tuned model, the model it started from (see
            :meth:`FineTuneSource.record`); ``None`` for a model trained from scratch.
    """

    model_dir: Path
    model_config: ModelConfig
    charset: Charset
    train: dict
    init_from: dict | None = None

    def save(self) -> None:
        """Write ``shadownet.json`` and ``char_dict/`` into ``model_dir`` (atomically)."""
        self.model_dir.mkdir(parents=True, exist_ok=True)
        obj = {"format_version": FORMAT_VERSION, "model": self.model_config.to_json(),
               "charset": self.charset.to_json(), "train": self.train}
        if self.init_from is not None:
            obj["init_from"] = self.init_from
        atomic_write_json(self.model_dir / MODEL_JSON, obj)
        self.charset.save(self.model_dir / "char_dict")

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> ModelSpec:
        """Read ``model_dir/shadownet.json``.

        Raises:
            CheckpointError: if the file is missing or of another format version.
        """
        model_dir = Path(model_dir)
        p = model_dir / MODEL_JSON
        obj = read_versioned_json(p, FORMAT_VERSION, CheckpointError,
                                  f"{p} not found: {model_dir} is not a model directory written by "
                                  f"train-shadownet")
        return cls(model_dir=model_dir, model_config=ModelConfig.from_json(obj["model"]),
                   charset=Charset.from_json(obj["charset"]), train=obj.get("train", {}),
                   init_from=obj.get("init_from"))


def checkpoint_problem(prefix: str | os.PathLike) -> str | None:
    """Why a ``tf.train.Checkpoint`` cannot be restored, or ``None`` if it is complete.

    Checks that ``<prefix>.index`` exists and parses, that every data shard
    ``<prefix>.data-<i>-of-<n>`` it needs is there, and reads every tensor (TensorFlow checks each
    one's size and crc32c), so a truncated, cut or overwritten file is found. Reading costs about
    as much as restoring (the files once, from disk or page cache).

    Returns:
        A short description naming the file or tensor at fault, or ``None``.
    """
    import tensorflow as tf

    prefix = str(prefix)
    index = Path(prefix + ".index")
    if not index.is_file():
        return f"{index.name} is missing"
    if index.stat().st_size == 0:
        return f"{index.name} is empty"
    shards = sorted(Path(prefix).parent.glob(Path(prefix).name + ".data-*-of-*"))
    if not shards:
        return f"{Path(prefix).name}.data-00000-of-00001 is missing"
    total = max(int(s.name.rsplit("-of-", 1)[1]) for s in shards)
    for i in range(total):
        shard = Path(f"{prefix}.data-{i:05d}-of-{total:05d}")
        if not shard.is_file():
            return f"{shard.name} is missing"
    # TensorFlow's checkpoint reader raises its own errors and, for some read failures, the
    # builtin exceptions pybind11 maps C++ errors to (IndexError: "Read less bytes than requested").
    read_errors = (tf.errors.OpError, RuntimeError, ValueError, IndexError, OSError)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except read_errors as e:
        return f"{index.name} is unreadable ({_first_line(e)})"
    for key in sorted(reader.get_variable_to_dtype_map()):
        try:
            reader.get_tensor(key)
        except read_errors as e:
            return (f"{', '.join(s.name for s in shards)} is truncated or corrupt (tensor {key}: "
                    f"{_first_line(e)})")
    return None


def _first_line(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0][:200] if text.strip() else type(error).__name__


def _step_or_none(prefix: str) -> int | None:
    tail = prefix.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def checkpoint_prefixes(ckpt_dir: str | os.PathLike) -> list[str]:
    """Every checkpoint of a checkpoint directory, newest first, complete or not.

    Those listed in its ``checkpoint`` file come first, newest listed first; then prefixes found
    only on disk (an ``.index`` file, unlisted), highest step first. An unreadable ``checkpoint``
    file lists nothing.
    """
    import tensorflow as tf

    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    listed: list[str] = []
    state = tf.train.get_checkpoint_state(str(d))  # paths joined to d; None if unreadable
    if state is not None:
        for p in [state.model_checkpoint_path, *reversed(state.all_model_checkpoint_paths)]:
            if p and os.path.normpath(p) not in listed:
                listed.append(os.path.normpath(p))
    on_disk = [os.path.normpath(str(p)[:-len(".index")]) for p in d.glob("*.index")]
    unlisted = sorted((p for p in on_disk if p not in listed),
                      key=lambda p: (_step_or_none(p) or -1, Path(p + ".index").stat().st_mtime),
                      reverse=True)
    return listed + unlisted


def newest_complete_checkpoint(ckpt_dir: str | os.PathLike) -> str | None:
    """The newest complete checkpoint prefix of a checkpoint directory (see
    :func:`checkpoint_prefixes` for the order), or ``None`` if it holds no checkpoint at all.

    Newer damaged checkpoints are skipped with one warning naming each and what is wrong.

    Raises:
        CheckpointError: if it holds checkpoints but none is complete.
    """
    skipped = []
    for prefix in checkpoint_prefixes(ckpt_dir):
        problem = checkpoint_problem(prefix)
        if problem is None:
            if skipped:
                logger.warning("%s: skipped damaged checkpoint(s) %s; using %s, the newest "
                               "complete one", ckpt_dir,
                               "; ".join(f"{Path(p).name} ({why})" for p, why in skipped),
                               Path(prefix).name)
            return prefix
        skipped.append((prefix, problem))
    if not skipped:
        return None
    raise CheckpointError(
        f"{ckpt_dir}: no complete checkpoint; damaged: "
        f"{'; '.join(f'{Path(p).name} ({why})' for p, why in skipped)}. Restore the files from a "
        f"copy, or move the checkpoints away to train from scratch")


def latest_checkpoint(model_dir: str | os.PathLike) -> str | None:
    """The newest complete checkpoint prefix of a model directory, or ``None`` if it has none.

    Raises:
        CheckpointError: if it has checkpoints but none is complete (see
            :func:`newest_complete_checkpoint`).
    """
    return newest_complete_checkpoint(Path(model_dir) / CHECKPOINT_DIR)


def resolve_weights(weights_path: str | os.PathLike) -> tuple[ModelSpec, str]:
    """Resolve ``--weights-path`` to ``(model spec, checkpoint prefix)``.

    A directory gives its newest complete checkpoint; a prefix must itself be complete.

    Raises:
        CheckpointError: if the path does not exist, holds no complete checkpoint, names a
            damaged one (the message names the newest complete one beside it), or has no
            ``shadownet.json`` beside it.
    """
    p = Path(weights_path)
    if p.is_dir():
        if (p / MODEL_JSON).exists():
            prefix = latest_checkpoint(p)
            if prefix is None:
                raise CheckpointError(f"{p}: model directory without a checkpoint in "
                                      f"{p / CHECKPOINT_DIR}")
            return ModelSpec.load(p), prefix
        if (p / "checkpoint").exists() or any(p.glob("*.index")):
            prefix = newest_complete_checkpoint(p)
            if prefix is None:
                raise CheckpointError(f"{p}: no checkpoint listed in {p / 'checkpoint'}")
            return ModelSpec.load(p.parent), prefix
        raise CheckpointError(f"{p}: neither a model directory ({MODEL_JSON}) nor a checkpoint "
                              f"directory")
    if Path(str(p) + ".index").exists() or any(p.parent.glob(p.name + ".data-*")):
        parent = p.parent
        model_dir = parent.parent if parent.name == CHECKPOINT_DIR else parent
        problem = checkpoint_problem(p)
        if problem is not None:
            try:
                other = newest_complete_checkpoint(parent)
            except CheckpointError:
                other = None
            hint = (f"; the newest complete one there is {other}" if other
                    else "; there is no complete one beside it")
            raise CheckpointError(f"{p}: damaged checkpoint ({problem}){hint}")
        return ModelSpec.load(model_dir), str(p)
    raise CheckpointError(f"{p}: no such model directory or checkpoint (expected a directory "
                          f"or a prefix with a '.index' file)")


def load_model(weights_path: str | os.PathLike):
    """Build the network of a model directory and restore its weights for inference.

    Returns:
        ``(keras model, ModelSpec, checkpoint prefix)``.

    Raises:
        CheckpointError: see :func:`resolve_weights`, or if the checkpoint's variables do not match
            the network described by ``shadownet.json``.
    """
    import tensorflow as tf

    spec, prefix = resolve_weights(weights_path)
    model = build_shadownet(spec.model_config)
    try:
        status = tf.train.Checkpoint(model=model).restore(prefix)
        status.expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as e:
        raise CheckpointError(f"{prefix}: the checkpoint does not match the model in "
                              f"{spec.model_dir / MODEL_JSON} ({spec.model_config.to_json()}): "
                              f"{str(e).splitlines()[0][:300]}") from None
    except tf.errors.OpError as e:  # changed since it was checked (a trainer removed it)
        raise CheckpointError(f"{prefix}: the checkpoint could not be read ({_first_line(e)}); "
                              f"if a run is training into {spec.model_dir}, it may have replaced "
                              f"it: try again") from None
    return model, spec, prefix


# ---------------------------------------------------------------------------------- fine-tuning
BUNDLED = "bundled"
"""The ``init_from`` value that names the bundled release model (``model/shadownet/``)."""
CLASSIFIER = "logits"
"""The classifier layer: the only layer whose weights depend on the charset."""
SHADOWNET_LAYERS = ("map_to_sequence", "bilstm_1", CLASSIFIER)
"""Layers every ShadowNet has (:func:`toolkit.model.build_shadownet`)."""
FREEZABLE_STAGES = ("cnn",)
"""Stages :func:`freeze_stages` can hold fixed: the layers named ``<stage>_*``."""
NEW_ROWS = ("mean", "fresh")
"""How :func:`transfer_weights` initialises a new char's classifier column and bias."""
FINETUNE_LEARNING_RATE = 3e-3
"""Default peak learning rate of a fine-tuning run (``--init-from``). Measured: the bundled model
fine-tuned for 400 steps (batch 32, warm-up 50, cosine decay) to a new font and 62 new chars (the
``finetune`` benchmark's data), held-out CER 0.42 / 0.32 / 0.052 / 0.064 at a peak of 3e-4 /
1e-3 / 3e-3 / 1e-2; at 1e-2 the lines without new chars got worse (CER 0.093 against 0.041)."""
FINETUNE_WARMUP_STEPS = 50
"""Default warm-up of a fine-tuning run, steps (chosen, not measured)."""


@dataclass(frozen=True)
class ClassMapping:
    """Where each class of a target charset takes its classifier weights from in a source charset.

    Attributes:
        source_index: for each target class ``i`` (``0 .. target.num_classes - 1``, the blank
            last), the source class whose kernel column and bias entry it gets, or ``-1`` for a
            char the source does not have.
        kept: chars in both charsets (the space included), in target order.
        added: target chars the source does not have, in target order.
        dropped: source chars the target does not have, in source order.
    """

    source_index: tuple[int, ...]
    kept: tuple[str, ...]
    added: tuple[str, ...]
    dropped: tuple[str, ...]

    def format(self, examples: int = 10) -> str:
        """One line: the three counts and the first ``examples`` added chars."""
        shown = " ".join(repr(c) for c in self.added[:examples])
        more = ", ..." if len(self.added) > examples else ""
        added = f"added {len(self.added)}" + (f" ({shown}{more})" if self.added else "")
        return f"kept {len(self.kept)} chars, {added}, dropped {len(self.dropped)}"


def map_classes(source: Charset, target: Charset) -> ClassMapping:
    """Match the classes of two charsets by char, not by index; the blank maps to the blank.

    Returns:
        A :class:`ClassMapping` from ``target`` classes to ``source`` classes.
    """
    index: list[int] = []
    kept: list[str] = []
    added: list[str] = []
    for c in target.chars:
        if c in source:
            index.append(source.encode(c)[0])
            kept.append(c)
        else:
            index.append(-1)
            added.append(c)
    index.append(source.blank_index)
    dropped = tuple(c for c in source.chars if c not in target)
    return ClassMapping(tuple(index), tuple(kept), tuple(added), dropped)


@dataclass(frozen=True)
class TransferReport:
    """What :func:`transfer_weights` did.

    Attributes:
        mapping: the class mapping used for the classifier.
        copied_layers: names of the layers copied as they are (every layer with weights but the
            classifier).
        new_rows: how the new chars' columns were initialised (:data:`NEW_ROWS`).
    """

    mapping: ClassMapping
    copied_layers: tuple[str, ...]
    new_rows: str


def _check_shadownet(model, charset: Charset, what: str) -> None:
    names = {layer.name for layer in model.layers}
    missing = [n for n in SHADOWNET_LAYERS if n not in names]
    if missing:
        raise CheckpointError(f"the {what} model {model.name!r} is not a ShadowNet: it has no "
                              f"{', '.join(missing)} layer (layers: {sorted(names)})")
    width = model.get_layer(CLASSIFIER).kernel.shape[-1]
    if width != charset.num_classes:
        raise CheckpointError(f"the {what} model's classifier has {width} classes but its charset "
                              f"has {charset.num_classes} (chars + space + blank)")


def transfer_weights(source_model, source_charset: Charset, target_model,
                     target_charset: Charset, *, new_rows: str = "mean") -> TransferReport:
    """Copy a trained ShadowNet's weights into a ShadowNet of the same size built for another
    charset (fine-tuning to a new charset).

    The rule:

    - Every layer but the classifier (``logits``) is copied as it is: the convolutions, the
      batch-norm scales and moving statistics, the BiLSTMs.
    - The classifier's kernel ``(2 * lstm_units, num_classes)`` and bias ``(num_classes,)`` are
      mapped by char, not by index (:func:`map_classes`): a char in both charsets gets the
      source's kernel column and bias entry of that char at its own target index; the blank
      maps to the blank and the space to the space.
    - A new char (``new_rows="mean"``) gets the mean kernel column and the mean bias of the
      source's chars (blank excluded), so its logit is, at every time step, the mean of the
      source chars' logits: far below the best char's and the blank's (the bundled model on the
      lines of ``tools/benchmark.py --only finetune``: mean -40, best char -11, blank +1.6), so
      it takes no time step from what the model reads already, and training moves it from
      there. ``new_rows="fresh"`` keeps the target's own initial columns instead (Keras'
      Glorot-uniform kernel and zero bias: what rebuilding the classifier gives); a logit near
      0 then beats most of the real chars' (measured, README.md "Fine-tune").
    - A char of the source that the target lacks loses its column and bias entry.

    So when the target charset only adds chars, the logits of every shared class (and of the
    blank) are those of the source model for any input, before any training step.

    Args:
        source_model: the trained ShadowNet (:func:`toolkit.model.build_shadownet`).
        source_charset: its charset.
        target_model: a ShadowNet of the same size for ``target_charset``; its weights are
            overwritten.
        target_charset: the new charset.
        new_rows: ``mean`` or ``fresh``, see above.

    Returns:
        A :class:`TransferReport`.

    Raises:
        CheckpointError: if either model is not a ShadowNet, a charset does not fit its model's
            classifier, or the networks differ in anything but the classifier's width (another
            size: the message names the layer and both shapes).
        ValueError: if ``new_rows`` is not one of :data:`NEW_ROWS`.
    """
    import numpy as np

    if new_rows not in NEW_ROWS:
        raise ValueError(f"new_rows must be one of {NEW_ROWS}, got {new_rows!r}")
    _check_shadownet(source_model, source_charset, "source")
    _check_shadownet(target_model, target_charset, "target")
    source = {layer.name: layer for layer in source_model.layers if layer.weights}
    target = {layer.name: layer for layer in target_model.layers if layer.weights}
    if set(source) != set(target):
        raise CheckpointError(
            f"the source and target ShadowNets have different layers (only in the source: "
            f"{sorted(set(source) - set(target))}, only in the target: "
            f"{sorted(set(target) - set(source))}): they are not of the same size")
    copied = []
    for name, layer in target.items():
        if name == CLASSIFIER:
            continue
        weights = source[name].get_weights()
        want = [w.shape for w in layer.get_weights()]
        if [w.shape for w in weights] != want:
            raise CheckpointError(
                f"layer {name!r} has weights of shapes {[w.shape for w in weights]} in the source "
                f"and {want} in the target: the source is a ShadowNet of another size; "
                f"fine-tuning keeps the source's size")
        layer.set_weights(weights)
        copied.append(name)

    kernel, bias = source[CLASSIFIER].get_weights()       # (d, source classes), (source classes,)
    mapping = map_classes(source_charset, target_charset)
    index = np.array(mapping.source_index)
    new = index < 0
    new_kernel = kernel[:, np.where(new, 0, index)]       # (d, target classes)
    new_bias = bias[np.where(new, 0, index)]
    if new_rows == "mean":
        chars = slice(0, source_charset.blank_index)      # every source class but the blank
        new_kernel[:, new] = kernel[:, chars].mean(axis=1, keepdims=True)
        new_bias[new] = bias[chars].mean()
    else:
        fresh_kernel, fresh_bias = target[CLASSIFIER].get_weights()
        new_kernel[:, new] = fresh_kernel[:, new]
        new_bias[new] = fresh_bias[new]
    target[CLASSIFIER].set_weights([new_kernel.astype(kernel.dtype), new_bias.astype(bias.dtype)])
    return TransferReport(mapping=mapping, copied_layers=tuple(copied), new_rows=new_rows)


def preset_of(config: ModelConfig) -> str | None:
    """The name of the preset whose size (channels, LSTM units) ``config`` has, or ``None``."""
    for name, preset in PRESETS.items():
        if tuple(preset["channels"]) == config.channels and preset["lstm_units"] == config.lstm_units:
            return name
    return None


def _size_of(config: ModelConfig) -> str:
    name = preset_of(config)
    if name is not None:
        return f"preset {name!r}"
    return f"channels {list(config.channels)}, {config.lstm_units} LSTM units"


def resolve_init_from(init_from: str | os.PathLike) -> tuple[ModelSpec, str]:
    """Resolve a fine-tuning source to ``(model spec, checkpoint prefix)``.

    Args:
        init_from: :data:`BUNDLED` for the bundled model, a model directory, its ``checkpoints/``
            directory or a checkpoint prefix written by train-shadownet.

    Raises:
        CheckpointError: if ``bundled`` is asked and there is no bundled model; if the path is an
            exported model (a SavedModel directory or a ``.tflite`` file: no training weights); or
            if it is not a ShadowNet model directory or checkpoint written by train-shadownet.
    """
    if str(init_from) == BUNDLED:
        from toolkit.paths import bundled_model_dir

        found = bundled_model_dir()
        if found is None:
            raise CheckpointError("init from 'bundled': there is no bundled model in "
                                  "model/shadownet/ (install from a checkout of the repository, or "
                                  "give a model directory)")
        init_from = found
    p = Path(init_from)
    if p.suffix == ".tflite" or (p.is_dir() and (p / "export.json").exists()):
        raise CheckpointError(f"{p} is an exported model (TFLite or SavedModel), not a training "
                              f"checkpoint: fine-tune from the model directory it was exported "
                              f"from (its export.json names it as source_checkpoint)")
    try:
        return resolve_weights(p)
    except CheckpointError as e:
        raise CheckpointError(f"cannot fine-tune from {p}: not a ShadowNet model directory or "
                              f"checkpoint written by train-shadownet ({e})") from None


@dataclass(frozen=True)
class FineTuneSource:
    """A trained ShadowNet to start a new model from, checked against the new charset.

    Attributes:
        spec: the source's model directory description.
        prefix: the checkpoint prefix whose weights are copied.
        mapping: the source's classes matched to the new charset's (:func:`map_classes`).
        model_config: the new model's configuration: the source's, with the new charset's
            ``num_classes``.
    """

    spec: ModelSpec
    prefix: str
    mapping: ClassMapping
    model_config: ModelConfig

    @classmethod
    def open(cls, init_from: str | os.PathLike, charset: Charset,
             model_preset: str | None = None) -> FineTuneSource:
        """Find the source model and match it to ``charset`` (no weights are read yet).

        Args:
            init_from: see :func:`resolve_init_from`.
            charset: the charset of the new model.
            model_preset: a requested size; ``None`` takes the source's.

        Raises:
            CheckpointError: see :func:`resolve_init_from`; or if ``model_preset`` names another
                size than the source's.
        """
        spec, prefix = resolve_init_from(init_from)
        config = replace(spec.model_config, num_classes=charset.num_classes)
        if model_preset is not None:
            wanted = ModelConfig.from_preset(model_preset, charset.num_classes)
            if wanted != config:
                raise CheckpointError(
                    f"{prefix} is a ShadowNet of {_size_of(spec.model_config)}, not of the "
                    f"requested {_size_of(wanted)}: fine-tuning copies every layer but the "
                    f"classifier, so the new model has the source's size (leave the model size "
                    f"out)")
        return cls(spec=spec, prefix=prefix, mapping=map_classes(spec.charset, charset),
                   model_config=config)

    def record(self) -> dict:
        """The ``init_from`` entry of the new model's ``shadownet.json``: the source's path,
        checkpoint and charset sha256, and how many chars were kept, added and dropped."""
        return {"path": str(self.spec.model_dir), "checkpoint": str(self.prefix),
                "charset_sha256": self.spec.charset.sha256, "kept": len(self.mapping.kept),
                "added": len(self.mapping.added), "dropped": len(self.mapping.dropped),
                "added_examples": "".join(self.mapping.added[:20])}

    def apply(self, target_model, charset: Charset, new_rows: str = "mean") -> TransferReport:
        """Restore the source's weights and copy them into ``target_model`` (see
        :func:`transfer_weights`).

        Raises:
            CheckpointError: see :func:`load_model` and :func:`transfer_weights`.
        """
        source_model, _, _ = load_model(self.prefix)
        return transfer_weights(source_model, self.spec.charset, target_model, charset,
                                new_rows=new_rows)


def freeze_stages(model, stages) -> list[str]:
    """Hold the layers of the named stages fixed in training.

    A frozen layer's weights leave ``model.trainable_variables`` (the optimizer does not see
    them), and a frozen batch normalization runs in inference mode (Keras 3: it normalizes with
    its moving statistics and does not update them), so the stage computes the same function
    after any number of steps.

    Args:
        model: a ShadowNet.
        stages: names from :data:`FREEZABLE_STAGES` (``cnn``: the layers ``cnn_*``).

    Returns:
        The names of the layers made untrainable.

    Raises:
        ValueError: on an unknown stage, or a stage the model has no layer of.
    """
    frozen = []
    for stage in stages:
        if stage not in FREEZABLE_STAGES:
            raise ValueError(f"cannot freeze {stage!r}: stages are {', '.join(FREEZABLE_STAGES)}")
        layers = [layer for layer in model.layers if layer.name.startswith(f"{stage}_")]
        if not layers:
            raise ValueError(f"cannot freeze {stage!r}: {model.name} has no {stage}_* layer")
        for layer in layers:
            layer.trainable = False
            frozen.append(layer.name)
    return frozen
