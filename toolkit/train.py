"""The train-shadownet stage: a custom TensorFlow training loop with CTC loss, resume and TensorBoard.

Resume contract: the checkpoint holds the weights, the optimizer state (Adam moments) and its
step counter; the learning-rate schedule is a function of that step and its parameters are saved in
``shadownet.json`` at the first run, so a resumed run continues at the same step with the same
learning rate. A checkpoint made with another charset is refused.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from toolkit.charset import Charset
from toolkit.checkpoints import (CHECKPOINT_DIR, CheckpointError, ModelSpec, latest_checkpoint,
                                 resolve_weights)
from toolkit.evaluate import score_batches
from toolkit.model import ModelConfig
from toolkit import records

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters.

    Attributes:
        steps: train until the optimizer's step counter reaches this (a resumed run goes on to it).
        batch_size: lines per step.
        learning_rate: Adam peak learning rate.
        warmup_steps: linear warm-up from 0 to ``learning_rate``.
        decay_steps: cosine decay from the peak to ``min_lr_ratio * learning_rate`` over this many
            steps after warm-up (default: ``steps``, fixed at the first run and kept on resume).
        min_lr_ratio: floor of the schedule, relative to the peak.
        clipnorm: gradient norm clipping.
        checkpoint_every: steps between checkpoints.
        eval_every: steps between validation runs.
        eval_batches: validation batches per evaluation (``0``: the whole split).
        keep_checkpoints: checkpoints kept on disk.
        precision: ``float32``, ``mixed_bfloat16`` (CPUs with AVX512-BF16/AMX, TPUs) or
            ``mixed_float16`` (GPUs).
        seed: weight initialisation and shuffling seed.
        shuffle_buffer: examples in the tf.data shuffle buffer.
    """

    steps: int = 10000
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    decay_steps: int | None = None
    min_lr_ratio: float = 0.05
    clipnorm: float = 5.0
    checkpoint_every: int = 500
    eval_every: int = 500
    eval_batches: int = 20
    keep_checkpoints: int = 3
    precision: str = "float32"
    seed: int = 0
    shuffle_buffer: int = 2000

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "eval_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


def make_schedule(peak: float, warmup_steps: int, decay_steps: int, min_lr_ratio: float):
    """Linear warm-up then cosine decay, as a Keras ``LearningRateSchedule`` of the step."""
    import keras
    import tensorflow as tf

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            warm = peak * step / max(1, warmup_steps)
            progress = tf.clip_by_value((step - warmup_steps) / max(1, decay_steps), 0.0, 1.0)
            cosine = min_lr_ratio * peak + (1 - min_lr_ratio) * peak * 0.5 * (
                1.0 + tf.cos(math.pi * progress))
            return tf.where(step < warmup_steps, warm, cosine)

        def get_config(self):
            return {"peak": peak, "warmup_steps": warmup_steps, "decay_steps": decay_steps,
                    "min_lr_ratio": min_lr_ratio}

    return WarmupCosine()


@dataclass
class TrainResult:
    """Outcome of :func:`train`: the final step, the last loss, validation metrics, and
    ``resumed_from`` (checkpoint prefix or ``None``)."""

    step: int
    loss: float
    checkpoint: str
    resumed_from: str | None
    validation: dict = field(default_factory=dict)
    images_per_second: float = 0.0


def _resolve_resume(model_dir: Path, weights_path) -> tuple[ModelSpec | None, str | None]:
    if weights_path:
        spec, prefix = resolve_weights(weights_path)
        return spec, prefix
    prefix = latest_checkpoint(model_dir)
    if prefix is None:
        return None, None
    return ModelSpec.load(model_dir), prefix


