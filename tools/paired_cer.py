"""Is model B better or worse than model A on a held-out set, beyond noise? A paired bootstrap of CER.

Both models read the same lines of each label file; the CER difference (B - A) is resampled over
lines (the lines drawn with replacement, both models' errors of a drawn line kept together), and
the 2.5th and 97.5th percentiles of the resampled differences are printed as a 95% interval. An
interval that holds 0 means the difference is within the noise of a set that size. CER is edit
distance over reference chars, texts normalized as ``compare`` scores them
(:func:`toolkit.compare.normalize`: NFKC, whitespace removed).

Usage (from the repository root)::

    python tools/paired_cer.py --model-a model/shadownet --model-b runs/v2/model \\
        --labels eval-yuanqu/pillow.txt --labels eval-yuanqu/pango.txt --output paired.md

``--model-a`` and ``--model-b`` are model paths (a model directory, checkpoint, SavedModel or
``.tflite``, read by the toolkit engine) or the name of another ``compare`` engine, ``tesseract``
or ``ppocr``, so a model can be paired with a baseline too::

    python tools/paired_cer.py --model-a tesseract --model-b model/shadownet --labels eval/s10/pillow.txt

Prints (and with ``--output`` writes) a Markdown table: set, lines, CER A, CER B, B - A and its
interval, and the share of lines each model reads better. Sets are named as ``compare`` names them
(:func:`toolkit.compare.set_names`: the file's stem, or ``folder/stem`` where stems collide).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from toolkit.compare import ENGINES  # a list of names: imports no TensorFlow

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def line_errors(predictions: list[str], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(errors, chars)``: int64 arrays ``(lines,)`` of each line's edit distance to its label and
    of the label's length, both texts normalized as :func:`toolkit.compare.normalize` does."""
    from toolkit.compare import normalize
    from toolkit.metrics import edit_distance

    refs = [normalize(t) for t in labels]
    errors = [edit_distance(r, normalize(p)) for r, p in zip(refs, predictions)]
    return np.asarray(errors, np.int64), np.asarray([len(r) for r in refs], np.int64)


def paired_bootstrap(errors_a: np.ndarray, errors_b: np.ndarray, chars: np.ndarray,
                     resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``(difference, low, high)``: CER of B minus CER of A over all lines, and the 2.5th and
    97.5th percentiles of that difference over ``resamples`` resamplings of the lines with
    replacement (the same lines for A and B).

    Raises:
        ValueError: if the arrays differ in length or the labels hold no char.
    """
    if not len(errors_a) == len(errors_b) == len(chars):
        raise ValueError(f"{len(errors_a)}, {len(errors_b)} and {len(chars)} lines: the models "
                         f"must read the same lines")
    if chars.sum() == 0:
        raise ValueError("the labels hold no char")
    diff = (errors_b.sum() - errors_a.sum()) / chars.sum()
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(chars), size=(resamples, len(chars)))
    n = np.maximum(chars[draws].sum(axis=1), 1)
    resampled = (errors_b[draws].sum(axis=1) - errors_a[draws].sum(axis=1)) / n
    low, high = np.percentile(resampled, [2.5, 97.5])
    return float(diff), float(low), float(high)


BASELINES = tuple(name for name in ENGINES if name != "toolkit")
"""The ``compare`` engines ``--model-a`` / ``--model-b`` may name instead of a model path."""


def engine_for(spec: str):
    """The :class:`toolkit.compare.Engine` of ``spec``: the ``compare`` engine of that name if it
    is one of :data:`BASELINES`, else the toolkit engine reading the model at path ``spec``.

    Raises:
        toolkit.compare.EngineUnavailable: if a baseline's optional dependency is missing.
        toolkit.checkpoints.CheckpointError, toolkit.export_format.ExportError, FileNotFoundError:
            for a path that holds no model (see :func:`toolkit.backends.open_backend`).
    """
    from toolkit.compare import make_engine

    if spec in BASELINES:
        return make_engine(spec)
    return make_engine("toolkit", spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-a", required=True,
                        help="the reference: a model path (e.g. the release) or an engine name, "
                             f"{' or '.join(BASELINES)}")
    parser.add_argument("--model-b", required=True, help="the candidate (the same kinds)")
    parser.add_argument("--labels", action="append", required=True, help="label file (repeatable)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--output", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    from toolkit.compare import load_labelled_set, set_names

    names = set_names(args.labels)

    models = {"A": engine_for(args.model_a), "B": engine_for(args.model_b)}
    rows = ["| set | lines | CER A | CER B | B - A (95% interval) | lines B better / worse |",
            "| --- | ---: | ---: | ---: | --- | --- |"]
    for name, label_file in zip(names, args.labels):
        _, images, labels = load_labelled_set(label_file)
        errs = {}
        for key, model in models.items():
            predictions = model.recognize(images)
            errs[key], chars = line_errors(predictions, labels)
        diff, low, high = paired_bootstrap(errs["A"], errs["B"], chars, args.resamples)
        cer = {k: e.sum() / chars.sum() for k, e in errs.items()}
        better = int((errs["B"] < errs["A"]).sum())
        worse = int((errs["B"] > errs["A"]).sum())
        rows.append(f"| {name} | {len(labels)} | "
                    f"{cer['A']:.4f} | {cer['B']:.4f} | {diff:+.4f} ({low:+.4f} .. {high:+.4f}) | "
                    f"{better} / {worse} |")
    table = "\n".join([f"A = {args.model_a}, B = {args.model_b}", "", *rows]) + "\n"
    print(table, end="")
    if args.output:
        args.output.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
