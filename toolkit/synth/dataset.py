"""Dataset writing of the synthesis stage: :func:`gen_images` (one run, or one shard of a job array)
and :func:`merge_gen_shards`, with the lists, ``chinese.txt``, ``preview.png`` and ``gen_config.json``
they write (see :mod:`toolkit.synth` for the layout)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from toolkit.charset import named_set_chars, normalize_text
from toolkit.corpus import CorpusMix, SourceSpec, char_frequencies, first_occurrences
from toolkit.fonts import LATIN_STYLE, FontError, FontFace, load_font, split_latin
from toolkit.io import atomic_write_json, atomic_write_text
from toolkit.locks import DirectoryLock
from toolkit.shards import find_shards
from toolkit.synth.config import SynthConfig
from toolkit.synth.layout import SHARDS_DIR, image_relpath, shard_dir, shard_range
from toolkit.synth.pool import ImageResult, RenderPool, WorkerDiedError, chunk_ranges
from toolkit.synth.preview import PREVIEW_COUNT, write_preview
from toolkit.synth.sampling import is_test_text, text_units

logger = logging.getLogger(__name__)

GEN_CONFIG_FORMAT_VERSION = 1
_SHARD_ONLY_KEYS = ("shard", "skipped_examples", "first_written", "seconds")


@dataclass(frozen=True)
class GenSummary:
    """What :func:`gen_images` wrote.

    Attributes:
        num_requested: images asked for (``num_images``).
        num_train, num_test: images listed in ``Train/sample.txt`` and ``Test/sample.txt``.
        num_failed: image indices left empty because ``max_text_draws`` texts in a row had a char no
            font covers (``num_train + num_test + num_failed == num_requested``).
        skipped: rejected texts per reason, e.g. ``{"no font covers char 龍": 3}``; each rejected text
            was replaced by another draw for the same image.
        skipped_examples: up to 5 rejected texts, in image order.
        chars_used: distinct non-whitespace chars in the written labels (lines of ``chinese.txt``).
        output_dir: the output directory.
        seconds: wall time of the run, seconds.
    """

    num_requested: int
    num_train: int
    num_test: int
    num_failed: int
    skipped: dict[str, int]
    skipped_examples: list[str]
    chars_used: int
    output_dir: Path
    seconds: float = 0.0

    @property
    def num_written(self) -> int:
        """Images written (train + test)."""
        return self.num_train + self.num_test

    def format(self) -> str:
        """Return a multi-line human-readable summary of the run."""
        rate = self.num_written / self.seconds if self.seconds > 0 else float("nan")
        lines = [
            f"images: {self.num_written} written of {self.num_requested} requested, in {self.output_dir} "
            f"({self.seconds:.1f} s, {rate:.0f} images/s)",
            f"  train: {self.num_train}  test: {self.num_test}",
        ]
        total_skipped = sum(self.skipped.values())
        if total_skipped:
            lines.append(f"skipped texts: {total_skipped} (each replaced by another draw)")
            ranked = sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0]))
            for reason, count in ranked[:10]:
                lines.append(f"  {count:6d}  {reason}")
            if len(ranked) > 10:
                lines.append(f"  ... and {len(ranked) - 10} more reasons")
            lines.append("  e.g. " + " | ".join(self.skipped_examples))
        else:
            lines.append("skipped texts: 0")
        if self.num_failed:
            lines.append(f"images not written (no coverable text found): {self.num_failed}")
        lines.append(f"chars used: {self.chars_used}")
        return "\n".join(lines)


def _uncovered_message(
    uncovered: Sequence[str], counts: Counter[str], corpora: Sequence[Path], faces: Sequence[FontFace]
) -> str:
    """The error for chars in no font: each (up to 5) with its count and first corpus file:line."""
    where = first_occurrences(corpora, uncovered[:5])
    lines = []
    for ch in uncovered[:5]:
        path, line_no, line = where.get(ch, (Path("?"), 0, ""))
        lines.append(
            f"{path}:{line_no}: char {ch!r} (U+{ord(ch):04X}, {counts[ch]} occurrences) in {line[:40]!r}"
        )
    more = f"\n  ... and {len(uncovered) - 5} more chars" if len(uncovered) > 5 else ""
    fonts = ", ".join(f.spec for f in faces)
    return (
        f"{len(uncovered)} corpus char(s) are in none of the fonts ({fonts}), so texts holding them "
        f"cannot be drawn:\n  " + "\n  ".join(lines) + more + "\nAdd a font that has them, or pass "
        "--skip-bad to skip such texts (they are counted in the summary)"
    )


PROGRESS_FILE = "gen_progress.json"
"""Left in the output (or shard) directory by a run that stopped part way (a worker died, an
error, Ctrl-C): the run's inputs and the images it finished. A later run with the same inputs
renders only the others; a finished run removes it."""
PROGRESS_FORMAT_VERSION = 1
_OWN_FILES = ("gen_config.json", PROGRESS_FILE, "Train/sample.txt", "Test/sample.txt", "chinese.txt",
              "preview.png")  # gen_config.json first: without it a directory is not complete
_OWN_IMAGE = re.compile(r"images/\d{4}/\d{8}\.(?:jpg|png)")  # image_relpath's names


def _read_json_or_none(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _named_images(folder: Path) -> set[str]:
    """The image paths (relative to the output directory) that the gen-images files in ``folder``
    name: the lists' first fields of the form :func:`image_relpath` writes, every index of the
    ``gen_config.json`` (its shard's, for a shard), and the images ``gen_progress.json`` records."""
    names: set[str] = set()
    for split in ("Train", "Test"):
        try:
            text = (folder / split / "sample.txt").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        names.update(t for t in (line.split(" ", 1)[0] for line in text.splitlines())
                     if _OWN_IMAGE.fullmatch(t))
    conf = _read_json_or_none(folder / "gen_config.json")
    try:
        if conf is not None:
            shard = conf.get("shard") or {"start": 0, "stop": int(conf["num_images"])}
            fmt = str(conf["config"]["image_format"])
            names.update(image_relpath(i, fmt) for i in range(int(shard["start"]), int(shard["stop"])))
        progress = _read_json_or_none(folder / PROGRESS_FILE)
        if progress is not None:
            fmt = str(progress["inputs"]["config"]["image_format"])
            names.update(image_relpath(int(i), fmt) for i, text, _ in progress["done"] if text is not None)
    except (KeyError, TypeError, ValueError):
        pass  # not this toolkit's file after all: it names nothing
    return {n for n in names if _OWN_IMAGE.fullmatch(n)}


def _remove_own_files(output_dir: Path, folder: Path, images: bool) -> None:
    """Delete the gen-images files of ``folder`` (:data:`_OWN_FILES`), and with ``images`` the
    images they name under ``output_dir``, then the folders this leaves empty. Nothing else is
    touched: a user's own files in ``images/``, ``Train/`` or beside them stay."""
    named = _named_images(folder) if images else set()
    (folder / _OWN_FILES[0]).unlink(missing_ok=True)  # first: the directory no longer looks complete
    for name in sorted(named):
        (output_dir / name).unlink(missing_ok=True)
    for name in _OWN_FILES[1:]:
        (folder / name).unlink(missing_ok=True)
    folders = {(output_dir / n).parent for n in named} | {folder / "Train", folder / "Test"}
    for path in sorted(folders, key=lambda p: len(p.parts), reverse=True) + [output_dir / "images"]:
        _remove_if_empty(path)


def _remove_shard_folder(output_dir: Path, folder: Path, images: bool) -> None:
    """:func:`_remove_own_files` of a shard folder, under its lock (a shard run still writing
    there makes this raise :class:`~toolkit.locks.DirectoryInUseError`), then the folder if empty."""
    with DirectoryLock(folder, "gen-images --overwrite"):
        _remove_own_files(output_dir, folder, images=images)
    _remove_if_empty(folder)


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or gone
        path.rmdir()


def _existing_message(output_dir: Path, existing: Sequence[Path], why: str = "") -> str:
    return (f"{output_dir} already holds gen-images output ({', '.join(map(str, existing))}){why}; "
            f"choose another --output-dir or pass --overwrite to replace it (only the files "
            f"gen-images wrote are deleted)")


def _resumable(output_dir: Path, folder: Path, inputs: dict) -> tuple[list[ImageResult] | None, str]:
    """The results recorded in ``folder``'s progress file if an unfinished run with these
    ``inputs`` left it: ``(results, "")``, without those whose image file has gone since; else
    ``(None, why not)`` (``why`` is empty when there is no such file)."""
    path = folder / PROGRESS_FILE
    if not path.exists() or (folder / "gen_config.json").exists():  # none, or finished after all
        return None, ""
    progress = _read_json_or_none(path)
    if progress is None or progress.get("format_version") != PROGRESS_FORMAT_VERSION:
        return None, f" ({path} is unreadable or of another version)"
    old = progress.get("inputs", {})
    for key in inputs:
        if old.get(key) != inputs[key]:
            return None, f" ({path} was left by an unfinished run with another {key})"
    fmt = inputs["config"]["image_format"]
    done = [ImageResult(int(i), text, tuple(map(tuple, rejected)))
            for i, text, rejected in progress["done"]]
    kept = [r for r in done if r.text is None or (output_dir / image_relpath(r.image, fmt)).exists()]
    logger.info("%s: resuming the unfinished run it records (%d images done)", path, len(kept))
    return kept, ""


def _prepare_output(output_dir: Path, overwrite: bool, inputs: dict) -> list[ImageResult]:
    """Make ``output_dir`` ready for a run; return the results of an unfinished earlier run with
    the same ``inputs`` (resumed, see :data:`PROGRESS_FILE`), else ``[]``.

    Raises:
        FileExistsError: if it holds other gen-images output (or anything in ``images/``) and
            ``overwrite`` is False.
    """
    done, why = _resumable(output_dir, output_dir, inputs)
    if done is not None:
        return done
    existing = [output_dir / n for n in _OWN_FILES[:4] if (output_dir / n).exists()]
    for folder in (output_dir / "images", output_dir / SHARDS_DIR):
        if folder.is_dir() and any(folder.iterdir()):
            existing.append(folder)
    if existing and not overwrite:
        raise FileExistsError(_existing_message(output_dir, existing, why))
    _remove_own_files(output_dir, output_dir, images=True)
    shards = output_dir / SHARDS_DIR
    for old in sorted(shards.glob("*-of-*")):
        _remove_shard_folder(output_dir, old, images=True)
    _remove_if_empty(shards)
    left = sum(1 for p in (output_dir / "images").rglob("*") if p.is_file())
    if left:
        logger.warning("%s: kept %d file(s) that no gen-images list, config or progress file names "
                       "(not written by gen-images, or by a run killed before it wrote its lists); "
                       "images of the same name are replaced", output_dir / "images", left)
    output_dir.mkdir(parents=True, exist_ok=True)
    return []


def _write_lists(target: Path, rows: dict[str, list[str]], chars: Sequence[str]) -> None:
    for split, lines in rows.items():
        atomic_write_text(target / split / "sample.txt", "".join(lines), make_parents=True)
    atomic_write_text(target / "chinese.txt", "".join(f"{ch}\n" for ch in chars), make_parents=True)


def _prepare_shard_output(output_dir: Path, target: Path, num_shards: int, overwrite: bool,
                          inputs: dict) -> list[ImageResult]:
    """:func:`_prepare_output` for shard ``target`` of a job array: only the shard's lists are
    replaced (``images/`` is shared), and those of runs with another number of shards."""
    done, why = _resumable(output_dir, target, inputs)
    if done is not None:
        return done
    existing = [target / n for n in _OWN_FILES[:4] if (target / n).exists()]
    if (output_dir / "gen_config.json").exists():
        existing.append(output_dir / "gen_config.json")
    if existing and not overwrite:
        raise FileExistsError(_existing_message(output_dir, existing, why))
    for old in (output_dir / SHARDS_DIR).glob("*-of-*"):
        if old == target:  # locked by this run
            _remove_own_files(output_dir, old, images=False)
        elif not old.name.endswith(f"-of-{num_shards:05d}"):
            _remove_shard_folder(output_dir, old, images=False)
    target.mkdir(parents=True, exist_ok=True)
    return []


def _write_progress(target: Path, inputs: dict, done: Sequence[ImageResult]) -> Path:
    path = target / PROGRESS_FILE
    atomic_write_json(path, {"format_version": PROGRESS_FORMAT_VERSION, "inputs": inputs,
                             "done": [[r.image, r.text, [list(x) for x in r.rejected]]
                                      for r in sorted(done, key=lambda r: r.image)]})
    return path


def _missing_runs(owned: range, done: Sequence[ImageResult]) -> list[range]:
    """The indices of ``owned`` not in ``done``, as contiguous ranges in index order."""
    have = {r.image for r in done}
    runs: list[range] = []
    start = None
    for i in [*owned, owned.stop]:
        if i < owned.stop and i not in have:
            start = i if start is None else start
        elif start is not None:
            runs.append(range(start, i))
            start = None
    return runs


def _describe_missing(runs: Sequence[range], total: int, image_format: str) -> str:
    """``"180 of 400 images were not written: 120-199 (images/0000/00000120.jpg ...), ..."``."""
    count = sum(len(r) for r in runs)
    parts = [f"{r.start}-{r.stop - 1} ({image_relpath(r.start, image_format)} to "
             f"{image_relpath(r.stop - 1, image_format)})" if len(r) > 1
             else f"{r.start} ({image_relpath(r.start, image_format)})" for r in runs[:5]]
    more = f" and {len(runs) - 5} more ranges" if len(runs) > 5 else ""
    return f"{count} of {total} images were not written: " + ", ".join(parts) + more


def _render_missing(pool: RenderPool, worker_args: tuple, owned: range, done: list[ImageResult],
                    workers: int, target: Path, inputs: dict, progress: bool) -> list[ImageResult]:
    """Render the indices of ``owned`` not in ``done``; return all results. If rendering stops
    (a dead worker, an error, Ctrl-C), the finished images are recorded in :data:`PROGRESS_FILE`
    first.

    Raises:
        WorkerDiedError: if a worker died; the message lists the images not written.
    """
    runs = _missing_runs(owned, done)
    chunks = sorted((c for run in runs for c in chunk_ranges(run, workers)), key=len, reverse=True)
    results = list(done)
    with tqdm(total=len(owned), initial=len(done), unit="img", desc="gen-images",
              disable=not progress) as bar:
        try:
            for part in pool.render(worker_args, chunks):
                results.extend(part)
                bar.update(len(part))
        except BaseException as err:
            path = _write_progress(target, inputs, results)
            if not isinstance(err, WorkerDiedError):
                raise
            missing = _describe_missing(_missing_runs(owned, results), len(owned),
                                        inputs["config"]["image_format"])
            raise WorkerDiedError(
                f"{err}. {missing}. {path} records the {len(results)} images done; run the same "
                f"command again to render only the missing ones (with fewer --workers if memory "
                f"ran out)") from None
    return results


def _read_render_inputs(
    sources: Sequence[SourceSpec], font_specs: Sequence[str | os.PathLike[str] | FontFace],
    config: SynthConfig,
    skip_bad: bool, extra_chars: Sequence[str] = (),
) -> tuple[CorpusMix, list[FontFace]]:
    """Read the corpus files into a :class:`~toolkit.corpus.CorpusMix` and load the faces for
    :func:`gen_images`; check that the faces cover the units' chars (error, or a warning with
    ``skip_bad``). ``extra_chars`` that no face covers are left out of the mix (a warning).

    Returns:
        ``(mix, faces)``.

    Raises:
        CorpusError, FontError, FileNotFoundError: as documented in :func:`gen_images`.
    """
    faces = [s if isinstance(s, FontFace) else load_font(s) for s in font_specs]
    if not faces:  # pragma: no cover - gen_images refuses an empty font_specs first
        raise FontError("no font given")
    line_faces, latin = split_latin(faces)
    if not line_faces:
        raise FontError(f"only Latin text faces (style {LATIN_STYLE!r}) given: "
                        f"{', '.join(str(f.path) for f in faces)}; they draw only the ASCII chars of "
                        f"a line, so give the Chinese faces too (e.g. --font-dir fonts)")
    if latin and config.latin_face_prob == 0:
        logger.warning("%d Latin text faces given but SynthConfig.latin_face_prob is 0: no line "
                       "uses them", len(latin))
    elif not latin and config.latin_face_prob > 0:
        logger.warning("SynthConfig.latin_face_prob is %g but no Latin text face (style %r, e.g. "
                       "fonts/latin/) is given: no line uses one", config.latin_face_prob, LATIN_STYLE)
    # A Latin face never draws a whole line, so only the Chinese faces count for coverage.
    covered = frozenset().union(*(f.codepoints for f in line_faces))
    drawable = [c for c in extra_chars if ord(c) in covered]
    if len(drawable) < len(extra_chars):
        logger.warning("%d of the %d chars of the added sets are in no font and are not drawn: %s",
                       len(extra_chars) - len(drawable), len(extra_chars),
                       "".join(c for c in extra_chars if ord(c) not in covered)[:40])
    mix = CorpusMix.from_specs(sources, functools.partial(text_units, config=config),
                               min_chars=config.min_chars, max_chars=config.max_chars,
                               balance=config.balance, extra_chars=drawable)
    units = mix.units
    corpora = [s.path for s in sources if s.path is not None]
    # A set of the distinct chars is ~10x cheaper than counting them (0.13 s for the bundled
    # corpus); the counts are needed only for the message when some char is in no font.
    uncovered = [c for c in set("".join(units)) if not c.isspace() and ord(c) not in covered]
    if uncovered:
        unit_chars = char_frequencies(units)
        uncovered.sort(key=lambda c: (-unit_chars[c], c))
    if uncovered and not skip_bad:
        raise FontError(_uncovered_message(uncovered, unit_chars, corpora, line_faces))
    if uncovered:
        share = sum(unit_chars[c] for c in uncovered) / max(1, sum(unit_chars.values()))
        logger.warning(
            "%d of %d corpus chars (%.2f%% of occurrences) are in no font; texts holding them are "
            "redrawn. Most frequent: %s",
            len(uncovered),
            len(unit_chars),
            100 * share,
            "".join(uncovered[:20]),
        )
    return mix, faces


def _check_counts(num_images: int, seed: int, workers: int) -> None:
    """Raise ``ValueError`` for a bad ``num_images``, ``seed`` or ``workers`` of :func:`gen_images`."""
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"num_images must be an integer >= 1, got {num_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")


