"""The train-shadownet stage: a custom TensorFlow training loop with CTC loss, resume and TensorBoard.

Resume contract: the checkpoint holds the weights, the optimizer state (Adam moments) and its
step counter; the learning-rate schedule is a function of that step and its parameters are saved in
``shadownet.json`` at the first run, so a resumed run continues at the same step with the same
learning rate. A checkpoint made with another charset is refused.

Scale-out: ``strategy`` picks a ``tf.distribute`` strategy (see :mod:`toolkit.distribute`). The
batch size is the global batch, split evenly between the replicas; the CTC loss of each replica is
summed and divided by the global batch (``tf.nn.compute_average_loss``), the gradients are summed
over the replicas before gradient clipping and the Adam update, and batch-norm statistics are taken
over the global batch, so N replicas train like one device on the same global batch. TFRecord shard
files are divided between workers (file-level sharding, see :func:`_train_dataset`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from toolkit import records
from toolkit.charset import Charset
from toolkit.checkpoints import (
    CHECKPOINT_DIR,
    FREEZABLE_STAGES,
    CheckpointError,
    FineTuneSource,
    ModelSpec,
    freeze_stages,
    latest_checkpoint,
    resolve_weights,
)
from toolkit.distribute import (
    DEFAULT_STARTUP_TIMEOUT_S,
    Distribution,
    create_distribution,
    is_chief_process,
)
from toolkit.locks import DirectoryLock
from toolkit.metrics import score_batches
from toolkit.model import ModelConfig, PredictionView, build_shadownet

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
            steps after warm-up (default: ``steps - warmup_steps``, fixed at the first run and kept
            on resume unless given again with another value: then the schedule is replaced, and the
            learning rate jumps to the new curve's value at the current step).
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
        freeze: stages held fixed (``("cnn",)``: train the BiLSTMs and the classifier only; see
            :func:`toolkit.checkpoints.freeze_stages`); kept on resume.
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
    freeze: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "freeze", tuple(self.freeze))  # a list when read from JSON
        for stage in self.freeze:
            if stage not in FREEZABLE_STAGES:
                raise ValueError(f"freeze: unknown stage {stage!r}; choose from {FREEZABLE_STAGES}")
        for name in ("steps", "batch_size", "checkpoint_every", "eval_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Within the block, SIGTERM (what ``kill`` and batch schedulers such as Slurm send before they
    kill) raises ``KeyboardInterrupt`` like Ctrl-C (SIGINT), so training saves a checkpoint at the
    current step and stops. Only the first of them interrupts: later SIGTERMs and SIGINTs, until
    the block is left, are logged and ignored, so that they cannot cut the checkpoint being saved
    (schedulers and users often signal twice; SIGKILL still ends the process at once).

    SIGINT is left alone if it is ignored (a background job started by a shell). Only in the main
    thread (the only one that can set signal handlers); the previous handlers are restored on
    exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted: list[str] = []

    def interrupt(signum, frame):
        name = signal.Signals(signum).name
        if interrupted:
            logger.warning("%s received again: ignored until the checkpoint is saved (SIGKILL "
                           "would lose the steps since the last one)", name)
            return
        interrupted.append(name)
        logger.warning("%s received: stopping at the current step; further SIGTERM/SIGINT are "
                       "ignored until the run has saved and stopped", name)
        raise KeyboardInterrupt(f"signal {name}")

    signums = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signums.append(signal.SIGINT)
    previous = {signum: signal.signal(signum, interrupt) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def cpu_supports_bfloat16() -> bool:
    """True if ``/proc/cpuinfo`` lists AVX512-BF16 or AMX-BF16 (fast bfloat16 matmuls on x86)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """The precision ``auto`` stands for on this machine; any other name is returned unchanged.

    ``auto`` is ``mixed_bfloat16`` on a GPU of compute capability 8.0 or newer (bfloat16 tensor
    cores, no loss scaling needed) and on a CPU with AVX512-BF16 or AMX
    (:func:`cpu_supports_bfloat16`), ``mixed_float16`` on an older GPU, else ``float32``: the
    fastest precision the hardware runs natively (``tools/benchmark.py --only precision``
    measures the CPU gain, 1.4-1.5x on an AVX512-BF16 EPYC).

    Raises:
        ValueError: for a name that is neither ``auto`` nor one of :data:`PRECISIONS`.
    """
    if precision != "auto":
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {precision!r}")
        return precision
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return "mixed_bfloat16" if capability and tuple(capability) >= (8, 0) else "mixed_float16"
    return "mixed_bfloat16" if cpu_supports_bfloat16() else "float32"


