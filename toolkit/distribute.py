"""Scale-out for train-shadownet: pick a ``tf.distribute`` strategy and say who the chief is.

Strategies (``--strategy``):

- ``one-device``: TensorFlow's default strategy, i.e. plain single-device training (the GPU if
  TensorFlow sees one, else the CPU).
- ``mirrored``: ``tf.distribute.MirroredStrategy`` over every GPU of this machine (or, with no GPU,
  every logical CPU device, which is how the tests run it); one replica per device.
- ``multi-worker``: ``tf.distribute.MultiWorkerMirroredStrategy``; the cluster (every worker's
  ``host:port``) and this process's task come from the ``TF_CONFIG`` environment variable, e.g.
  ``{"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}, "task": {"type": "worker",
  "index": 0}}``. Each worker replicates over its local GPUs.
- ``auto``: ``multi-worker`` if ``TF_CONFIG`` names more than one task, else ``mirrored`` if there
  is more than one GPU, else ``one-device``.

The chief (task ``chief``, or ``worker`` 0 when the cluster has no ``chief``) writes the model
directory: ``shadownet.json``, checkpoints and TensorBoard logs. The other workers save their
checkpoints (saving is a collective operation under multi-worker, every worker must take part) into
a temporary directory that is deleted right after, and write nothing else. Every worker resumes from
the chief's checkpoints, so the model directory must be on storage all workers see (a shared
filesystem, or a ``gs://``/``s3://`` path TensorFlow can open).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")


class DistributeError(ValueError):
    """A strategy that cannot be set up: bad ``TF_CONFIG``, unknown name, or TensorFlow started."""


def read_tf_config(environ: dict | None = None) -> dict | None:
    """Parse and check the ``TF_CONFIG`` environment variable.

    Returns:
        The parsed dict, or ``None`` if ``TF_CONFIG`` is unset or empty.

    Raises:
        DistributeError: if it is not JSON, has no ``cluster`` mapping task types to lists of
            ``host:port``, or its ``task`` names a type or index that is not in the cluster.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        conf = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DistributeError(f"TF_CONFIG is not valid JSON ({e}): {raw[:200]!r}") from None
    cluster = conf.get("cluster") if isinstance(conf, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise DistributeError(f"TF_CONFIG has no 'cluster' (task type -> list of host:port): "
                              f"{raw[:200]!r}")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise DistributeError(f"TF_CONFIG cluster[{kind!r}] must be a list of 'host:port' "
                                  f"strings, got {addresses!r}")
    task = conf.get("task", {})
    kind, index = task.get("type"), task.get("index", 0)
    if kind is not None and (kind not in cluster or not isinstance(index, int)
                             or not 0 <= index < len(cluster[kind])):
        raise DistributeError(f"TF_CONFIG task {task!r} is not in its cluster "
                              f"{ {k: len(v) for k, v in cluster.items()} }")
    return conf


def _worker_count(conf: dict | None) -> int:
    if conf is None:
        return 1
    return sum(len(conf["cluster"].get(k, [])) for k in ("chief", "worker"))


@dataclass
class Distribution:
    """A strategy and this process's place in it.

    Attributes:
        strategy: the ``tf.distribute.Strategy`` (the default strategy for ``one-device``).
        kind: ``one-device``, ``mirrored`` or ``multi-worker`` (never ``auto``).
        num_workers: processes taking part (1 unless multi-worker).
        is_chief: whether this process writes the model directory.
        task: ``"chief"``, ``"worker 1"``... (for logs).
    """

    strategy: Any
    kind: str
    num_workers: int = 1
    is_chief: bool = True
    task: str = "chief"

    @property
    def num_replicas(self) -> int:
        """Replicas in sync (all devices of all workers)."""
        return int(self.strategy.num_replicas_in_sync)

    @property
    def distributed(self) -> bool:
        """True unless this is the default (single-device) strategy."""
        return self.kind != "one-device"

    def checkpoint_dir(self, chief_dir: Path) -> Path:
        """Where this process saves checkpoints: ``chief_dir`` on the chief, a fresh temporary
        directory on other workers (delete it with :meth:`discard_checkpoint_dir`)."""
        if self.is_chief:
            return chief_dir
        return Path(tempfile.mkdtemp(prefix=f"crnn-{self.task.replace(' ', '')}-ckpt-"))

    def discard_checkpoint_dir(self, path: Path) -> None:
        """Delete a non-chief worker's checkpoint directory (nothing on the chief)."""
        if not self.is_chief:
            shutil.rmtree(path, ignore_errors=True)


def resolve_strategy_name(name: str, environ: dict | None = None) -> str:
    """Turn ``auto`` into a concrete strategy name (see the module docstring); check others.

    Raises:
        DistributeError: for an unknown name, a bad ``TF_CONFIG``, or ``multi-worker`` without
            ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise DistributeError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    conf = read_tf_config(environ)
    if name == "multi-worker" and conf is None:
        raise DistributeError("strategy 'multi-worker' needs the TF_CONFIG environment variable "
                              "(the cluster's workers and this process's task); see README")
    if name != "auto":
        return name
    if _worker_count(conf) > 1:
        return "multi-worker"
    import tensorflow as tf

    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "one-device"


def create_distribution(name: str = "auto") -> Distribution:
    """Create the strategy ``name`` (one of :data:`STRATEGIES`).

    Call it before any other TensorFlow work in the process: multi-worker configures collective
    operations, which TensorFlow only allows at start-up.

    Raises:
        DistributeError: see :func:`resolve_strategy_name`, or if TensorFlow refuses to set up the
            strategy (for multi-worker: TensorFlow already initialised in this process).
    """
    import tensorflow as tf

    kind = resolve_strategy_name(name)
    if kind == "one-device":
        return Distribution(tf.distribute.get_strategy(), kind)
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return Distribution(tf.distribute.MirroredStrategy([d.name for d in gpus]), kind)
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) < 2:
            logger.warning("strategy mirrored: no GPU and one CPU device, so one replica")
        return Distribution(tf.distribute.MirroredStrategy(
            [d.name for d in cpus], cross_device_ops=tf.distribute.ReductionToOneDevice()), kind)
    conf = read_tf_config()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as e:
        raise DistributeError(f"cannot start multi-worker training ({e}); create the strategy "
                              f"first thing in the process, with TF_CONFIG set") from None
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in conf["cluster"]
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return Distribution(strategy, kind, num_workers=_worker_count(conf), is_chief=is_chief,
                        task="chief" if task_type == "chief" else f"{task_type} {task_id}")