def _tally(results: list, num_images: int) -> tuple[Counter[str], list[str], list[tuple[int, str]]]:
    """Sort the pool's results by image and count them: ``(rejected texts per reason, up to 5
    rejected texts, (image, text) of each written image)``.

    Raises:
        FontError: if no image was written.
    """
    results.sort(key=lambda r: r.image)
    if not any(r.text is not None for r in results):
        reasons = Counter(reason for r in results for _, reason in r.rejected)
        raise FontError(
            f"gen-images wrote no image: all {num_images} images failed to find a text that one font "
            f"covers; most frequent reasons: {dict(reasons.most_common(3))}"
        )
    skipped: Counter[str] = Counter()
    examples: list[str] = []
    written: list[tuple[int, str]] = []
    for result in results:
        for text, reason in result.rejected:
            skipped[reason] += 1
            if len(examples) < 5:
                examples.append(text)
        if result.text is not None:
            written.append((result.image, normalize_text(result.text)))
    return skipped, examples, written


def _run_inputs(seed: int, num_images: int, shard_index: int, num_shards: int,
                corpora: Sequence[Path], faces: Sequence[FontFace], config: SynthConfig,
                mix: CorpusMix, add_sets: Sequence[str]) -> dict:
    """The inputs that decide a run's images (and so whether a progress file may be resumed):
    also the first keys of its ``gen_config.json``."""
    return {
        "seed": seed,
        "num_images": num_images,
        "shard": {"index": shard_index, "count": num_shards},
        "corpus_paths": [str(p.resolve()) for p in corpora],
        **({"corpus_mix": mix.describe()} if len(mix.sources) > 1 else {}),
        **({"added_sets": list(add_sets)} if add_sets else {}),
        "fonts": [
            {
                "path": str(f.path.resolve()),
                "index": f.index,
                "name": f.name,
                "num_codepoints": len(f.codepoints),
                "style": f.style,
            }
            for f in faces
        ],
        "config": config.to_dict(),
    }


