"""Turn a trained model directory into the bundled release model (``model/shadownet/``).

A release is deliberate: every committed version stays in git history, so run this only for a model
worth shipping, and commit the output as one commit. The output holds

    shadownet.json             model config, charset (chars + sha256) and the training config
    char_dict/                 the three JSON maps of the charset
    checkpoints/ckpt-<step>.*  the weights only (no optimizer slots: a third of a training checkpoint)
    SHA256SUMS                 sha256 of every file above (``sha256sum -c SHA256SUMS`` checks them)
    RELEASE.json               step, images seen, source checkpoint, hardware, wall time, commands, the
                               last validation scores train-shadownet logged up to that step and the
                               test-split scores

Usage (from the repository root)::

    python tools/release_model.py --model-dir /work/release_run/model --output model/shadownet \\
        --records /work/release_run/rec --commands /work/release_run/pipeline.sh \\
        --hardware "2-core Xeon CPU, AVX512_BF16" --wall-hours 2.5

``--records`` scores the weights on that record set's test split (written into RELEASE.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo and the core count (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or 'unknown CPU'} x {os.cpu_count()} cores"


def last_validation(logs: Path, step: int) -> dict | None:
    """The last validation scores that train-shadownet wrote to TensorBoard (``validation/cer``,
    ``validation/line_accuracy`` in ``logs``' event files) at or before ``step``: ``{"step",
    "cer", "line_accuracy"}``, or ``None`` when there is none. Each training stage scores its own
    dataset's validation split, so this is the split of the stage that ended at ``step``."""
    import tensorflow as tf

    found: dict[int, dict[str, float]] = {}
    for path in sorted(logs.glob("events.out.tfevents.*")):
        for raw in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            for value in event.summary.value:
                if value.tag in ("validation/cer", "validation/line_accuracy") and event.step <= step:
                    number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") \
                        else float(value.simple_value)
                    found.setdefault(event.step, {})[value.tag.split("/", 1)[1]] = number
    if not found:
        return None
    last = max(found)
    return {"step": last, **found[last]}


def release(model_dir: Path, output: Path, records: Path | None, commands: Path | None,
            hardware: str | None, wall_hours: float | None) -> dict:
    """Write the release into ``output`` (replaced if it exists) and return RELEASE.json's content.

    Raises:
        CheckpointError: if ``model_dir`` holds no usable checkpoint.
    """
    import tensorflow as tf

    from toolkit.checkpoints import CHECKPOINT_DIR, ModelSpec, load_model
    from toolkit.evaluate import test_shadownet

    model, spec, prefix = load_model(model_dir)
    step = int(prefix.rsplit("-", 1)[1])  # train-shadownet numbers checkpoints by global step
    tmp = output.with_name(output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ModelSpec(model_dir=tmp, model_config=spec.model_config, charset=spec.charset, train=spec.train).save()
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(tmp / CHECKPOINT_DIR),
                                         max_to_keep=1)
    manager.save(checkpoint_number=step)
    params = int(sum(int(tf.size(w)) for w in model.weights))

    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    sums = "".join(f"{sha256_file(p)}  {p.relative_to(tmp).as_posix()}\n" for p in files)
    (tmp / "SHA256SUMS").write_text(sums, encoding="utf-8")
    weights = [p for p in files if p.name.startswith(f"ckpt-{step}.")]
    record = {
        "source_checkpoint": str(prefix),
        "step": step,
        "batch_size": spec.train.get("batch_size"),
        "images_seen": step * int(spec.train.get("batch_size", 0) or 0),
        "parameters": params,
        "weights_bytes": sum(p.stat().st_size for p in weights),
        "weights_sha256": {p.name: sha256_file(p) for p in weights},
        "charset_sha256": spec.charset.sha256,
        "num_classes": spec.charset.num_classes,
        "hardware": hardware or cpu_name(),
        "wall_hours": wall_hours,
        "tensorflow": tf.__version__,
        "python": sys.version.split()[0],
        "commands": commands.read_text(encoding="utf-8") if commands else None,
    }
    record["validation"] = last_validation(spec.model_dir / "logs", step)
    if records is not None:
        scores = test_shadownet(records, tmp, progress=False)
        record["test_split"] = {"records": str(records), **scores.as_dict()}
    (tmp / "RELEASE.json").write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
    shutil.rmtree(output, ignore_errors=True)
    tmp.rename(output)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, type=Path, help="trained model directory or checkpoint")
    parser.add_argument("--output", default=Path("model/shadownet"), type=Path)
    parser.add_argument("--records", type=Path, help="record set whose test split is scored")
    parser.add_argument("--commands", type=Path, help="file holding the exact commands that trained it")
    parser.add_argument("--hardware", help="what trained it (default: this machine's CPU)")
    parser.add_argument("--wall-hours", type=float, help="training wall time, hours")
    args = parser.parse_args(argv)
    record = release(args.model_dir, args.output, args.records, args.commands, args.hardware, args.wall_hours)
    print(json.dumps({k: v for k, v in record.items() if k != "commands"}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
