"""Measure exported models against their Keras model on a record split (the README's export table).

    python tools/export_parity.py --dataset-dir quickstart_output/tfrecords \
        --weights-path quickstart_output/model exports/saved_model exports/crnn_fp32.tflite ...

For each form: size on disk, CER and line accuracy (test-shadownet's code), lines/s (the whole
evaluation loop after loading the model: record decoding, preprocessing, inference, decoding) and
agreement with the Keras model (share of lines with identical text). With ``--serving``, the SavedModel's
``serving_default`` signature (PNG/JPEG bytes in, text out) is scored too, fed the records' encoded
images in record order, ``--batch-size`` per request.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if (path / "saved_model.pb").exists():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    from toolkit.checkpoints import resolve_weights

    _, prefix = resolve_weights(path)  # a Keras model: its checkpoint (weights + Adam slots)
    return sum(f.stat().st_size for f in Path(prefix).parent.glob(Path(prefix).name + ".*"))


def _serving(saved_model: Path, dataset_dir: Path, batch_size: int):
    import tensorflow as tf

    from toolkit import records
    from toolkit.metrics import Scores

    fn = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    spec = {"image/encoded": tf.io.FixedLenFeature([], tf.string),
            "image/name": tf.io.FixedLenFeature([], tf.string),
            "label/text": tf.io.FixedLenFeature([], tf.string)}
    ds = (tf.data.TFRecordDataset(records.shard_paths(dataset_dir, "test"))
          .map(lambda r: tf.io.parse_single_example(r, spec)).batch(batch_size))
    scores, preds = Scores(), {}
    t0 = time.perf_counter()
    for batch in ds:
        out = fn(image_bytes=batch["image/encoded"])
        for name, gt, text in zip(batch["image/name"].numpy(), batch["label/text"].numpy(),
                                  out["text"].numpy()):
            preds[name.decode()] = text.decode("utf-8")
            scores.add(gt.decode("utf-8"), preds[name.decode()])
    return scores, preds, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset-dir", type=Path, required=True)
    parser.add_argument("--weights-path", type=Path, nargs="+", required=True,
                        help="The Keras model first, then exported SavedModels / .tflite files.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--serving", action="store_true",
                        help="Also score each SavedModel's serving_default (image bytes) signature.")
    args = parser.parse_args()

    from toolkit import records
    from toolkit.export_format import export_kind
    from toolkit.metrics import score_batches
    from toolkit.predict import Recognizer

    rows, reference = [], None
    for path in args.weights_path:
        preds: dict[str, str] = {}
        recognizer = Recognizer.from_weights(path, batch_size=args.batch_size)
        ds = records.make_dataset(args.dataset_dir, "test", args.batch_size, training=False)
        t0 = time.perf_counter()  # model loading excluded; record reading and decoding included
        scores = score_batches(recognizer.predict_batch, ds, recognizer.charset,
                               on_line=lambda n, g, p, d=preds: d.__setitem__(n, p))
        seconds = time.perf_counter() - t0
        runs = [(f"{path} ({export_kind(path)})", scores, preds, seconds)]
        if args.serving and export_kind(path) == "saved_model":
            s, p, sec = _serving(path, args.dataset_dir, args.batch_size)
            runs.append((f"{path} (serving_default, image bytes)", s, p, sec))
        for label, s, p, sec in runs:
            if reference is None:
                reference = p
            agree = sum(p[n] == reference[n] for n in reference) / len(reference)
            rows.append((label, _size(path) / 1e6, s.cer, s.line_accuracy, s.count / sec, agree))
    print("| form | size (MB) | CER | line accuracy | lines/s | same text as Keras |")
    print("|---|---|---|---|---|---|")
    for label, mb, cer, acc, lps, agree in rows:
        print(f"| {label} | {mb:.2f} | {100 * cer:.2f}% | {100 * acc:.2f}% | {lps:.0f} | "
              f"{100 * agree:.2f}% |")


if __name__ == "__main__":
    main()
