"""CTC decoding and recognition metrics (NumPy and plain Python; no TensorFlow).

Metrics (REFERENCE.md, "Metrics used by the originals" and "Modern peers"):

- CER: total Levenshtein edits over total ground-truth chars (PaddleOCR's and CnOCR's CER).
- line accuracy: share of lines predicted exactly (the originals' "full sequence accuracy").
- per-char accuracy as the seeds defined it: for each line, the share of ground-truth positions
  ``i`` with ``pred[i] == gt[i]``, averaged over lines (positional, so one missing char early in a
  line makes the rest count as wrong; kept for comparison with the old projects).

Ground truth and prediction are folded by :func:`toolkit.charset.normalize_text` before scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.charset import normalize_text


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax over ``axis`` (float64 out)."""
    z = logits.astype(np.float64) - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def best_path(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most probable class per time step and its softmax probability.

    Args:
        logits: float ``(batch, T, num_classes)`` unnormalized scores.

    Returns:
        ``(best, top)``: int ``(batch, T)`` argmax classes and float32 ``(batch, T)`` their softmax
        probabilities, ``1 / sum(exp(logits - max))`` (no full softmax is materialized).
    """
    logits = np.asarray(logits, dtype=np.float32)
    best = logits.argmax(-1)
    z = logits - logits.max(-1, keepdims=True)
    np.exp(z, out=z)
    return best, 1.0 / z.sum(-1)


def collapse_path_chars(best: np.ndarray, top: np.ndarray, lengths,
                        blank_index: int) -> list[tuple[list[int], list[float], float]]:
    """The CTC collapse of best paths, keeping each emitted char's probability.

    Repeated classes are merged and blanks removed.

    Args:
        best: int ``(batch, T)`` class per time step (see :func:`best_path`).
        top: float ``(batch, T)`` its probability.
        lengths: int ``(batch,)`` valid time steps per line (``<= T``).
        blank_index: class index of the CTC blank.

    Returns:
        Per line, ``(class indices, char probabilities, confidence)``: a char's probability is the
        largest softmax probability over its run of repeated time steps; the confidence is their
        mean, or, for an empty result, the mean blank probability (1.0 when the blanks are
        certain; 0.0 for a line of no time step).
    """
    out = []
    for b in range(best.shape[0]):
        n = int(lengths[b])
        path = best[b, :n]
        ids: list[int] = []
        probs: list[float] = []
        prev = -1
        for t, k in enumerate(path):
            k = int(k)
            if k != prev and k != blank_index:
                ids.append(k)
                probs.append(float(top[b, t]))
            elif k == prev and k != blank_index and probs:
                probs[-1] = max(probs[-1], float(top[b, t]))
            prev = k
        c = float(np.mean(probs)) if probs else float(np.mean(top[b, :n])) if n else 0.0
        out.append((ids, probs, c))
    return out


def collapse_path(best: np.ndarray, top: np.ndarray, lengths,
                  blank_index: int) -> list[tuple[list[int], float]]:
    """The CTC collapse of best paths: repeated classes merged, blanks removed.

    Args:
        best, top, lengths, blank_index: as for :func:`collapse_path_chars`.

    Returns:
        Per line, ``(class indices, confidence)``: confidence is the mean probability of the
        emitted chars (the largest over a run of repeats), or, for an empty result, the mean blank
        probability (1.0 when the blanks are certain).
    """
    return [(ids, c) for ids, _, c in collapse_path_chars(best, top, lengths, blank_index)]


def greedy_decode(logits: np.ndarray, lengths, blank_index: int) -> list[tuple[list[int], float]]:
    """Best-path (greedy) CTC decoding: :func:`best_path` then :func:`collapse_path`.

    Args:
        logits: float ``(batch, T, num_classes)`` unnormalized scores.
        lengths: int ``(batch,)`` valid time steps per line (``<= T``).
        blank_index: class index of the CTC blank (the toolkit uses the last one).

    Returns:
        Per line, ``(class indices, confidence)``: repeated classes merged, blanks removed;
        confidence is the mean softmax probability of the emitted chars (1.0 for an empty result
        whose blanks are certain: then the mean blank probability is used).
    """
    best, top = best_path(logits)
    return collapse_path(best, top, lengths, blank_index)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions, each 1) between two strings."""
    if a == b:
        return 0
    if not a:
        return len(b)
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def seed_char_accuracy(gt: str, pred: str) -> float:
    """The original projects' per-char accuracy of one line (positional match ratio)."""
    if not gt:
        return 1.0 if not pred else 0.0
    return sum(1 for i, c in enumerate(gt) if i < len(pred) and pred[i] == c) / len(gt)


@dataclass
class Scores:
    """Accumulates recognition metrics over lines.

    Attributes:
        count: lines seen.
        edits: total edit distance.
        gt_chars: total ground-truth chars.
        exact: lines predicted exactly.
        char_acc_sum: sum of per-line seed per-char accuracies.
    """

    count: int = 0
    edits: int = 0
    gt_chars: int = 0
    exact: int = 0
    char_acc_sum: float = 0.0

    def add(self, gt: str, pred: str) -> None:
        """Score one line; both texts are folded first (:func:`toolkit.charset.normalize_text`),
        so a full-width ``２`` and an ASCII ``2`` are the same char, as in the labels."""
        gt, pred = normalize_text(gt), normalize_text(pred)
        self.count += 1
        self.edits += edit_distance(gt, pred)
        self.gt_chars += len(gt)
        self.exact += gt == pred
        self.char_acc_sum += seed_char_accuracy(gt, pred)

    @property
    def cer(self) -> float:
        """Character error rate in [0, inf): edits / ground-truth chars."""
        return self.edits / self.gt_chars if self.gt_chars else 0.0

    @property
    def line_accuracy(self) -> float:
        return self.exact / self.count if self.count else 0.0

    @property
    def char_accuracy(self) -> float:
        return self.char_acc_sum / self.count if self.count else 0.0

    def as_dict(self) -> dict:
        return {"count": self.count, "cer": self.cer, "line_accuracy": self.line_accuracy,
                "char_accuracy": self.char_accuracy}

    def format(self) -> str:
        return (f"lines {self.count}  CER {self.cer:.4f}  line accuracy {self.line_accuracy:.4f}  "
                f"per-char accuracy {self.char_accuracy:.4f}")
