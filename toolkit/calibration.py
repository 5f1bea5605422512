"""Line images to calibrate an int8 export when no record set is at hand.

``export --quantize int8`` needs line images that look like the model's inputs, to measure the
range of every activation. Without ``--dataset-dir`` they are rendered here: texts cut from the
bundled corpus (the Song ci lines) keeping only runs of chars that are in the model's charset and
that a bundled font can draw, each rendered by the synthesizer (:func:`toolkit.synth.render_line`,
the ``basic`` augmentation of ``gen-images``) with a bundled face that covers it, then prepared as
the record reader prepares training lines (:func:`toolkit.preprocess.prepare_tf`) and fitted to
the export width (:func:`toolkit.preprocess.fit_width_tf`). If no corpus line holds such a run (a
charset far from the corpus), the texts are drawn char by char from the charset instead.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit import preprocess
from toolkit.charset import Charset
from toolkit.corpus import read_corpus
from toolkit.fonts import FontFace, load_font
from toolkit.paths import bundled_corpus_files, bundled_font_files
from toolkit.synth import SynthConfig, render_line

logger = logging.getLogger(__name__)

MIN_CHARS = 2
"""Shortest calibration text, chars."""


@dataclass(frozen=True)
class RenderedCalibration:
    """Calibration lines rendered by :func:`rendered_calibration_images`.

    Attributes:
        images: float32 arrays ``(1, 32, width, 1)`` in [0, 1], ink high (the TFLite input).
        texts_from: ``"corpus"`` (cut from corpus lines) or ``"charset"`` (drawn char by char,
            when no corpus line holds a run of at least :data:`MIN_CHARS` usable chars).
        corpora: the corpus files read.
        fonts: the font specs (``PATH:INDEX``) of the faces used.
    """

    images: list[np.ndarray]
    texts_from: str
    corpora: list[str] = field(default_factory=list)
    fonts: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        """The ``calibration`` entry of an export's JSON (file names, not full paths)."""
        return {"source": "rendered", "lines": len(self.images), "texts_from": self.texts_from,
                "corpora": [Path(p).name for p in self.corpora],
                "fonts": [Path(s.rsplit(":", 1)[0]).name for s in self.fonts]}


def _usable_chars(charset: Charset, faces: Sequence[FontFace]) -> str:
    """The charset's visible chars that at least one face can draw, in class order."""
    covered = frozenset().union(*(f.codepoints for f in faces))
    return "".join(c for c in charset.chars if not c.isspace() and ord(c) in covered)


def calibration_texts(usable: str, lines: Sequence[str], count: int, max_chars: int,
                      rng: np.random.Generator) -> tuple[list[str], bool]:
    """Draw ``count`` texts of ``MIN_CHARS..max_chars`` chars, all in ``usable``.

    Each text is a window (random length and position) of a random run of usable chars of a
    corpus line; with no such run of at least :data:`MIN_CHARS` chars in ``lines``, every text is
    ``MIN_CHARS..max_chars`` chars drawn uniformly from ``usable``.

    Returns:
        ``(texts, from_corpus)``: the texts, and whether they were cut from the corpus.

    Raises:
        ValueError: if ``usable`` is empty or ``max_chars < MIN_CHARS``.
    """
    if not usable:
        raise ValueError("no char of the model's charset is in the bundled fonts")
    if max_chars < MIN_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_CHARS}, got {max_chars}")
    run = re.compile(f"[{''.join(re.escape(c) for c in usable)}]{{{MIN_CHARS},}}")
    runs = [m.group() for line in lines for m in run.finditer(line)]
    texts = []
    for _ in range(count):
        if runs:
            source = runs[rng.integers(len(runs))]
            n = int(rng.integers(MIN_CHARS, min(max_chars, len(source)) + 1))
            start = int(rng.integers(len(source) - n + 1))
            texts.append(source[start:start + n])
        else:
            n = int(rng.integers(MIN_CHARS, max_chars + 1))
            texts.append("".join(usable[i] for i in rng.integers(len(usable), size=n)))
    return texts, bool(runs)


def rendered_calibration_images(charset: Charset, width: int, count: int, seed: int = 0,
                                corpora: Sequence[str | os.PathLike] | None = None,
                                fonts: Sequence[str | os.PathLike] | None = None
                                ) -> RenderedCalibration:
    """Render ``count`` calibration lines from ``charset`` with the corpus and fonts.

    Args:
        charset: the model's charset (only its chars are drawn).
        width: the export width, px; texts are at most ``width / 32`` chars (about the widest
            line that fits without being squeezed).
        count: lines to render.
        seed: seeds the texts, faces and renderings (same seed, same images).
        corpora: corpus files [default: the bundled corpus].
        fonts: font specs, ``PATH`` or ``PATH:INDEX`` [default: the bundled fonts].

    Returns:
        The images and where their texts came from.

    Raises:
        ValueError: if no char of ``charset`` is in the fonts (a ``FontError`` or ``CorpusError``
            for an unreadable font or corpus).
        FileNotFoundError: if there is no bundled corpus or font and none is given.
    """
    import tensorflow as tf

    corpora = [str(p) for p in (corpora or bundled_corpus_files())]
    faces = [load_font(spec) for spec in (fonts or bundled_font_files())]
    lines = [line for path in corpora for line in read_corpus(path)]
    rng = np.random.default_rng(seed)
    texts, from_corpus = calibration_texts(_usable_chars(charset, faces), lines, count,
                                           max(MIN_CHARS, width // preprocess.HEIGHT), rng)
    config = SynthConfig()
    images, used = [], {}
    for text in texts:
        covering = [f for f in faces if not f.missing(text)]
        if not covering:  # chars of two faces that no one face has: leave the text out
            continue
        face = covering[int(rng.integers(len(covering)))]
        used[face.spec] = None
        grey = np.asarray(render_line(text, face, rng, config))[:, :, None]
        x = preprocess.prepare_tf(tf.constant(grey))
        images.append(preprocess.fit_width_tf(x, width)[0].numpy()[None])
    if not images:
        raise ValueError("no calibration text could be drawn with one of the fonts")
    texts_from = "corpus" if from_corpus else "charset"
    logger.debug("rendered %d calibration lines (texts from the %s) with %s", len(images),
                 texts_from, ", ".join(used))
    return RenderedCalibration(images, texts_from, corpora=corpora, fonts=sorted(used))
