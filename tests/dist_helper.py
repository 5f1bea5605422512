"""Subprocess side of tests/test_distribute.py: strategies need a fresh process (logical CPU
devices and multi-worker collectives are configured before TensorFlow starts).

    python dist_helper.py mirrored RECORDS CHAR_DICT MODEL_DIR   # 2 logical CPUs
    python dist_helper.py worker RECORDS CHAR_DICT MODEL_DIR STEPS  # TF_CONFIG from the env

Prints one JSON line prefixed with ``RESULT `` on stdout.
"""

from __future__ import annotations

import json
import logging
import sys

TRAIN = {"batch_size": 8, "warmup_steps": 5, "learning_rate": 3e-3, "checkpoint_every": 2,
         "eval_every": 1000, "eval_batches": 1, "shuffle_buffer": 200}


def _mirrored(records, char_dict, model_dir) -> dict:
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np

    from toolkit.charset import Charset
    from toolkit.distribute import create_distribution
    from toolkit.model import ModelConfig, build_shadownet
    from toolkit.records import make_dataset
    from toolkit.train import (
        TRAIN_KEYS,
        make_optimizer,
        make_schedule,
        make_train_step,
        train,
    )

    charset = Charset.load(char_dict)
    # Dropout draws different masks per replica, so compare a dropout-free tiny model.
    model_config = ModelConfig.from_preset("tiny", charset.num_classes, dropout=0.0)
    batches = [{k: b[k] for k in TRAIN_KEYS}
               for b in make_dataset(records, "train", 8, training=False).take(3)
               if int(tf.shape(b["images"])[0]) == 8]

    def run(kind):
        dist = create_distribution(kind)
        keras.utils.set_random_seed(0)
        with dist.strategy.scope():
            model = build_shadownet(model_config, sync_batch_norm=dist.num_replicas > 1)
            optimizer = make_optimizer(make_schedule(3e-3, 1, 10, 0.05), clipnorm=5.0)
            optimizer.build(model.trainable_variables)
        step = make_train_step(dist.strategy, model, optimizer, charset.blank_index, 8)
        losses = []
        for batch in batches:
            ds = tf.data.Dataset.from_tensors(batch)
            if dist.distributed:
                ds = dist.strategy.experimental_distribute_dataset(ds)
            losses.append(float(step(next(iter(ds)))))
        return dist.num_replicas, losses, [np.asarray(w) for w in model.get_weights()]

    n1, losses1, weights1 = run("one-device")
    n2, losses2, weights2 = run("mirrored")
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(weights1, weights2))
    scale = max(float(np.max(np.abs(a))) for a in weights1)
    result = train(records, char_dict, model_dir, model_preset="tiny", progress=False,
                   strategy="mirrored", config=_config(4))
    return {"replicas": [n1, n2], "losses": [losses1, losses2], "batches": len(batches),
            "max_weight_diff": diff, "max_weight": scale, "step": result.step,
            "train_replicas": result.replicas, "checkpoint": result.checkpoint}


def _config(steps):
    from toolkit.train import TrainConfig

    return TrainConfig(steps=steps, **TRAIN)


def _worker(records, char_dict, model_dir, steps) -> dict:
    from toolkit.train import train

    result = train(records, char_dict, model_dir, model_preset="tiny", progress=False,
                   strategy="multi-worker", config=_config(int(steps)))
    return {"step": result.step, "is_chief": result.is_chief, "replicas": result.replicas,
            "checkpoint": result.checkpoint, "resumed_from": result.resumed_from,
            "loss": result.loss}


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    mode, *args = argv
    result = _mirrored(*args) if mode == "mirrored" else _worker(*args)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
