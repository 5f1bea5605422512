"""Which kinds of char an engine misses: error rate per char class, and the most frequent confusions.

Usage (from the repository root, on the label files of a held-out set)::

    python tools/char_class_errors.py --labels eval/dev-s3/kind-mixed.txt --engines toolkit,tesseract
    python tools/char_class_errors.py --labels eval/dev-s3/pillow.txt --weights-path runs/v3/model

Each engine (``toolkit.compare``'s engines: ``toolkit``, ``tesseract``, ``ppocr``) reads every
line; reference and prediction are normalized as ``compare`` scores them (NFKC, whitespace
removed) and aligned by :func:`toolkit.metrics.edit_operations`. Every reference char falls in one
class (:func:`char_class`); its error rate is (substitutions + deletions of chars of that class) /
chars of that class, so the classes' errors plus the insertions make the CER's edit count. The
table also gives each class's share of the CER, and the ``--top`` most frequent substitutions,
deletions and insertions per engine. Use it on a development set: the confusions of a claim set
are not to be read before the claim.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.metrics import edit_operations

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = ("hanzi", "digit", "latin", "ascii punct", "other")


def char_class(c: str) -> str:
    """The class of one (normalized) char, one of :data:`CLASSES`: ``hanzi`` (CJK Unified
    Ideographs and Extension A), ``digit`` (ASCII 0-9), ``latin`` (ASCII letters), ``ascii
    punct`` (any other printable ASCII) and ``other`` (CJK punctuation, symbols, the rest)."""
    o = ord(c)
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
        return "hanzi"
    if "0" <= c <= "9":
        return "digit"
    if c.isascii() and c.isalpha():
        return "latin"
    if 0x21 <= o <= 0x7E:
        return "ascii punct"
    return "other"


@dataclass
class ClassErrors:
    """Per-class counts over lines of one engine.

    Attributes:
        chars: reference chars per class.
        errors: substitutions and deletions of reference chars, per class.
        insertions: predicted chars aligned to no reference char (all classes).
        subs, dels, ins: ``Counter`` of ``(ref, hyp)`` substitutions, deleted reference chars and
            inserted predicted chars.
    """

    chars: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    insertions: int = 0
    subs: Counter = field(default_factory=Counter)
    dels: Counter = field(default_factory=Counter)
    ins: Counter = field(default_factory=Counter)

    def add(self, ref: str, hyp: str) -> None:
        """Count one line's normalized reference ``ref`` and prediction ``hyp``."""
        for op, r, h in edit_operations(ref, hyp):
            if r is not None:
                self.chars[char_class(r)] += 1
            if op == "sub":
                self.errors[char_class(r)] += 1
                self.subs[(r, h)] += 1
            elif op == "del":
                self.errors[char_class(r)] += 1
                self.dels[r] += 1
            elif op == "ins":
                self.insertions += 1
                self.ins[h] += 1

    @property
    def cer(self) -> float:
        """Edits over reference chars (0.0 without reference chars): the CER ``compare`` reports."""
        total = sum(self.chars.values())
        return (sum(self.errors.values()) + self.insertions) / total if total else 0.0


def class_table(results: dict[str, ClassErrors]) -> str:
    """A Markdown table: per engine and class, chars, the class's error rate and its share of the
    CER (class errors / all reference chars); a row for insertions and one for the CER."""
    rows = ["| engine | class | chars | error rate | share of CER |", "| --- | --- | ---: | ---: | ---: |"]
    for name, r in results.items():
        total = sum(r.chars.values()) or 1
        for cls in CLASSES:
            if r.chars[cls]:
                rows.append(f"| {name} | {cls} | {r.chars[cls]} | {r.errors[cls] / r.chars[cls]:.3f} | "
                            f"{r.errors[cls] / total:.3f} |")
        rows.append(f"| {name} | insertions | | | {r.insertions / total:.3f} |")
        rows.append(f"| {name} | all (CER) | {sum(r.chars.values())} | | {r.cer:.3f} |")
    return "\n".join(rows)


def confusions(name: str, r: ClassErrors, top: int) -> str:
    """The ``top`` most frequent substitutions, deletions and insertions of one engine, one line each."""
    subs = ", ".join(f"{a}→{b} {n}" for (a, b), n in r.subs.most_common(top))
    dels = ", ".join(f"{a} {n}" for a, n in r.dels.most_common(top))
    ins = ", ".join(f"{a} {n}" for a, n in r.ins.most_common(top))
    return f"- {name}: substituted {subs or '-'}; deleted {dels or '-'}; inserted {ins or '-'}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labels", action="append", required=True, type=Path,
                   help="label file 'path<TAB>label' (repeatable: the lines of all are pooled)")
    p.add_argument("--engines", default="toolkit", help="comma-separated: toolkit, tesseract, ppocr")
    p.add_argument("--weights-path", help="the toolkit model (default: the bundled model)")
    p.add_argument("--top", type=int, default=12, help="confusions listed per kind (default 12)")
    p.add_argument("--output", type=Path, help="also write the report here (Markdown)")
    args = p.parse_args(argv)

    from toolkit.compare import EngineUnavailable, load_labelled_set, make_engine, normalize

    images, labels = [], []
    for label_file in args.labels:
        try:
            _, imgs, labs = load_labelled_set(label_file)
        except (OSError, ValueError) as e:  # the message names the file and line
            raise SystemExit(f"char_class_errors: {e}") from None
        images += imgs
        labels += labs
    results = {}
    for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
        try:
            engine = make_engine(name, args.weights_path)
        except (ValueError, EngineUnavailable) as e:
            raise SystemExit(f"char_class_errors: {e}") from None
        counts = ClassErrors()
        for ref, hyp in zip(labels, engine.recognize(images), strict=True):
            counts.add(normalize(ref), normalize(hyp))
        results[name] = counts
    report = "\n".join([f"{len(labels)} lines of {', '.join(str(f) for f in args.labels)}", "",
                        class_table(results), "",
                        *(confusions(n, r, args.top) for n, r in results.items())]) + "\n"
    print(report, end="")
    if args.output:
        args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