def _gen_config(summary: GenSummary, inputs: dict, input_counts: dict[str, int]) -> dict:
    """The ``gen_config.json`` of a run (a shard adds its own keys); ``input_counts``: the corpus
    lines and text units read."""
    return {
        "format_version": GEN_CONFIG_FORMAT_VERSION,
        **{k: inputs[k] for k in ("seed", "num_images", "corpus_paths", "corpus_mix", "added_sets",
                                  "fonts", "config") if k in inputs},
        "counts": {
            "train": summary.num_train,
            "test": summary.num_test,
            "failed": summary.num_failed,
            "skipped_texts": summary.skipped,
            **input_counts,
        },
        "chars_used": summary.chars_used,
    }


def gen_images(
    corpus_paths: Sequence[str | os.PathLike[str] | SourceSpec],
    font_specs: Sequence[str | os.PathLike[str] | FontFace],
    output_dir: str | os.PathLike[str],
    num_images: int,
    seed: int = 0,
    workers: int = 1,
    config: SynthConfig = SynthConfig(),
    progress: bool = True,
    *,
    overwrite: bool = False,
    skip_bad: bool = False,
    shard_index: int = 0,
    num_shards: int = 1,
    add_sets: Sequence[str] = (),
) -> GenSummary:
    """Render ``num_images`` text-line images from the corpora with the fonts, and write the lists.

    Image ``i`` uses ``numpy.random.default_rng([seed, i])`` for its text, its face and its rendering,
    so the same arguments give byte-identical files whatever ``workers`` is. A drawn text that no single
    face fully covers is rejected, counted under its reason (the first char no face covers, or
    ``no single font covers all chars``) and replaced by another draw from the same generator, up to
    ``config.max_text_draws`` draws; an image that never finds one is left out (``num_failed``). A text
    is never rendered with a face that lacks one of its glyphs. The label written is the text folded
    by :func:`toolkit.charset.normalize_text` (a text drawn with full-width digits is labelled with
    ASCII ones); it goes to ``Test/`` iff :func:`is_test_text` of the label. See the module docstring
    for the files written; ``sample.txt``, ``chinese.txt``, ``preview.png`` and ``gen_config.json``
    are written atomically, the last one last.

    Args:
        corpus_paths: the text sources: corpus files (:func:`toolkit.corpus.read_corpus` formats),
            whose lines are pooled, and :class:`toolkit.corpus.SourceSpec` s (weighted files,
            generated kinds) mixed with them by :class:`toolkit.corpus.CorpusMix`.
        font_specs: font specs (``PATH`` or ``PATH:INDEX``, see :func:`toolkit.fonts.load_font`), or
            faces already loaded (e.g. by :func:`toolkit.fonts.load_font_dir`, with their styles).
            Each image's face is drawn among those covering its text by
            :class:`toolkit.fonts.FaceSampler`: every style gets an equal share. Faces of style
            :data:`toolkit.fonts.LATIN_STYLE` (``fonts/latin/``) are never drawn for a line: with
            ``config.latin_face_prob`` one of them draws a line's printable ASCII chars.
        output_dir: output directory, created if needed.
        num_images: number of image indices to generate (>= 1).
        seed: non-negative integer seed.
        workers: number of processes (>= 1); 1 renders in this process, more use a ``spawn`` pool,
            started before the corpus and fonts are read, whose workers receive them once
            (:class:`RenderPool`). As with any spawn pool, a calling script must guard its top
            level with ``if __name__ == "__main__":``.
        config: the :class:`SynthConfig`.
        progress: show a tqdm progress bar over images.
        overwrite: replace an earlier run's output in ``output_dir``; otherwise such output (or
            any file in ``images/``) is an error. Only what gen-images wrote is deleted: its
            ``gen_config.json`` (first, so a run that dies never leaves a complete-looking
            directory), the images its lists, config and progress file name, then the lists,
            ``chinese.txt``, ``preview.png`` and the folders left empty; other files in
            ``images/`` (a user's own) are kept, with a warning. For a shard: replace that
            shard's lists (``images/`` is shared and kept; the shard's images are rewritten).
        skip_bad: when a corpus text holds a char that no font has a glyph for, skip such texts
            (counted and reported in the summary) instead of stopping before anything is rendered.
        shard_index, num_shards: render only shard ``shard_index`` of ``num_shards`` (the indices
            of :func:`shard_range`) and write its lists under :func:`shard_dir`; merge the shards
            with :func:`merge_gen_shards`. ``num_shards=1`` is an ordinary run.
        add_sets: named char sets (:data:`toolkit.charset.NAMED_SETS` or ``"all"``) listed in
            ``chinese.txt`` besides the labels' chars; their chars that a face covers also join
            the chars that balancing and the ``random`` kind draw from.

    The run holds the :class:`~toolkit.locks.DirectoryLock` of ``output_dir`` (of its shard
    folder for a shard) from before it looks at earlier output until ``gen_config.json`` is
    written. If rendering stops part way (a worker process dies, an error, Ctrl-C), the images
    finished so far are recorded in ``gen_progress.json`` (:data:`PROGRESS_FILE`); a later run
    with the same inputs (seed, number of images, shard, corpora, fonts, config) renders only the
    others, whether or not it is given ``overwrite``, and the result is the same, byte for byte,
    as one uninterrupted run.

    Returns:
        The :class:`GenSummary` (also logged at INFO); for a shard, of that shard's images.

    Raises:
        ValueError: for a bad ``num_images``, ``seed``, ``workers``, ``shard_index`` or
            ``num_shards``, or no corpus / font given.
        CorpusError: if a corpus cannot be read, or no text unit of at least ``min_chars`` chars exists.
        FontError: if a font spec cannot be loaded, every face given is a Latin text face, or (without
            ``skip_bad``) a char of the corpus text is in none of the (Chinese) fonts; the message
            names the char, the corpus file and line of its first occurrence, and the fonts.
        FontError: also if no image at all could be written (every text drawn had a char no font covers).
        FileExistsError: if ``output_dir`` holds an earlier run's output and ``overwrite`` is False.
        DirectoryInUseError: if another live run holds the directory's lock (names that run).
        WorkerDiedError: if a worker process died; the message lists the images not written.
        RuntimeError: if ``workers > 1`` and the ``__main__`` module has no file to re-import (a
            script piped to ``python -``).
    """
    started = time.perf_counter()
    _check_counts(num_images, seed, workers)
    owned = shard_range(num_images, shard_index, num_shards)
    sources = [p if isinstance(p, SourceSpec) else SourceSpec(path=Path(p)) for p in corpus_paths]
    corpora = [s.path for s in sources if s.path is not None]
    if not sources:
        raise ValueError("corpus_paths is empty: give at least one corpus file")
    set_chars = named_set_chars(add_sets)
    if not font_specs:
        raise ValueError("font_specs is empty: give at least one font")
    output_dir = Path(output_dir)
    target = output_dir if num_shards == 1 else shard_dir(output_dir, shard_index, num_shards)

    # Started before the inputs are read: the workers' start-up overlaps the reading (RenderPool).
    with RenderPool(max(1, min(workers, len(chunk_ranges(owned, workers))))) as pool:
        mix, faces = _read_render_inputs(sources, font_specs, config, skip_bad, set_chars)
        logger.info(
            "gen-images: %d images, seed %d, %d workers, %d text units from %d corpus lines, fonts: %s",
            num_images,
            seed,
            workers,
            len(mix.units),
            mix.num_lines,
            "; ".join(f"{f.name} ({f.spec})" for f in faces),
        )
        if len(mix.sources) > 1:
            logger.info("text mix: %s", ", ".join(f"{s.name} {share:.1%}"
                                                  for s, share in zip(mix.sources, mix.shares)))
        inputs = _run_inputs(seed, num_images, shard_index, num_shards, corpora, faces, config,
                             mix, add_sets)
        with DirectoryLock(target, "gen-images"):
            if num_shards == 1:
                done = _prepare_output(output_dir, overwrite, inputs)
            else:
                done = _prepare_shard_output(output_dir, target, num_shards, overwrite, inputs)
                logger.info("shard %d of %d: images %d to %d", shard_index, num_shards,
                            owned.start, owned.stop - 1)
            results = _render_missing(pool, (mix, faces, config, seed, output_dir), owned, done,
                                      workers, target, inputs, progress)
            summary = _write_outputs(output_dir, target, owned, results, faces, config, inputs,
                                     {"corpus_lines": mix.num_lines, "text_units": len(mix.units)},
                                     started, set_chars)
    logger.info("%s", summary.format())
    return summary


