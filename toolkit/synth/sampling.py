"""Text sampling for the synthesis stage: the text units segments are cut from (:func:`text_units`),
the segment sampler (:class:`TextSampler`) and the text-only train/test split (:func:`is_test_text`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

from toolkit.corpus import char_frequencies
from toolkit.synth.config import SynthConfig, draw_integer


def is_test_text(text: str, test_fraction: float) -> bool:
    """Return True if ``text`` belongs to the test split.

    The split is a pure function of the text: the first 32 bits of ``sha1(text.encode("utf-8"))``, read
    as a fraction of 2**32, are compared with ``test_fraction``. So a text is always on the same side,
    whatever the seed, the image index or the number of workers.
    """
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) / 2**32 < test_fraction


def text_units(lines: Iterable[str], config: SynthConfig) -> list[str]:
    """Return the pieces of corpus text that segments are cut from.

    Whitespace runs inside a line become one ASCII space. Without ``config.top_chars`` the units are the
    lines of at least ``config.min_chars`` chars; with it, the lines are cut at every char outside the K
    most frequent non-whitespace chars (ties broken by code point) and the runs of at least
    ``config.min_chars`` chars (after stripping) are kept.

    Args:
        lines: corpus entries (:func:`toolkit.corpus.read_corpus`).
        config: uses ``min_chars`` and ``top_chars``.

    Returns:
        The units, in corpus order (may be empty).
    """
    cleaned = [" ".join(line.split()) for line in lines]
    if config.top_chars is None:
        return [line for line in cleaned if len(line) >= config.min_chars]
    ranked = sorted(char_frequencies(cleaned).items(), key=lambda kv: (-kv[1], kv[0]))
    allowed = {ch for ch, _ in ranked[: config.top_chars]}
    units: list[str] = []
    for line in cleaned:
        run: list[str] = []
        for ch in line + "\0":  # "\0" is never allowed: it closes the last run
            if ch in allowed or (ch == " " and run):
                run.append(ch)
                continue
            piece = "".join(run).strip()
            if len(piece) >= config.min_chars:
                units.append(piece)
            run = []
    return units


class TextSampler:
    """Draws text segments from the text units (:func:`text_units`) as :class:`SynthConfig` asks:
    lengths in ``[min_chars, max_chars]``, positions by corpus frequency or, with probability
    ``balance``, char-frequency-balanced.

    Args:
        units: the text units (at least one, each non-empty).
        config: uses ``min_chars``, ``max_chars`` and ``balance``.
    """

    def __init__(self, units: Sequence[str], config: SynthConfig) -> None:
        self.units = list(units)
        self.cumulative = np.cumsum([len(u) for u in self.units], dtype=np.int64)
        self.occurrences: np.ndarray | None = None
        if config.balance > 0:
            # Corpus positions grouped by char: occurrences[starts[k]:starts[k + 1]] are the positions
            # of the k-th distinct non-space char.
            codes = np.frombuffer("".join(self.units).encode("utf-32-le"), dtype=np.uint32)
            order = np.argsort(codes, kind="stable")
            sorted_codes = codes[order]
            keep = sorted_codes != ord(" ")
            order, sorted_codes = order[keep], sorted_codes[keep]
            _, starts = np.unique(sorted_codes, return_index=True)
            self.occurrences = order.astype(np.int64)
            self.starts = np.append(starts, len(order)).astype(np.int64)
        self.config = config

    def sample(self, rng: np.random.Generator) -> str:
        """Draw a segment: a position in the corpus, a length uniform in [min_chars, max_chars] (the
        whole unit if it is not longer) and a start such that the segment holds the position; the
        segment's ends are stripped.

        The position is uniform over the corpus (so chars follow the corpus frequencies), or, with
        probability ``config.balance``, a uniformly drawn occurrence of a char drawn uniformly from
        the distinct chars (char-frequency-balanced sampling)."""
        if self.occurrences is not None and rng.random() < self.config.balance:
            k = int(rng.integers(len(self.starts) - 1))
            position = int(self.occurrences[int(rng.integers(self.starts[k], self.starts[k + 1]))])
        else:
            position = int(rng.integers(int(self.cumulative[-1])))
        u = int(np.searchsorted(self.cumulative, position, side="right"))
        unit = self.units[u]
        offset = position - (int(self.cumulative[u - 1]) if u else 0)
        length = draw_integer(rng, (self.config.min_chars, self.config.max_chars))
        if len(unit) <= length:
            return unit
        lo, hi = max(0, offset - length + 1), min(offset, len(unit) - length)
        start = int(rng.integers(lo, hi + 1))
        return unit[start : start + length].strip()
