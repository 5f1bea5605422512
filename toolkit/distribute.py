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

Multi-worker start-up waits for every chief and worker task of the cluster to answer on its
``host:port`` (:func:`wait_for_workers`) before TensorFlow's collectives start, for at most
``startup_timeout_s`` (``--worker-timeout``) seconds; then it stops with an error naming the tasks
that did not answer. SIGTERM ends the wait, and training after it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")

DEFAULT_STARTUP_TIMEOUT_S = 600.0
"""How long multi-worker start-up waits for the other tasks of the cluster, seconds."""


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


def create_distribution(name: str = "auto",
                        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S) -> Distribution:
    """Create the strategy ``name`` (one of :data:`STRATEGIES`).

    Call it before any other TensorFlow work in the process: multi-worker configures collective
    operations, which TensorFlow only allows at start-up. For multi-worker it first waits for the
    cluster's other tasks (:func:`wait_for_workers`, at most ``startup_timeout_s`` seconds), and
    once the strategy is up it gives SIGTERM back to Python (TensorFlow's preemption notifier
    takes it over at start-up and swallows it), so ``kill`` still ends the process.

    Raises:
        DistributeError: see :func:`resolve_strategy_name` and :func:`wait_for_workers`, or if
            TensorFlow refuses to set up the strategy (for multi-worker: TensorFlow already
            initialised in this process).
        KeyboardInterrupt: on SIGTERM or Ctrl-C while waiting for the other workers.
    """
    kind = resolve_strategy_name(name)
    import tensorflow as tf

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
    wait_for_workers(conf, startup_timeout_s)
    in_main_thread = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as e:
        raise DistributeError(f"cannot start multi-worker training ({e}); create the strategy "
                              f"first thing in the process, with TF_CONFIG set") from None
    if in_main_thread:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if sigterm is None else sigterm)
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    return Distribution(strategy, kind, num_workers=_worker_count(conf),
                        is_chief=is_chief_task(conf),
                        task="chief" if task_type == "chief" else f"{task_type} {task_id}")


def is_chief_task(conf: dict | None) -> bool:
    """Whether the task ``TF_CONFIG`` names is the chief: type ``chief``, or ``worker`` 0 in a
    cluster without a ``chief``; True without ``TF_CONFIG`` (a single process)."""
    if conf is None:
        return True
    task = conf.get("task", {})
    kind, index = task.get("type"), task.get("index", 0)
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in conf["cluster"])


def is_chief_process(name: str, environ: dict | None = None) -> bool:
    """Whether this process would be the chief (the one that writes the model directory) under
    strategy ``name``, decided from ``TF_CONFIG`` alone, without starting TensorFlow: only a
    multi-worker task other than the chief is not.

    Raises:
        DistributeError: for a bad ``TF_CONFIG``.
    """
    conf = read_tf_config(environ)
    multi = name == "multi-worker" or (name == "auto" and _worker_count(conf) > 1)
    return not multi or is_chief_task(conf)


def _cluster_tasks(conf: dict) -> list[tuple[str, str]]:
    """``(task name, host:port)`` of every chief and worker task, e.g. ``("worker 1",
    "10.0.0.2:2222")``."""
    return [(f"{kind} {i}", address) for kind in ("chief", "worker")
            for i, address in enumerate(conf["cluster"].get(kind, []))]


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise DistributeError(f"TF_CONFIG cluster address {address!r} is not 'host:port'")
    return host.strip("[]"), int(port)


def _listen(port: int, me: str, address: str) -> socket.socket:
    """A non-blocking listening socket on ``port`` (all interfaces), where TensorFlow's server
    will listen later."""
    try:
        server = socket.create_server(("", port), family=socket.AF_INET6,
                                      dualstack_ipv6=True) if socket.has_dualstack_ipv6() \
            else socket.create_server(("", port))
    except OSError as e:
        raise DistributeError(f"TF_CONFIG gives this task ({me}) the address {address}, but port "
                              f"{port} cannot be opened here ({e.strerror or e}): another "
                              f"process (an earlier run?) holds it") from None
    server.setblocking(False)
    return server


def _drain(server: socket.socket) -> None:
    """Accept and close every connection waiting on ``server`` (the other tasks' probes)."""
    while True:
        try:
            conn, _ = server.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.close()


def wait_for_workers(conf: dict, timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
                     poll_s: float = 0.25) -> None:
    """Wait until every other chief and worker task of ``TF_CONFIG``'s cluster accepts TCP
    connections at its ``host:port``.

    Meanwhile this task answers the others' probes on its own port (a plain listening socket,
    closed before TensorFlow's server takes the port), so tasks started in any order find each
    other, and none starts TensorFlow's collectives, which wait in C++ with no message, no timeout
    and SIGTERM swallowed, until all have started. Progress is logged every 30 s.

    Args:
        conf: the parsed ``TF_CONFIG`` (:func:`read_tf_config`); a task that is not a chief or a
            worker (an evaluator) does not wait.
        timeout_s: how long to wait, seconds.
        poll_s: seconds between probes.

    Raises:
        DistributeError: if a task has not answered within ``timeout_s``; the message names each
            one with its address and the last connection error. Also if this task's own port is
            taken.
        KeyboardInterrupt: on SIGTERM (in the main thread) or Ctrl-C during the wait, after
            logging the tasks that had not answered.
    """
    task = conf.get("task", {})
    me = f"{task.get('type')} {task.get('index', 0)}"
    tasks = _cluster_tasks(conf)
    if me not in dict(tasks):
        return
    pending = {name: address for name, address in tasks if name != me}
    if not pending:
        return
    errors: dict[str, str] = {}

    def describe(names) -> str:
        return ", ".join(f"{n} ({pending[n]}{': ' + errors[n] if n in errors else ''})"
                         for n in names)

    server = _listen(_split_address(dict(tasks)[me])[1], me, dict(tasks)[me])

    def terminate(signum, frame):
        logger.error("%s while waiting for %s: stopping", signal.Signals(signum).name,
                     describe(pending))
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, terminate)
    logger.info("multi-worker start-up: %s waiting up to %g s for %s", me, timeout_s,
                describe(pending))
    start = time.monotonic()
    next_note = start + 30
    try:
        while True:
            _drain(server)
            for name in list(pending):
                host, port = _split_address(pending[name])
                try:
                    socket.create_connection((host, port), timeout=1.0).close()
                except OSError as e:
                    errors[name] = e.strerror or str(e) or type(e).__name__
                else:
                    logger.info("multi-worker start-up: %s (%s) answered", name, pending.pop(name))
            if not pending:
                return
            now = time.monotonic()
            if now - start > timeout_s:
                raise DistributeError(
                    f"multi-worker start-up: {describe(pending)} did not answer within "
                    f"{timeout_s:g} s. Start every task of TF_CONFIG's cluster (each with its own "
                    f"task index), check the addresses and firewalls, or wait longer with "
                    f"--worker-timeout SECONDS")
            if now > next_note:
                logger.info("multi-worker start-up: %s still waiting for %s", me,
                            describe(pending))
                next_note = now + 30
            time.sleep(poll_s)
    finally:
        server.close()
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
