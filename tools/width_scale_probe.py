"""Would a model read better if its lines were wider or narrower? CER at several horizontal scales.

A CRNN gives one CTC time step per 4 px of the prepared line (:data:`toolkit.preprocess.
WIDTH_MULTIPLE`), so a line stretched horizontally before it is read gets more time steps per char
(room for narrow Latin letters and doubled chars), and a squeezed one fewer. This probe reads every
line of each label file once per scale (the grey image resized to ``round(width * scale)`` x
``height``, bilinear, before the model's own preprocessing) and prints, per file, the CER at each
scale and its paired difference to scale 1 with a 95% bootstrap interval
(:func:`paired_cer.paired_bootstrap`). Use it on a development set: a scale chosen on a claim set
is tuned on it.

Usage (from the repository root)::

    python tools/width_scale_probe.py --weights-path model/shadownet --scales 0.9,1.15,1.3 \\
        --labels eval/dev-s3/kind-modern.txt --labels eval/dev-s3/kind-mixed.txt
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_cer import line_errors, paired_bootstrap  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def scale_width(image: np.ndarray, scale: float) -> np.ndarray:
    """A grey uint8 line ``(h, w)`` resized to ``(h, max(1, round(w * scale)))`` (bilinear).

    Scale 1 returns ``image`` itself.

    Raises:
        ValueError: if ``scale`` is not positive or ``image`` is not 2-D.
    """
    from PIL import Image

    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if image.ndim != 2:
        raise ValueError(f"expected a grey (h, w) image, got shape {image.shape}")
    if scale == 1:
        return image
    width = max(1, round(image.shape[1] * scale))
    return np.asarray(Image.fromarray(image).resize((width, image.shape[0]), Image.BILINEAR))


def parse_scales(text: str) -> list[float]:
    """``"0.9,1.15"`` -> ``[1.0, 0.9, 1.15]``: the reference scale 1 first, then the others in order.

    Raises:
        ValueError: naming the value, for one that is not a positive number.
    """
    scales = [1.0]
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"--scales: {part!r} is not a number") from None
        if not value > 0:
            raise ValueError(f"--scales: {part!r} is not positive")
        if value not in scales:
            scales.append(value)
    return scales


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights-path", help="model to read with (default: the bundled model)")
    parser.add_argument("--scales", required=True, help="comma-separated scales besides 1, e.g. 0.9,1.2")
    parser.add_argument("--labels", action="append", required=True, help="label file (repeatable)")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args(argv)
    try:
        scales = parse_scales(args.scales)
    except ValueError as e:
        parser.error(str(e))

    from toolkit.compare import load_labelled_set, make_engine, set_names

    names = set_names(args.labels)
    engine = make_engine("toolkit", args.weights_path)
    print(f"model: {engine.description}\n")
    print("| set | lines | " + " | ".join(f"CER at {s:g}" for s in scales) + " |")
    print("| --- | ---: | " + " | ".join("---" for _ in scales) + " |")
    for name, label_file in zip(names, args.labels):
        _, images, labels = load_labelled_set(label_file)
        cells, reference = [], None
        for scale in scales:
            predictions = engine.recognize([scale_width(im, scale) for im in images])
            errors, chars = line_errors(predictions, labels)
            cell = f"{errors.sum() / chars.sum():.4f}"
            if reference is None:
                reference = errors
            else:
                diff, low, high = paired_bootstrap(reference, errors, chars, args.resamples)
                cell += f" ({diff:+.4f}, {low:+.4f} .. {high:+.4f})"
            cells.append(cell)
        print(f"| {name} | {len(labels)} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