def _write_outputs(output_dir: Path, target: Path, owned: range, results: list[ImageResult],
                   faces: Sequence[FontFace], config: SynthConfig, inputs: dict,
                   input_counts: dict[str, int], started: float,
                   set_chars: Sequence[str] = ()) -> GenSummary:
    """Write the lists, ``chinese.txt``, the preview (not for a shard) and ``gen_config.json`` of
    a run whose images are all rendered (``results``), in that order; then remove the progress
    file. Returns the run's :class:`GenSummary`.

    Raises:
        FontError: if no image was written (every text drawn had a char no font covers).
    """
    skipped, examples, written = _tally(results, len(owned))
    splits: dict[str, list[str]] = {"Train": [], "Test": []}
    for index, text in written:
        split = "Test" if is_test_text(text, config.test_fraction) else "Train"
        splits[split].append(f"{image_relpath(index, config.image_format)} {text}\n")
    chars = sorted({ch for _, text in written for ch in text if not ch.isspace()}.union(set_chars))
    _write_lists(target, splits, chars)
    sharded = inputs["shard"]["count"] > 1
    if written and not sharded:
        write_preview(output_dir, written, faces, config.image_format)

    summary = GenSummary(
        num_requested=len(owned),
        num_train=len(splits["Train"]),
        num_test=len(splits["Test"]),
        num_failed=len(owned) - len(written),
        skipped=dict(sorted(skipped.items())),
        skipped_examples=examples,
        chars_used=len(chars),
        output_dir=output_dir,
        seconds=time.perf_counter() - started,
    )
    gen_config = _gen_config(summary, inputs, input_counts)
    if sharded:
        gen_config.update({
            "shard": {**inputs["shard"], "start": owned.start, "stop": owned.stop},
            "skipped_examples": examples,
            "first_written": written[:PREVIEW_COUNT],
            "seconds": summary.seconds,
        })
    atomic_write_json(target / "gen_config.json", gen_config, make_parents=True)
    (target / PROGRESS_FILE).unlink(missing_ok=True)
    return summary