def _warn_if_precision_is_slow(precision: str, tf) -> None:
    """Log a warning when the precision has no hardware support here: mixed_bfloat16 on a CPU without
    AVX512-BF16/AMX (and no GPU) and mixed_float16 without a GPU are emulated and slower than float32
    (tools/benchmark.py --only precision measures the gain where it is supported)."""
    if precision == "float32" or tf.config.list_physical_devices("GPU"):
        return
    if precision == "mixed_float16" or not cpu_supports_bfloat16():
        logger.warning("--precision %s: no GPU and no bfloat16 support in this CPU's flags; it will "
                       "likely be slower than float32 here", precision)


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


def make_optimizer(schedule, clipnorm: float, precision: str = "float32"):
    """Adam whose gradients are clipped to ``clipnorm`` (per variable, like Keras' ``clipnorm``)
    after they are summed over the replicas of a ``tf.distribute`` strategy.

    Keras clips in ``apply()``, before the cross-replica sum, so with N replicas it would clip each
    replica's partial gradient; clipping in ``update_step`` (which receives the summed gradient)
    keeps one-device semantics. Create it inside ``strategy.scope()``.

    Args:
        schedule: a learning rate or ``LearningRateSchedule``.
        clipnorm: largest L2 norm of each variable's gradient.
        precision: ``mixed_float16`` wraps it in a ``LossScaleOptimizer``.
    """
    import keras
    import tensorflow as tf

    class ClippedAdam(keras.optimizers.Adam):
        def update_step(self, gradient, variable, learning_rate):
            return super().update_step(tf.clip_by_norm(gradient, clipnorm), variable,
                                       learning_rate)

    optimizer = ClippedAdam(learning_rate=schedule)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


TRAIN_KEYS = ("images", "labels", "label_length", "widths")


def ctc_loss(labels, label_length, logits, logit_length, blank_index: int):
    """Per-line CTC loss (negative log-likelihood of the label), with TensorFlow's fused CTC kernel.

    ``tf.nn.ctc_loss`` given dense padded labels runs the CTC forward-backward recursion as a graph
    of TensorFlow ops; given the same labels as a ``SparseTensor`` it runs one C++ kernel (the
    ``CTCLoss`` op, which also returns the gradient), which TensorFlow's documentation calls
    "significantly faster" on CPU and GPU. Same loss (measured: 3e-7 relative) and gradient (2e-4
    absolute, of values up to 1). Measured on a 2-core AMD EPYC CPU:
    batch 32, 55 time steps, 2,410 classes, loss and gradient: 162 ms dense, 25 ms sparse; in the
    small preset's train step it was a third of the step's time.

    Args:
        labels: int32 ``(b, L)`` class ids, padded past each line's ``label_length`` (any value).
        label_length: int32 ``(b,)`` chars per label.
        logits: float32 ``(b, T, classes)``.
        logit_length: int32 ``(b,)`` time steps of each line (``widths // 4``).
        blank_index: the blank class (``Charset.blank_index``; any class, TensorFlow moves it).

    Returns:
        float32 ``(b,)``.

    Raises:
        tf.errors.InvalidArgumentError: at run time, if a label needs more time steps than its line
            has (``write-tfrecords`` refuses such lines, so records never hold one).
    """
    import tensorflow as tf

    present = tf.where(tf.sequence_mask(label_length, tf.shape(labels)[1]))        # (n, 2) int64
    sparse = tf.SparseTensor(present, tf.gather_nd(labels, present),
                             tf.shape(labels, out_type=tf.int64))
    num_classes = logits.shape[-1]
    if num_classes is not None and blank_index in (-1, num_classes - 1):
        # The kernel's own convention (blank last, our Charset's): call it directly. tf.nn.ctc_loss
        # would first move the blank to the end by slicing the logits into three parts and
        # concatenating them, whose gradients (three full-size StridedSliceGrads) cost 13 ms of the
        # 280 ms small-preset step above (TensorFlow profiler).
        return tf.compat.v1.nn.ctc_loss(labels=sparse, inputs=logits, sequence_length=logit_length,
                                        time_major=False)
    return tf.nn.ctc_loss(labels=sparse, logits=logits, label_length=None, logit_length=logit_length,
                          logits_time_major=False, blank_index=blank_index)


