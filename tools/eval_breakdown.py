"""Where a model's errors on the held-out set come from: CER by part, font, ink height and length.

Usage (from the repository root, after ``python tools/build_yuanqu_eval_set.py --output-dir eval``
or ``python tools/build_eval_set.py --output-dir eval``: both write ``font_of_line`` and ``parts``)::

    python tools/eval_breakdown.py --eval-dir eval --weights-path runs/release/model

The held-out set's ``eval_config.json`` says which font drew each line (``font_of_line``). For every
line this reads the image, measures its *ink fraction* (rows holding ink / image height: how tightly
the line box is cropped around the text; ink = pixels 40 grey levels darker than the image mean),
recognizes it with the toolkit and prints CER (edit distance / reference chars, texts compared as
``toolkit.compare`` compares them) per group as a Markdown table. ``--output`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

INK_BINS = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 1.01))  # [lo, hi)
LENGTH_BINS = ((1, 8), (9, 12), (13, 16), (17, 20), (21, 10**6))  # chars, [lo, hi] inclusive


def ink_fraction(grey: np.ndarray, darker_by: float = 40.0) -> float:
    """Share of the rows of a grey ``(h, w)`` uint8 line image that hold ink (a pixel at least
    ``darker_by`` grey levels below the image mean); 0.0 for an image with no ink."""
    rows = np.flatnonzero((grey < grey.mean() - darker_by).any(axis=1))
    return float(rows[-1] - rows[0] + 1) / grey.shape[0] if rows.size else 0.0


def _ink_bin(value: float) -> tuple[int, str]:
    for i, (lo, hi) in enumerate(INK_BINS):
        if lo <= value < hi:
            return i, f"{lo:g}-{min(hi, 1):g}"
    return len(INK_BINS), "other"


def _length_bin(value: int) -> tuple[int, str]:
    for i, (lo, hi) in enumerate(LENGTH_BINS):
        if lo <= value <= hi:
            return i, f"{lo}-{hi}" if hi < 10**6 else f"{lo}+"
    return len(LENGTH_BINS), "other"


def breakdown(rows: list[dict]) -> list[tuple[str, str, int, float]]:
    """CER per group.

    Args:
        rows: one dict per line with ``part``, ``font`` (str), ``ink`` (float, see
            :func:`ink_fraction`), ``ref`` (reference text) and ``errors`` (int, edit distance of the
            prediction to ``ref``).

    Returns:
        ``(grouping, group, lines, CER)`` rows: every part, then per part the fonts (by name), the
        ink fraction bins (:data:`INK_BINS`) and the reference length bins (:data:`LENGTH_BINS`), in
        bin order; empty groups are left out. CER = sum of errors / sum of reference chars (0.0 for empty refs).
    """
    def cer(sel):
        chars = sum(len(r["ref"]) for r in sel)
        return sum(r["errors"] for r in sel) / chars if chars else 0.0

    out = []
    parts = sorted({r["part"] for r in rows})
    for part in parts:
        sel = [r for r in rows if r["part"] == part]
        out.append(("part", part, len(sel), cer(sel)))
    for part in parts:
        sel = [r for r in rows if r["part"] == part]
        for grouping, key in (("font", lambda r: (0, r["font"])),
                              ("ink fraction", lambda r: _ink_bin(r["ink"])),
                              ("length", lambda r: _length_bin(len(r["ref"])))):
            groups = defaultdict(list)
            for r in sel:
                groups[key(r)].append(r)
            out += [(f"{part}: {grouping}", label, len(s), cer(s))
                    for (_, label), s in sorted(groups.items())]
    return out


def format_table(table: list[tuple[str, str, int, float]]) -> str:
    lines = ["| grouping | group | lines | CER |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {a} | {b} | {n} | {c:.4f} |" for a, b, n, c in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--eval-dir", type=Path, required=True,
                   help="made by tools/build_yuanqu_eval_set.py or tools/build_eval_set.py")
    p.add_argument("--weights-path", required=True, help="checkpoint, model directory or export")
    p.add_argument("--output", type=Path, help="also write the table here (Markdown)")
    args = p.parse_args(argv)

    from toolkit.compare import normalize
    from toolkit.labels import read_label_file
    from toolkit.metrics import edit_distance
    from toolkit.predict import Recognizer, load_image

    config_path = args.eval_dir / "eval_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        font_of_line, parts = config["font_of_line"], config["parts"]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"{config_path}: not a held-out set's config ({e}); "
                         f"make one with tools/build_eval_set.py") from None
    rows, images = [], []
    for part in parts:
        entries, problems = read_label_file(args.eval_dir / f"{part}.txt", args.eval_dir)
        if problems:
            raise SystemExit("\n".join(problems[:5]))
        for e in entries:
            grey = load_image(e.image_path)
            images.append(grey)
            rows.append({"part": part, "font": font_of_line.get(e.name, "?"),
                         "ink": ink_fraction(grey), "ref": normalize(e.label)})
    recognizer = Recognizer.from_weights(args.weights_path)
    for row, (text, _) in zip(rows, recognizer.recognize(images), strict=True):
        row["errors"] = edit_distance(row["ref"], normalize(text))
    table = format_table(breakdown(rows))
    print(table)
    if args.output:
        args.output.write_text(table + "\n", encoding="utf-8")
    return table


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
