#!/usr/bin/env python3
"""A probe of how a model reads Latin drawn in other designs than the Chinese face's own.

Usage (from the repository root, on the label files of a development set)::

    python tools/build_latin_probe.py --labels eval/dev-s3/kind-mixed.txt \\
        --labels eval/dev-s3/kind-modern.txt --output-dir eval/latin-probe
    python tools/char_class_errors.py --labels eval/latin-probe/own.txt --engines toolkit,tesseract
    python tools/char_class_errors.py --labels eval/latin-probe/latin.txt --engines toolkit,tesseract

Every text of the label files that holds a printable ASCII char (the space aside) is drawn by each
held-out face of the styles ``--styles`` (default song, hei, kai, fangsong: ``fonts/heldout/``, see
``tools/build_eval_set.py``) that covers it, twice, with the same random generator
(``numpy.random.default_rng([text index, face index])``) and the eval set's Pillow settings
(``build_eval_set.PILLOW_SETTINGS``): once as the Chinese face draws it (``OUT/own/``, label file
``OUT/own.txt``), once with ``latin_face_prob`` 1 and the Latin text faces of ``fonts/latin/``
(``OUT/latin/``, ``OUT/latin.txt``): the line's ASCII in one of them, the rest unchanged. The two
files list the same texts in the same order, so the CER difference of a model between them is what
the Latin design alone costs it. Label files: ``PATH<TAB>label``, PNG images relative to ``OUT``.

The Latin faces are training faces once a model has been trained with ``latin_face_prob`` above 0
(``tools/train_release_v2.sh`` ``LATIN``): the probe then measures seen designs, not unseen ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tools"))  # build_eval_set: the held-out faces and settings

from toolkit.synth.render import LATIN_FACE_CHARS  # noqa: E402 - after the sys.path line above

DEFAULT_STYLES = ("song", "hei", "kai", "fangsong")


def has_ascii(text: str) -> bool:
    """Whether ``text`` holds a char a Latin text face draws (printable ASCII, not the space)."""
    return any(c in LATIN_FACE_CHARS for c in text)


def read_texts(label_files: list[Path]) -> list[str]:
    """The labels of ``path<TAB>label`` files that hold printable ASCII, in file and line order.

    Raises:
        SystemExit: naming the file and line, for a line without a tab.
    """
    texts = []
    for path in label_files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise SystemExit(f"{path}:{number}: expected 'path<TAB>label', got {line[:60]!r}")
            text = line.split("\t", 1)[1]
            if has_ascii(text):
                texts.append(text)
    return texts


def build(texts: list[str], out: Path, styles: tuple[str, ...]) -> int:
    """Draw the probe into ``out`` (see the module docstring); return the number of lines per file.

    Raises:
        SystemExit: if no held-out face has one of ``styles``, or no text is covered by any face.
    """
    from build_eval_set import PILLOW_SETTINGS, heldout_faces

    from toolkit.fonts import load_font_dir
    from toolkit.paths import bundled_latin_font_dir
    from toolkit.synth import render_line

    faces = [f.face for f in heldout_faces() if f.style in styles]
    if not faces:
        raise SystemExit(f"build_latin_probe: no held-out face of the styles {', '.join(styles)}")
    latin = load_font_dir(bundled_latin_font_dir())
    settings = {"own": PILLOW_SETTINGS,
                "latin": dataclasses.replace(PILLOW_SETTINGS, latin_face_prob=1.0)}
    rows: dict[str, list[str]] = {name: [] for name in settings}
    for name in settings:
        (out / name).mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts):
        for k, face in enumerate(faces):
            if not face.covers(text):
                continue
            for name, config in settings.items():
                rel = f"{name}/{len(rows[name]):05d}.png"
                render_line(text, face, np.random.default_rng([i, k]), config, latin).save(out / rel)
                rows[name].append(f"{rel}\t{text}")
    if not rows["own"]:
        raise SystemExit("build_latin_probe: no text with ASCII that a held-out face covers")
    for name, lines in rows.items():
        (out / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows["own"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labels", action="append", required=True, type=Path,
                   help="label file 'path<TAB>label' of a development set (repeatable)")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--styles", default=",".join(DEFAULT_STYLES),
                   help="held-out face styles to draw with (default %(default)s)")
    args = p.parse_args(argv)
    texts = read_texts(args.labels)
    styles = tuple(s.strip() for s in args.styles.split(",") if s.strip())
    n = build(texts, args.output_dir, styles)
    print(f"{args.output_dir}: {n} lines in own.txt and in latin.txt, from {len(texts)} texts with ASCII")
    return 0


if __name__ == "__main__":
    sys.exit(main())