def make_train_step(strategy, model, optimizer, blank_index: int, global_batch_size: int,
                    element_spec=None):
    """A compiled training step over one global batch.

    Args:
        strategy: the ``tf.distribute`` strategy the model and optimizer were created under
            (``tf.distribute.get_strategy()`` for one device).
        model: ShadowNet (``(batch, 32, W, 1)`` float32 -> ``(batch, W / 4, classes)`` logits).
        optimizer: from :func:`make_optimizer`.
        blank_index: the CTC blank class (``Charset.blank_index``).
        global_batch_size: lines per step over all replicas; each replica's summed CTC loss is
            divided by it, so the summed gradients are those of the mean loss of the global batch.
        element_spec: the input signature of a batch (``dataset.element_spec`` of the, possibly
            distributed, dataset) so that new widths do not retrace; ``None``: traced per shape.

    Returns:
        ``step(batch) -> loss``: ``batch`` a dict with :data:`TRAIN_KEYS` (``images`` float32
        ``(b, 32, W, 1)``, ``labels`` int32 ``(b, L)`` padded with -1, ``label_length`` and
        ``widths`` int32 ``(b,)``), per replica when distributed; ``loss`` the mean CTC loss of
        the global batch (float32 scalar). Each call applies one optimizer update.
    """
    import tensorflow as tf

    def replica_step(images, labels, label_length, widths):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            per_example = ctc_loss(labels, label_length, logits, widths // 4, blank_index)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    def step(batch):
        per_replica = strategy.run(replica_step, args=tuple(batch[k] for k in TRAIN_KEYS))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    if element_spec is None:
        return tf.function(step, reduce_retracing=True)
    return tf.function(step, input_signature=[element_spec])


def _step_of(optimizer) -> int:
    """The optimizer's step counter as an int (also for a mirrored variable)."""
    return int(optimizer.iterations.numpy())


def _train_dataset(dist: Distribution, dataset_dir, config: TrainConfig, seed: int, mix=()):
    """The training batches, as the strategy wants them (``mix``: see :func:`train`).

    One device: batches of ``config.batch_size``. Distributed: each worker's input pipeline reads
    its own part of the train shard files (file-level sharding) and makes per-replica batches
    (``batch_size / replicas``), handed to the replicas in turn by
    ``distribute_datasets_from_function``; so each replica gets its own width bucket and padding.
    """
    if not dist.distributed:
        return records.make_dataset(dataset_dir, "train", config.batch_size, training=True,
                                    seed=seed, shuffle_buffer=config.shuffle_buffer, keys=TRAIN_KEYS,
                                    mix=mix)

    def dataset_fn(context):
        return records.make_dataset(
            dataset_dir, "train", context.get_per_replica_batch_size(config.batch_size),
            training=True, seed=seed, shuffle_buffer=config.shuffle_buffer,
            input_shard=(context.input_pipeline_id, context.num_input_pipelines), keys=TRAIN_KEYS,
            mix=mix)

    return dist.strategy.distribute_datasets_from_function(dataset_fn)


@dataclass
class TrainResult:
    """Outcome of :func:`train`: the final step, the last loss, validation metrics,
    ``resumed_from`` (checkpoint prefix or ``None``), training speed in images per second (global
    batches), the number of replicas, whether this process is the chief (on other workers,
    ``checkpoint`` is the chief's path and ``validation`` is empty), and ``finetune``, the model
    a new fine-tuning run started from (``None`` otherwise)."""

    step: int
    loss: float
    checkpoint: str
    resumed_from: str | None
    validation: dict = field(default_factory=dict)
    images_per_second: float = 0.0
    replicas: int = 1
    is_chief: bool = True
    finetune: FineTuneSource | None = None


def _resolve_resume(model_dir: Path, weights_path) -> tuple[ModelSpec | None, str | None]:
    if weights_path:
        spec, prefix = resolve_weights(weights_path)
        return spec, prefix
    prefix = latest_checkpoint(model_dir)
    if prefix is None:
        return None, None
    return ModelSpec.load(model_dir), prefix


@dataclass(frozen=True)
class _TrainPlan:
    """What a :func:`train` run trains: the resolved model and training configs and what it resumes."""

    charset: Charset
    meta: dict
    model_config: ModelConfig
    config: TrainConfig
    spec: ModelSpec | None
    resume_prefix: str | None
    source: FineTuneSource | None = None
    """The model a new fine-tuning run starts from (``init_from``), or ``None``."""


def _resumed_config(spec: ModelSpec, resume_prefix: str, charset: Charset, char_dict_dir,
                    config: TrainConfig, model_preset: str | None) -> TrainConfig:
    """Check that a resumed model fits the char dict and the preset; return ``config`` with the
    schedule saved at the first run (``decay_steps`` replaced if given again with another value)."""
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
    saved = spec.train
    decay_steps = saved.get("decay_steps", config.decay_steps)
    if config.freeze and config.freeze != tuple(saved.get("freeze", ())):
        logger.warning("freeze %s ignored: a resumed run keeps the stages saved in %s (%s)",
                       config.freeze, spec.model_dir / "shadownet.json", saved.get("freeze", []))
    if config.decay_steps is not None and config.decay_steps != decay_steps:
        logger.warning("decay_steps %s -> %s: the cosine schedule saved in %s is replaced; the "
                       "learning rate follows the new curve from this step on",
                       decay_steps, config.decay_steps, spec.model_dir / "shadownet.json")
        decay_steps = config.decay_steps
    return replace(config, learning_rate=saved.get("learning_rate", config.learning_rate),
                   warmup_steps=saved.get("warmup_steps", config.warmup_steps),
                   decay_steps=decay_steps,
                   min_lr_ratio=saved.get("min_lr_ratio", config.min_lr_ratio),
                   freeze=tuple(saved.get("freeze", ())))


def _plan_training(dataset_dir, char_dict_dir, model_dir: Path, weights_path, config: TrainConfig,
                   model_preset: str | None, dist: Distribution,
                   init_from: str | os.PathLike | None = None, mix=()) -> _TrainPlan:
    """Read the char dict and the record metadata (of ``dataset_dir`` and of ``mix``'s sets),
    find what to resume, resolve the configs and check the batch against the replicas (errors:
    see :func:`train`)."""
    charset = Charset.load(char_dict_dir)
    meta = records.read_metadata(dataset_dir)
    records.check_charset(meta, charset, dataset_dir)
    for mix_dir, weight in mix:
        mix_meta = records.read_metadata(mix_dir)
        records.check_charset(mix_meta, charset, mix_dir)
        if not mix_meta["counts"].get("train"):
            raise records.DatasetError(f"{mix_dir}: no train records to mix in")
        logger.info("mixing in %s: %.0f%% of the training examples (%d train records)", mix_dir,
                    100 * weight, mix_meta["counts"]["train"])
    if weights_path and init_from:
        raise ValueError("give either weights_path (resume a run) or init_from (fine-tune into a "
                         "new model directory), not both")
    spec, resume_prefix = _resolve_resume(model_dir, weights_path)
    source = None
    if init_from is not None and spec is not None:
        logger.info("%s already holds %s: resuming it (init_from %s only starts a new model "
                    "directory)", model_dir, resume_prefix, init_from)
    elif init_from is not None:
        source = FineTuneSource.open(init_from, charset, model_preset)
    if spec is not None:
        config = _resumed_config(spec, resume_prefix, charset, char_dict_dir, config, model_preset)
        model_config = spec.model_config
    elif source is not None:
        model_config = source.model_config
    else:
        model_config = ModelConfig.from_preset(model_preset or "shadownet", charset.num_classes)
    if config.decay_steps is None:
        config = replace(config, decay_steps=max(1, config.steps - config.warmup_steps))
    replicas = dist.num_replicas
    if config.batch_size % replicas:
        raise ValueError(f"batch_size {config.batch_size} is the global batch and must be a "
                         f"multiple of the {replicas} replicas of strategy {dist.kind}")
    if dist.distributed:
        logger.info("strategy %s (%s of %d worker(s)): %d replica(s); global batch %d = %d per "
                    "replica; peak learning rate %g for the global batch, not rescaled by the "
                    "replica count (same --batch-size and --learning-rate, same training)",
                    dist.kind, dist.task, dist.num_workers, replicas, config.batch_size,
                    config.batch_size // replicas, config.learning_rate)
    return _TrainPlan(charset=charset, meta=meta, model_config=model_config, config=config,
                      spec=spec, resume_prefix=resume_prefix, source=source)


class _TrainState:
    """The model, the optimizer and its schedule, and their checkpoints, built under the
    strategy's scope and restored from ``plan.resume_prefix`` if there is one.

    Raises:
        CheckpointError: if the checkpoint to resume does not fit the configured model.
    """

    def __init__(self, plan: _TrainPlan, dist: Distribution, model_dir: Path) -> None:
        import tensorflow as tf

        config = plan.config
        with dist.strategy.scope():
            self.model = build_shadownet(plan.model_config, sync_batch_norm=dist.num_replicas > 1)
            if plan.source is not None:
                plan.source.apply(self.model, plan.charset)
                logger.info("fine-tuning from %s: %s", plan.source.prefix,
                            plan.source.mapping.format())
            freeze_stages(self.model, config.freeze)
            self.schedule = make_schedule(config.learning_rate, config.warmup_steps,
                                          config.decay_steps, config.min_lr_ratio)
            self.optimizer = make_optimizer(self.schedule, config.clipnorm, config.precision)
            self.optimizer.build(self.model.trainable_variables)
            ckpt = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
        if plan.resume_prefix:
            try:
                ckpt.restore(plan.resume_prefix).assert_existing_objects_matched()
            except (AssertionError, ValueError) as e:
                raise CheckpointError(
                    f"{plan.resume_prefix}: the checkpoint does not match the model configured in "
                    f"{plan.spec.model_dir / 'shadownet.json'} ({plan.model_config.to_json()}): "
                    f"{str(e).splitlines()[0][:300]}") from None
            logger.info("resumed from %s at step %d", plan.resume_prefix, self.step)
        self.dist = dist
        self.latest_at_start = latest_checkpoint(model_dir)
        self.ckpt_dir = dist.checkpoint_dir(model_dir / CHECKPOINT_DIR)
        self.manager = tf.train.CheckpointManager(
            ckpt, str(self.ckpt_dir), max_to_keep=config.keep_checkpoints,
            checkpoint_name="ckpt", step_counter=self.optimizer.iterations)
        self.saved_step: int | None = None

    @property
    def step(self) -> int:
        """The optimizer's step counter."""
        return _step_of(self.optimizer)

    def save(self, step: int) -> str:
        """Save a checkpoint at ``step``; every worker saves (collective under multi-worker), only
        the chief's files stay.

        Raises:
            OSError: if it cannot be written (a full disk); the last complete one is kept.
        """
        import tensorflow as tf

        try:
            path = self.manager.save(checkpoint_number=step)
        except tf.errors.OpError as e:
            raise OSError(f"{self.ckpt_dir}: saving checkpoint ckpt-{step} failed ({e.message}); "
                          f"the disk may be full. The last complete checkpoint, "
                          f"{self.manager.latest_checkpoint}, was kept") from None
        self.dist.discard_checkpoint_dir(self.ckpt_dir)
        self.saved_step = step
        return path

    def final_checkpoint(self, step: int, model_dir: Path) -> str:
        """The checkpoint of the last step, saved unless it already is (the same decision on every
        worker: saving is collective under multi-worker); the chief's path on other workers."""
        if self.saved_step == step:
            path = self.manager.latest_checkpoint
        elif self.saved_step is None and self.latest_at_start is not None \
                and int(self.latest_at_start.rsplit("-", 1)[1]) == step:
            path = self.latest_at_start  # nothing trained: the newest checkpoint already holds it
        else:
            path = self.save(step)
        if not self.dist.is_chief:
            path = str(model_dir / CHECKPOINT_DIR / f"ckpt-{step}")
        return path


class _Validator:
    """Scores the validation split (``config.eval_batches`` batches) as test-shadownet and demo
    read lines (the batch padding masked), and logs the scores and a few lines to TensorBoard.
    Does nothing without a validation split, or on a worker that is not the chief."""

    def __init__(self, plan: _TrainPlan, dataset_dir, model, writer, bar, is_chief: bool) -> None:
        has_val = plan.meta["counts"].get("validation", 0) > 0 and is_chief
        self.dataset = records.make_dataset(dataset_dir, "validation", plan.config.batch_size,
                                            training=False) if has_val else None
        self.predict = PredictionView(model).predict_batch
        self.charset = plan.charset
        self.eval_batches = plan.config.eval_batches
        self.writer = writer
        self.bar = bar
        self.scores: dict = {}
        """The last validation's :meth:`~toolkit.metrics.Scores.as_dict` (empty before one)."""

    def run(self, step: int) -> None:
        import tensorflow as tf

        if self.dataset is None:
            return
        examples: list[tuple[str, str, str]] = []

        def keep(name, gt, pred):
            if len(examples) < 6:
                examples.append((name, gt, pred))

        scores = score_batches(self.predict, self.dataset, self.charset, self.eval_batches,
                               on_line=keep)
        self.scores = scores.as_dict()
        with self.writer.as_default(step=step):
            tf.summary.scalar("validation/cer", scores.cer)
            tf.summary.scalar("validation/line_accuracy", scores.line_accuracy)
            table = "| image | ground truth | prediction |\n|---|---|---|\n" + "\n".join(
                f"| {n} | {g} | {p} |" for n, g, p in examples)
            tf.summary.text("validation/samples", table)
        logger.info("step %d validation: %s", step, scores.format())
        self.bar.write(f"step {step}: validation {scores.format()}")


def _train_loop(state: _TrainState, train_step, train_ds, config: TrainConfig, validator: _Validator,
                writer, bar, deadline: float | None = None) -> tuple[int, float]:
    """Run training steps until ``config.steps``, logging the loss and learning rate every 10 steps,
    saving every ``checkpoint_every`` and validating every ``eval_every``; with ``deadline`` (a
    ``time.monotonic()`` value), stop after the first step that ends past it, saving a checkpoint.

    Returns:
        ``(step, last loss)`` (``nan`` if no step ran).
    """
    import numpy as np
    import tensorflow as tf

    step = state.step
    last_loss = float("nan")
    if step >= config.steps:
        return step, last_loss
    for batch in train_ds:
        loss = train_step(batch)
        step = state.step
        bar.update(1)
        if step % 10 == 0 or step == config.steps:
            last_loss = float(loss)
            if not np.isfinite(last_loss):
                logger.warning("step %d: loss is %s (a label longer than its time "
                               "steps, or divergence)", step, last_loss)
            bar.set_postfix(loss=f"{last_loss:.3f}")
            with writer.as_default(step=step):
                tf.summary.scalar("loss", last_loss)
                tf.summary.scalar("learning_rate", float(state.schedule(step)))
        if step % config.checkpoint_every == 0 or step >= config.steps:
            state.save(step)
        if step % config.eval_every == 0 and step < config.steps:
            validator.run(step)
        if step >= config.steps:
            break
        if deadline is not None and time.monotonic() >= deadline:
            state.save(step)
            logger.info("time limit reached at step %d (of --steps %d): saved a checkpoint; run "
                        "the same command again to resume", step, config.steps)
            break
    return step, float(loss)


def _train_until_done(state: _TrainState, train_step, train_ds, config: TrainConfig,
                      validator: _Validator, writer, bar, dataset_dirs: Sequence,
                      deadline: float | None = None) -> tuple[int, float]:
    """:func:`_train_loop`, saving a checkpoint at the current step when it is interrupted
    (Ctrl-C, SIGTERM) or stops on damaged records (not under multi-worker, where saving is
    collective and the other workers are gone or stuck); ``dataset_dirs``: the record sets it
    reads (``dataset_dir`` first, then the mix), for the error that names a damaged record."""
    import tensorflow as tf

    dist = state.dist
    with _sigterm_as_interrupt():
        try:
            return _train_loop(state, train_step, train_ds, config, validator, writer, bar, deadline)
        except KeyboardInterrupt:
            bar.close()
            if dist.kind == "multi-worker":
                logger.warning("interrupted at step %d; the last checkpoint is step %s",
                               state.step, state.saved_step)
                raise
            path = state.save(state.step)
            logger.warning("interrupted: saved %s at step %d", path, state.step)
            raise
        except tf.errors.DataLossError as err:
            bar.close()
            if dist.kind == "multi-worker":
                logger.warning("stopped on damaged records at step %d; the last checkpoint is "
                               "step %s", state.step, state.saved_step)
            else:
                path = state.save(state.step)
                logger.warning("stopped on damaged records: saved %s at step %d", path, state.step)
            raise records.damaged_records_error(dataset_dirs[0], ("train", "validation"), err,
                                                also=dataset_dirs[1:]) from None


def _holding_model_dir_lock(train_fn):
    """Run ``train_fn`` (:func:`train`) holding the :class:`toolkit.locks.DirectoryLock` of its
    ``model_dir``, so that a second run on the same directory is refused (``DirectoryInUseError``)
    instead of overwriting its checkpoints. Only the chief takes it: the other multi-worker tasks
    write nothing there."""
    signature = inspect.signature(train_fn)

    @functools.wraps(train_fn)
    def locked(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        if not is_chief_process(call.arguments["strategy"]):
            return train_fn(*args, **kwargs)
        with DirectoryLock(call.arguments["model_dir"], "train-shadownet"):
            return train_fn(*args, **kwargs)

    return locked


@_holding_model_dir_lock
def train(dataset_dir: str | os.PathLike, char_dict_dir: str | os.PathLike,
          model_dir: str | os.PathLike, weights_path: str | os.PathLike | None = None,
          config: TrainConfig = TrainConfig(), model_preset: str | None = None,
          progress: bool = True, strategy: str = "auto",
          init_from: str | os.PathLike | None = None,
          worker_timeout: float = DEFAULT_STARTUP_TIMEOUT_S,
          time_limit: float | None = None,
          mix: Sequence[tuple[str | os.PathLike, float]] = ()) -> TrainResult:
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
        strategy: ``auto``, ``one-device``, ``mirrored`` or ``multi-worker`` (see
            :mod:`toolkit.distribute`); ``config.batch_size`` is the global batch. Only the chief
            writes into ``model_dir``; every worker resumes from its checkpoints. For
            multi-worker, call this first thing in the process (before other TensorFlow work).
        init_from: fine-tune: a new model starts from this model's weights (``bundled``, a model
            directory or a checkpoint prefix), its classifier mapped to ``char_dict_dir``'s
            charset by char (:func:`toolkit.checkpoints.transfer_weights`); the optimizer and the
            step start fresh. The source is recorded in ``shadownet.json`` (``init_from``). Ignored
            (with a log line) when ``model_dir`` already holds a checkpoint: that is resumed.
            The caller picks the learning rate (``FINETUNE_LEARNING_RATE`` is the measured
            default of the CLI).
        worker_timeout: multi-worker: how long to wait for the other tasks to start, seconds.
        time_limit: seconds of wall time, counted from the call, after which training stops at
            the end of the current step with a checkpoint (the run returns normally, short of
            ``config.steps``; the same call again resumes). A time-boxed session on a shared
            machine. Not under multi-worker (the workers would stop at different steps).
        mix: other record sets to train on with ``dataset_dir``, ``[(dir, weight), ...]``, each
            weight the share of training examples drawn from that set (``dataset_dir`` gets the
            rest; see :func:`toolkit.records.make_dataset`). Rehearsal: a fine-tune that mixes in
            data like the source model's keeps reading what it read. Written with the same char
            dict; validation stays on ``dataset_dir``.

    Returns:
        A :class:`TrainResult`.

    Raises:
        DirectoryInUseError: if another run holds ``model_dir`` (see :mod:`toolkit.locks`).
        DatasetError: if the records (``dataset_dir``'s or a ``mix`` set's) were written with
            another char dict, or a ``mix`` set has no train records.
        CheckpointError: if the checkpoint to resume was made with another charset or another model
            configuration, or its variables do not fit the model its ``shadownet.json`` describes,
            or ``model_dir`` holds checkpoints but none is complete (damaged newer ones are
            skipped with a warning: see :func:`toolkit.checkpoints.newest_complete_checkpoint`);
            if ``init_from`` is not a ShadowNet checkpoint or is of another size than
            ``model_preset``.
        DatasetError: if a shard turns out corrupt or truncated while training (a checkpoint is
            saved first, except under multi-worker where saving is collective; the message names
            the shard and the record).
        OSError: if a checkpoint cannot be written (a full disk); the last complete one is kept.
        KeyboardInterrupt: on Ctrl-C (SIGINT) or SIGTERM, after saving a checkpoint at the current
            step (not under multi-worker: the other workers are gone).
        DistributeError: for a bad ``TF_CONFIG``, a strategy that cannot start, or workers that
            did not start within ``worker_timeout``.
        ValueError: if ``config.batch_size`` is not a multiple of the number of replicas, or
            both ``weights_path`` and ``init_from`` are given, or for a ``time_limit`` that is
            not positive or is given under multi-worker, or for ``mix`` weights that are not
            > 0 or sum to 1 or more.
    """
    deadline = None if time_limit is None else time.monotonic() + time_limit
    if time_limit is not None and time_limit <= 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
    dist = create_distribution(strategy, worker_timeout)
    if deadline is not None and dist.kind == "multi-worker":
        raise ValueError("a time limit is not supported under multi-worker (each worker would "
                         "stop at another step); stop the job with SIGTERM instead")
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    model_dir = Path(model_dir)
    mix = records.check_mix(dataset_dir, mix)  # before anything is written into model_dir
    plan = _plan_training(dataset_dir, char_dict_dir, model_dir, weights_path, config, model_preset,
                          dist, init_from, mix)
    config = plan.config
    if dist.is_chief:
        ModelSpec(model_dir=model_dir, model_config=plan.model_config, charset=plan.charset,
                  train=asdict(config),
                  init_from=(plan.source.record() if plan.source
                             else plan.spec and plan.spec.init_from)).save()

    _warn_if_precision_is_slow(config.precision, tf)
    old_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(config.precision)
    keras.utils.set_random_seed(config.seed)
    try:
        state = _TrainState(plan, dist, model_dir)
        train_ds = _train_dataset(dist, dataset_dir, config, config.seed + state.step, mix)
        train_step = make_train_step(dist.strategy, state.model, state.optimizer,
                                     plan.charset.blank_index, config.batch_size,
                                     element_spec=train_ds.element_spec)
        writer = (tf.summary.create_file_writer(str(model_dir / "logs")) if dist.is_chief
                  else tf.summary.create_noop_writer())
        start_step = state.step
        if start_step >= config.steps:
            logger.info("model in %s is already at step %d >= --steps %d; nothing to train",
                        model_dir, start_step, config.steps)
        bar = tqdm(total=config.steps, initial=start_step, desc="train-shadownet", unit="step",
                   disable=not progress or not dist.is_chief)
        validator = _Validator(plan, dataset_dir, state.model, writer, bar, dist.is_chief)
        t0 = time.perf_counter()
        step, last_loss = _train_until_done(state, train_step, train_ds, config, validator, writer,
                                            bar, [dataset_dir, *(d for d, _ in mix)], deadline)
        bar.close()
        elapsed = time.perf_counter() - t0
        path = state.final_checkpoint(step, model_dir)
        validator.run(step)
        writer.flush()
        ips = (step - start_step) * config.batch_size / elapsed if step > start_step else 0.0
        return TrainResult(step=step, loss=last_loss, checkpoint=path,
                           resumed_from=plan.resume_prefix, validation=validator.scores,
                           images_per_second=ips, replicas=dist.num_replicas,
                           is_chief=dist.is_chief, finetune=plan.source)
    finally:
        keras.mixed_precision.set_global_policy(old_policy)