def merge_gen_shards(output_dir: str | os.PathLike[str]) -> GenSummary:
    """Combine the shards written by ``gen_images(..., shard_index=I, num_shards=N)`` into the files
    of an ordinary run: ``Train/sample.txt`` and ``Test/sample.txt`` (lines in image order),
    ``chinese.txt`` (the union of the chars, by code point), ``preview.png`` and ``gen_config.json``
    (counts summed, ``"shards": N`` added; written last). The shard lists are kept.

    Returns:
        The :class:`GenSummary` of the whole set (``seconds``: the shards' wall times, summed).

    Raises:
        ValueError: if no shard is complete, a shard of ``0..N-1`` has no ``gen_config.json`` (not
            run, or not finished), shards of several ``N`` are present, or the shards were made with
            different arguments (seed, number of images, corpus, fonts or config; the message names
            the shard and the field).
        DirectoryInUseError: if another live run holds ``output_dir``'s lock.
    """
    output_dir = Path(output_dir)
    with DirectoryLock(output_dir, "merge-shards"):
        return _merge_gen_shards(output_dir)


def _merge_gen_shards(output_dir: Path) -> GenSummary:
    root = output_dir / SHARDS_DIR
    count, shards = find_shards(root.glob("*-of-*/gen_config.json"), root, "gen-images")
    confs = [json.loads(shards[i].read_text(encoding="utf-8")) for i in range(count)]
    first = confs[0]
    for i, conf in enumerate(confs):
        for key in ("seed", "num_images", "corpus_paths", "corpus_mix", "added_sets", "fonts", "config"):
            if conf.get(key) != first.get(key):
                raise ValueError(f"{shards[i]}: {key} {conf.get(key)!r} differs from shard 0's "
                                 f"{first.get(key)!r}; all shards must be run with the same arguments")
    rows: dict[str, list[str]] = {"Train": [], "Test": []}
    chars: set[str] = set()
    for i in range(count):
        d = shards[i].parent
        for split, lines in rows.items():
            text = (d / split / "sample.txt").read_text(encoding="utf-8")
            lines.extend(line + "\n" for line in text.splitlines())
        chars.update((d / "chinese.txt").read_text(encoding="utf-8").split())
    chars_sorted = sorted(chars)
    _write_lists(output_dir, rows, chars_sorted)

    skipped: Counter[str] = Counter()
    for conf in confs:
        skipped.update(conf["counts"]["skipped_texts"])
    examples = [t for conf in confs for t in conf["skipped_examples"]][:5]
    written = [(int(i), str(t)) for conf in confs for i, t in conf["first_written"]][:PREVIEW_COUNT]
    if written:
        faces = []
        for font in first["fonts"]:
            try:
                faces.append(load_font(f"{font['path']}:{font['index']}"))
            except FontError as err:
                logger.warning("preview labels drawn without font %s: %s", font["path"], err)
        write_preview(output_dir, written, faces, first["config"]["image_format"])

    def total(key: str) -> int:
        return sum(int(conf["counts"][key]) for conf in confs)

    summary = GenSummary(
        num_requested=int(first["num_images"]),
        num_train=total("train"),
        num_test=total("test"),
        num_failed=total("failed"),
        skipped=dict(sorted(skipped.items())),
        skipped_examples=examples,
        chars_used=len(chars_sorted),
        output_dir=output_dir,
        seconds=sum(float(conf["seconds"]) for conf in confs),
    )
    merged = {k: v for k, v in first.items() if k not in _SHARD_ONLY_KEYS}
    merged["counts"] = {**first["counts"], "train": summary.num_train, "test": summary.num_test,
                        "failed": summary.num_failed, "skipped_texts": summary.skipped}
    merged["chars_used"] = summary.chars_used
    merged["shards"] = count
    atomic_write_json(output_dir / "gen_config.json", merged, make_parents=True)
    logger.info("merged %d gen-images shards: %s", count, summary.format())
    return summary
