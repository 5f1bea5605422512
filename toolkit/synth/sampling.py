"""Text sampling for the synthesis stage: the text units segments are cut from (:func:`text_units`)
and the text-only train/test split (:func:`is_test_text`); segments are drawn from the units by
:class:`toolkit.corpus.CorpusMix`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from toolkit.corpus import char_frequencies
from toolkit.synth.config import SynthConfig


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
