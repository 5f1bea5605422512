"""Model directories and checkpoints: where a trained ShadowNet lives and how it is loaded.

A model directory written by train-shadownet::

    <model_dir>/shadownet.json        # model config, charset (chars + sha256), training config
    <model_dir>/char_dict/            # the three JSON maps of the charset it was trained with
    <model_dir>/checkpoints/ckpt-<step>.index, .data-*, checkpoint   # tf.train.Checkpoint files
    <model_dir>/logs/                 # TensorBoard

``--weights-path`` accepts the model directory, its ``checkpoints/`` directory, or one checkpoint
prefix (``.../checkpoints/ckpt-500``); ``shadownet.json`` is looked up beside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from toolkit.charset import Charset
from toolkit.io import atomic_write_json, read_versioned_json
from toolkit.model import ModelConfig, build_shadownet

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
    """

    model_dir: Path
    model_config: ModelConfig
    charset: Charset
    train: dict

    def save(self) -> None:
        """Write ``shadownet.json`` and ``char_dict/`` into ``model_dir`` (atomically)."""
        self.model_dir.mkdir(parents=True, exist_ok=True)
        obj = {"format_version": FORMAT_VERSION, "model": self.model_config.to_json(),
               "charset": self.charset.to_json(), "train": self.train}
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
                   charset=Charset.from_json(obj["charset"]), train=obj.get("train", {}))


def latest_checkpoint(model_dir: str | os.PathLike) -> str | None:
    """The newest complete checkpoint prefix of a model directory, or ``None``."""
    import tensorflow as tf

    d = Path(model_dir) / CHECKPOINT_DIR
    return tf.train.latest_checkpoint(str(d)) if d.is_dir() else None


def resolve_weights(weights_path: str | os.PathLike) -> tuple[ModelSpec, str]:
    """Resolve ``--weights-path`` to ``(model spec, checkpoint prefix)``.

    Raises:
        CheckpointError: if the path does not exist, holds no complete checkpoint, or has no
            ``shadownet.json`` beside it.
    """
    p = Path(weights_path)
    if p.is_dir():
        if (p / MODEL_JSON).exists():
            prefix = latest_checkpoint(p)
            if prefix is None:
                raise CheckpointError(f"{p}: model directory without a complete checkpoint in "
                                      f"{p / CHECKPOINT_DIR}")
            return ModelSpec.load(p), prefix
        if (p / "checkpoint").exists():
            import tensorflow as tf

            prefix = tf.train.latest_checkpoint(str(p))
            if prefix is None:
                raise CheckpointError(f"{p}: no complete checkpoint listed in {p / 'checkpoint'}")
            return ModelSpec.load(p.parent), prefix
        raise CheckpointError(f"{p}: neither a model directory ({MODEL_JSON}) nor a checkpoint "
                              f"directory")
    if Path(str(p) + ".index").exists():
        parent = p.parent
        model_dir = parent.parent if parent.name == CHECKPOINT_DIR else parent
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
    return model, spec, prefix
