"""Recognition metrics (NumPy and plain Python; no TensorFlow), and the scoring of predicted batches.

Metrics (REFERENCE.md, "Metrics used by the originals" and "Modern peers"):

- CER: total Levenshtein edits over total ground-truth chars (PaddleOCR's and CnOCR's CER).
- line accuracy: share of lines predicted exactly (the originals' "full sequence accuracy").
- per-char accuracy as the seeds defined it: for each line, the share of ground-truth positions
  ``i`` with ``pred[i] == gt[i]``, averaged over lines (positional, so one missing char early in a
  line makes the rest count as wrong; kept for comparison with the old projects).

Ground truth and prediction are folded by :func:`toolkit.charset.normalize_text` before scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from toolkit.charset import normalize_text
from toolkit.ctc import greedy_decode


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


def edit_operations(ref: str, hyp: str) -> list[tuple[str, str | None, str | None]]:
    """One minimal alignment of ``hyp`` to ``ref``, as edit operations in reading order.

    Returns:
        ``(op, ref_char, hyp_char)`` tuples: ``("match", c, c)``, ``("sub", r, h)``, ``("del", r,
        None)`` (a reference char the hypothesis lacks) and ``("ins", None, h)`` (a char only the
        hypothesis has). The non-match operations number :func:`edit_distance` ``(ref, hyp)``;
        where several alignments are minimal, a substitution is preferred to a deletion and a
        deletion to an insertion. Costs O(len(ref) * len(hyp)) time and memory.
    """
    n, m = len(ref), len(hyp)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
    ops: list[tuple[str, str | None, str | None]] = []
    i, j = n, m
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("match" if ref[i - 1] == hyp[j - 1] else "sub", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + 1:
            ops.append(("del", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("ins", None, hyp[j - 1]))
            j -= 1
    return ops[::-1]


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


def score_batches(predict_fn, dataset, charset, max_batches: int = 0,
                  on_line: Callable[[str, str, str], None] | None = None, bar=None) -> Scores:
    """Greedy-decode batches of :func:`toolkit.records.make_dataset` and score them.

    Args:
        predict_fn: ``(images, widths) -> (logits, lengths)``: images float32 ``(batch, 32, W, 1)``
            and widths int ``(batch,)`` px to logits ``(batch, T, classes)`` and int ``(batch,)``
            valid time steps (a backend's ``predict_batch``, see :mod:`toolkit.backends`, or
            :meth:`toolkit.model.PredictionView.predict_batch`).
        dataset: batches with ``images``, ``widths``, ``texts``, ``names`` (tensors).
        charset: the model's :class:`~toolkit.charset.Charset`.
        max_batches: stop after this many batches (0: all).
        on_line: called with ``(image name, ground truth, prediction)`` per line.
        bar: an optional tqdm bar updated per line.

    Returns:
        The accumulated :class:`Scores`.
    """
    scores = Scores()
    for i, batch in enumerate(dataset):
        if max_batches and i >= max_batches:
            break
        logits, lengths = predict_fn(batch["images"], batch["widths"].numpy())
        for (ids, _), gt, name in zip(greedy_decode(logits, lengths, charset.blank_index),
                                      batch["texts"].numpy(), batch["names"].numpy()):
            gt, pred = gt.decode("utf-8"), charset.decode(ids)
            scores.add(gt, pred)
            if on_line is not None:
                on_line(name.decode("utf-8"), gt, pred)
        if bar is not None:
            bar.update(len(lengths))
    return scores
