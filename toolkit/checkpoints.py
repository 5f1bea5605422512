"""Model directories and checkpoints: where a trained ShadowNet lives and how it is loaded.

A model directory written by train-shadownet::

    <model_dir>/shadownet.json        # model config, charset (chars + sha256), training config
    <model_dir>/char_dict/            # the three JSON maps of the charset it was trained with
    <model_dir>/checkpoints/ckpt-<step>.index, .data-*, checkpoint   # tf.train.Checkpoint files
    <model_dir>/logs/                 # TensorBoard

``--weights-path`` accepts the model directory, its ``checkpoints/`` directory, or one checkpoint
prefix (``.../checkpoints/ckpt-500``); ``shadownet.json`` is looked up beside it.

A directory's checkpoint is the newest *complete* one: its ``.index`` and every ``.data`` shard
present and every tensor readable with an intact checksum (:func:`checkpoint_problem`). Newer
damaged ones (a disk that filled, a copy cut short) are skipped with a warning that names them;
a checkpoint prefix given by name is used only if it is complete.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from toolkit.charset import Charset, atomic_write_text, read_versioned_json
from toolkit.model import ModelConfig

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
        atomic_write_text(self.model_dir / MODEL_JSON, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
        self.charset.save(self.model_dir / "char_dict")

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> "ModelSpec":
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

    from toolkit.model import build_shadownet

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