def train(dataset_dir: str | os.PathLike, char_dict_dir: str | os.PathLike,
          model_dir: str | os.PathLike, weights_path: str | os.PathLike | None = None,
          config: TrainConfig = TrainConfig(), model_preset: str | None = None,
          progress: bool = True) -> TrainResult:
    """Train (or resume training) a ShadowNet on a record set.

    Args:
        dataset_dir: a record directory written by write-tfrecords (train and validation splits).
        char_dict_dir: the char dict the records were written with.
        model_dir: where checkpoints, ``shadownet.json`` and TensorBoard logs go.
        weights_path: resume from this checkpoint or model directory; without it, the newest
            checkpoint in ``model_dir`` is resumed if there is one.
        config: training hyper-parameters; on resume, the schedule saved at the first run is kept.
        model_preset: ``shadownet`` (default for a new model), ``small`` or ``tiny``; on resume it
            must match the saved model or be ``None``.

    Returns:
        A :class:`TrainResult`.

    Raises:
        DatasetError: if the records were written with another char dict.
        CheckpointError: if the checkpoint to resume was made with another charset or another model
            configuration, or its variables do not fit the model its ``shadownet.json`` describes.
        DatasetError: if a shard turns out corrupt or truncated while training (a checkpoint is
            saved first; the message names the shard and the record).
        OSError: if a checkpoint cannot be written (a full disk); the last complete one is kept.
        KeyboardInterrupt: on Ctrl-C (SIGINT), after saving a checkpoint at the current step.
    """
    import keras
    import numpy as np
    import tensorflow as tf
    from tqdm import tqdm

    from toolkit.model import build_shadownet

    model_dir = Path(model_dir)
    charset = Charset.load(char_dict_dir)
    meta = records.read_metadata(dataset_dir)
    records.check_charset(meta, charset, dataset_dir)

    spec, resume_prefix = _resolve_resume(model_dir, weights_path)
    if spec is not None:
        if spec.charset.sha256 != charset.sha256:
            raise CheckpointError(
                f"{resume_prefix} was trained with another char dict ({spec.charset.num_classes} "
                f"classes, sha256 {spec.charset.sha256[:12]}) than {char_dict_dir} "
                f"({charset.num_classes} classes, sha256 {charset.sha256[:12]}); its labels would "
                f"be scrambled. Train into a new --model-dir, or use the char dict saved in "
                f"{spec.model_dir / 'char_dict'}")
        if model_preset is not None:
            wanted = ModelConfig.from_preset(model_preset, charset.num_classes)
            if wanted != spec.model_config:
                raise CheckpointError(
                    f"{resume_prefix} holds a model configured as {spec.model_config.to_json()}, "
                    f"not the requested preset {model_preset!r}")
        model_config = spec.model_config
        saved = spec.train
        config = replace(config, learning_rate=saved.get("learning_rate", config.learning_rate),
                         warmup_steps=saved.get("warmup_steps", config.warmup_steps),
                         decay_steps=saved.get("decay_steps", config.decay_steps),
                         min_lr_ratio=saved.get("min_lr_ratio", config.min_lr_ratio))
    else:
        model_config = ModelConfig.from_preset(model_preset or "shadownet", charset.num_classes)
    if config.decay_steps is None:
        config = replace(config, decay_steps=max(1, config.steps - config.warmup_steps))
    ModelSpec(model_dir=model_dir, model_config=model_config, charset=charset,
              train=asdict(config)).save()

    old_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(config.precision)
    keras.utils.set_random_seed(config.seed)
    try:
        model = build_shadownet(model_config)
        schedule = make_schedule(config.learning_rate, config.warmup_steps, config.decay_steps,
                                 config.min_lr_ratio)
        optimizer = keras.optimizers.Adam(learning_rate=schedule, clipnorm=config.clipnorm)
        if config.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer)
        if resume_prefix:
            try:
                ckpt.restore(resume_prefix).assert_existing_objects_matched()
            except (AssertionError, ValueError) as e:
                raise CheckpointError(
                    f"{resume_prefix}: the checkpoint does not match the model configured in "
                    f"{spec.model_dir / 'shadownet.json'} ({model_config.to_json()}): "
                    f"{str(e).splitlines()[0][:300]}") from None
            logger.info("resumed from %s at step %d", resume_prefix, int(optimizer.iterations))
        manager = tf.train.CheckpointManager(
            ckpt, str(model_dir / CHECKPOINT_DIR), max_to_keep=config.keep_checkpoints,
            checkpoint_name="ckpt", step_counter=optimizer.iterations)

        def save(step_number: int) -> str:
            try:
                return manager.save(checkpoint_number=step_number)
            except tf.errors.OpError as e:
                raise OSError(f"{model_dir / CHECKPOINT_DIR}: saving checkpoint ckpt-{step_number} "
                              f"failed ({e.message}); the disk may be full. The last complete "
                              f"checkpoint, {manager.latest_checkpoint}, was kept") from None

        blank = charset.blank_index
        signature = [tf.TensorSpec([None, 32, None, 1], tf.float32),
                     tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32),
                     tf.TensorSpec([None], tf.int32)]

        @tf.function(input_signature=signature)
        def train_step(images, labels, label_length, widths):
            with tf.GradientTape() as tape:
                logits = tf.cast(model(images, training=True), tf.float32)
                loss = tf.reduce_mean(tf.nn.ctc_loss(
                    labels=labels, logits=logits, label_length=label_length,
                    logit_length=widths // 4, logits_time_major=False, blank_index=blank))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        @tf.function(input_signature=signature[:1])
        def predict(images):
            return tf.cast(model(images, training=False), tf.float32)

        train_ds = records.make_dataset(dataset_dir, "train", config.batch_size, training=True,
                                        seed=config.seed + int(optimizer.iterations),
                                        shuffle_buffer=config.shuffle_buffer)
        has_val = meta["counts"].get("validation", 0) > 0
        val_ds = records.make_dataset(dataset_dir, "validation", config.batch_size,
                                      training=False) if has_val else None

        writer = tf.summary.create_file_writer(str(model_dir / "logs"))
        step = int(optimizer.iterations)
        start_step = step
        if step >= config.steps:
            logger.info("model in %s is already at step %d >= --steps %d; nothing to train",
                        model_dir, step, config.steps)
        last_loss = float("nan")
        validation: dict = {}
        bar = tqdm(total=config.steps, initial=step, desc="train-shadownet", unit="step",
                   disable=not progress)
        t0 = time.perf_counter()

        def run_validation():
            nonlocal validation
            if val_ds is None:
                return
            examples: list[tuple[str, str, str]] = []

            def keep(name, gt, pred):
                if len(examples) < 6:
                    examples.append((name, gt, pred))

            scores = score_batches(predict, val_ds, charset, config.eval_batches, on_line=keep)
            validation = scores.as_dict()
            with writer.as_default(step=step):
                tf.summary.scalar("validation/cer", scores.cer)
                tf.summary.scalar("validation/line_accuracy", scores.line_accuracy)
                table = "| image | ground truth | prediction |\n|---|---|---|\n" + "\n".join(
                    f"| {n} | {g} | {p} |" for n, g, p in examples)
                tf.summary.text("validation/samples", table)
            logger.info("step %d validation: %s", step, scores.format())
            bar.write(f"step {step}: validation {scores.format()}")

        try:
            if step < config.steps:
                for batch in train_ds:
                    loss = train_step(batch["images"], batch["labels"], batch["label_length"],
                                      batch["widths"])
                    step = int(optimizer.iterations)
                    bar.update(1)
                    if step % 10 == 0 or step == config.steps:
                        last_loss = float(loss)
                        if not np.isfinite(last_loss):
                            logger.warning("step %d: loss is %s (a label longer than its time "
                                           "steps, or divergence)", step, last_loss)
                        bar.set_postfix(loss=f"{last_loss:.3f}")
                        with writer.as_default(step=step):
                            tf.summary.scalar("loss", last_loss)
                            tf.summary.scalar("learning_rate", float(schedule(step)))
                    if step % config.checkpoint_every == 0 or step >= config.steps:
                        save(step)
                    if step % config.eval_every == 0 and step < config.steps:
                        run_validation()
                    if step >= config.steps:
                        break
                last_loss = float(loss)
        except KeyboardInterrupt:
            bar.close()
            path = save(int(optimizer.iterations))
            logger.warning("interrupted: saved %s at step %d", path, int(optimizer.iterations))
            raise
        except tf.errors.DataLossError as err:
            bar.close()
            path = save(int(optimizer.iterations))
            logger.warning("stopped on damaged records: saved %s at step %d", path,
                           int(optimizer.iterations))
            raise records.damaged_records_error(dataset_dir, ("train", "validation"), err) from None
        bar.close()
        elapsed = time.perf_counter() - t0
        path = manager.latest_checkpoint
        if path is None or int(path.rsplit("-", 1)[1]) != step:
            path = save(step)
        run_validation()
        writer.flush()
        ips = (step - start_step) * config.batch_size / elapsed if step > start_step else 0.0
        return TrainResult(step=step, loss=last_loss, checkpoint=path,
                           resumed_from=resume_prefix, validation=validation,
                           images_per_second=ips)
    finally:
        keras.mixed_precision.set_global_policy(old_policy)
