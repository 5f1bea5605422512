"""Dataset writing of the synthesis stage: :func:`gen_images` (one run, or one shard of a job array)
and :func:`merge_gen_shards`, with the lists, ``chinese.txt``, ``preview.png`` and ``gen_config.json``
they write (see :mod:`toolkit.synth` for the layout)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from toolkit.corpus import CorpusError, char_frequencies, first_occurrences, read_corpus
from toolkit.fonts import FontError, FontFace, load_font
from toolkit.io import atomic_write_json, atomic_write_text
from toolkit.shards import find_shards
from toolkit.synth.config import SynthConfig
from toolkit.synth.layout import SHARDS_DIR, image_relpath, shard_dir, shard_range
from toolkit.synth.pool import RenderPool, chunk_ranges
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


def _prepare_output(output_dir: Path, overwrite: bool) -> None:
    owned = [
        output_dir / "Train" / "sample.txt",
        output_dir / "Test" / "sample.txt",
        output_dir / "gen_config.json",
    ]
    images = output_dir / "images"
    existing = [p for p in owned if p.exists()]
    for folder in (images, output_dir / SHARDS_DIR):
        if folder.exists() and any(folder.iterdir()):
            existing.append(folder)
    if existing and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds gen-images output ({', '.join(map(str, existing))}); "
            f"choose another directory or pass overwrite=True"
        )
    # gen_config.json (written last) marks a complete run: remove it first, then the lists, so that an
    # interrupted overwrite never leaves a complete-looking directory with lists of deleted images.
    for path in owned[::-1]:
        path.unlink(missing_ok=True)
    for folder in (images, output_dir / SHARDS_DIR):
        if folder.exists():
            shutil.rmtree(folder)
    output_dir.mkdir(parents=True, exist_ok=True)


def _write_lists(target: Path, rows: dict[str, list[str]], chars: Sequence[str]) -> None:
    for split, lines in rows.items():
        atomic_write_text(target / split / "sample.txt", "".join(lines), make_parents=True)
    atomic_write_text(target / "chinese.txt", "".join(f"{ch}\n" for ch in chars), make_parents=True)


def _prepare_shard_output(output_dir: Path, shard_index: int, num_shards: int, overwrite: bool) -> Path:
    target = shard_dir(output_dir, shard_index, num_shards)
    existing = [p for p in (target, output_dir / "gen_config.json") if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds gen-images output ({', '.join(map(str, existing))}); "
            f"choose another directory or pass overwrite=True"
        )
    if overwrite:  # this shard's lists, and those of runs with another N
        for old in (output_dir / SHARDS_DIR).glob("*-of-*"):
            if old == target or not old.name.endswith(f"-of-{num_shards:05d}"):
                shutil.rmtree(old)
    target.mkdir(parents=True)
    return target


def _read_render_inputs(
    corpora: Sequence[Path], font_specs: Sequence[str | os.PathLike[str]], config: SynthConfig,
    skip_bad: bool,
) -> tuple[list[str], list[str], list[FontFace]]:
    """Read the corpus lines, cut their text units and load the faces for :func:`gen_images`;
    check that the faces cover the units' chars (error, or a warning with ``skip_bad``).

    Returns:
        ``(lines, units, faces)``.

    Raises:
        CorpusError, FontError, FileNotFoundError: as documented in :func:`gen_images`.
    """
    lines: list[str] = []
    for path in corpora:
        lines.extend(read_corpus(path))
    units = text_units(lines, config)
    if not units:
        what = f" made of the {config.top_chars} most frequent chars" if config.top_chars else ""
        raise CorpusError(
            f"no corpus text{what} has at least min_chars={config.min_chars} chars in "
            f"{', '.join(map(str, corpora))}"
        )
    faces = [load_font(spec) for spec in font_specs]
    if not faces:  # pragma: no cover - gen_images refuses an empty font_specs first
        raise FontError("no font given")
    covered = frozenset().union(*(f.codepoints for f in faces))
    # A set of the distinct chars is ~10x cheaper than counting them (0.13 s for the bundled
    # corpus); the counts are needed only for the message when some char is in no font.
    uncovered = [c for c in set("".join(units)) if not c.isspace() and ord(c) not in covered]
    if uncovered:
        unit_chars = char_frequencies(units)
        uncovered.sort(key=lambda c: (-unit_chars[c], c))
    if uncovered and not skip_bad:
        raise FontError(_uncovered_message(uncovered, unit_chars, corpora, faces))
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
    return lines, units, faces


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
            written.append((result.image, result.text))
    return skipped, examples, written


def _gen_config(summary: GenSummary, seed: int, num_images: int, corpora: Sequence[Path],
                faces: Sequence[FontFace], config: SynthConfig, corpus_lines: int,
                num_units: int) -> dict:
    """The ``gen_config.json`` of a run (a shard adds its own keys)."""
    return {
        "format_version": GEN_CONFIG_FORMAT_VERSION,
        "seed": seed,
        "num_images": num_images,
        "corpus_paths": [str(p.resolve()) for p in corpora],
        "fonts": [
            {
                "path": str(f.path.resolve()),
                "index": f.index,
                "name": f.name,
                "num_codepoints": len(f.codepoints),
            }
            for f in faces
        ],
        "config": config.to_dict(),
        "counts": {
            "train": summary.num_train,
            "test": summary.num_test,
            "failed": summary.num_failed,
            "skipped_texts": summary.skipped,
            "corpus_lines": corpus_lines,
            "text_units": num_units,
        },
        "chars_used": summary.chars_used,
    }


def gen_images(
    corpus_paths: Sequence[str | os.PathLike[str]],
    font_specs: Sequence[str | os.PathLike[str]],
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
) -> GenSummary:
    """Render ``num_images`` text-line images from the corpora with the fonts, and write the lists.

    Image ``i`` uses ``numpy.random.default_rng([seed, i])`` for its text, its face and its rendering,
    so the same arguments give byte-identical files whatever ``workers`` is. A drawn text that no single
    face fully covers is rejected, counted under its reason (the first char no face covers, or
    ``no single font covers all chars``) and replaced by another draw from the same generator, up to
    ``config.max_text_draws`` draws; an image that never finds one is left out (``num_failed``). A text
    is never rendered with a face that lacks one of its glyphs. The text goes to ``Test/`` iff
    :func:`is_test_text`. See the module docstring for the files written; ``sample.txt``,
    ``chinese.txt``, ``preview.png`` and ``gen_config.json`` are written atomically, the last one last.

    Args:
        corpus_paths: corpus files (:func:`toolkit.corpus.read_corpus` formats); their lines are pooled.
        font_specs: font specs (``PATH`` or ``PATH:INDEX``, see :func:`toolkit.fonts.load_font`).
        output_dir: output directory, created if needed.
        num_images: number of image indices to generate (>= 1).
        seed: non-negative integer seed.
        workers: number of processes (>= 1); 1 renders in this process, more use a ``spawn`` pool,
            started before the corpus and fonts are read, whose workers receive them once
            (:class:`RenderPool`). As with any spawn pool, a calling script must guard its top
            level with ``if __name__ == "__main__":``.
        config: the :class:`SynthConfig`.
        progress: show a tqdm progress bar over images.
        overwrite: replace an earlier run's output in ``output_dir`` (its ``gen_config.json``, lists and
            ``images/`` folder are deleted first, so a run that dies never leaves the old lists
            pointing at deleted images); otherwise such output is an error. For a shard: replace that
            shard's lists (``images/`` is shared and kept; the shard's images are rewritten).
        skip_bad: when a corpus text holds a char that no font has a glyph for, skip such texts
            (counted and reported in the summary) instead of stopping before anything is rendered.
        shard_index, num_shards: render only shard ``shard_index`` of ``num_shards`` (the indices
            of :func:`shard_range`) and write its lists under :func:`shard_dir`; merge the shards
            with :func:`merge_gen_shards`. ``num_shards=1`` is an ordinary run.

    Returns:
        The :class:`GenSummary` (also logged at INFO); for a shard, of that shard's images.

    Raises:
        ValueError: for a bad ``num_images``, ``seed``, ``workers``, ``shard_index`` or
            ``num_shards``, or no corpus / font given.
        CorpusError: if a corpus cannot be read, or no text unit of at least ``min_chars`` chars exists.
        FontError: if a font spec cannot be loaded, or (without ``skip_bad``) a char of the corpus text
            is in none of the fonts; the message names the char, the corpus file and line of its first
            occurrence, and the fonts.
        FontError: also if no image at all could be written (every text drawn had a char no font covers).
        FileExistsError: if ``output_dir`` holds an earlier run's output and ``overwrite`` is False.
        RuntimeError: if ``workers > 1`` and the ``__main__`` module has no file to re-import (a
            script piped to ``python -``).
    """
    started = time.perf_counter()
    _check_counts(num_images, seed, workers)
    owned = shard_range(num_images, shard_index, num_shards)
    corpora = [Path(p) for p in corpus_paths]
    if not corpora:
        raise ValueError("corpus_paths is empty: give at least one corpus file")
    if not font_specs:
        raise ValueError("font_specs is empty: give at least one font")
    output_dir = Path(output_dir)

    chunks = chunk_ranges(owned, workers)
    # Started before the inputs are read: the workers' start-up overlaps the reading (RenderPool).
    with RenderPool(max(1, min(workers, len(chunks)))) as pool:
        lines, units, faces = _read_render_inputs(corpora, font_specs, config, skip_bad)
        logger.info(
            "gen-images: %d images, seed %d, %d workers, %d text units from %d corpus lines, fonts: %s",
            num_images,
            seed,
            workers,
            len(units),
            len(lines),
            "; ".join(f"{f.name} ({f.spec})" for f in faces),
        )
        if num_shards == 1:
            _prepare_output(output_dir, overwrite)
            target = output_dir
        else:
            target = _prepare_shard_output(output_dir, shard_index, num_shards, overwrite)
            logger.info("shard %d of %d: images %d to %d", shard_index, num_shards, owned.start,
                        owned.stop - 1)

        worker_args = (units, faces, config, seed, output_dir)
        with tqdm(total=len(owned), unit="img", desc="gen-images", disable=not progress) as bar:
            results = pool.render(worker_args, chunks, bar)
    skipped, examples, written = _tally(results, num_images)
    splits: dict[str, list[str]] = {"Train": [], "Test": []}
    for index, text in written:
        split = "Test" if is_test_text(text, config.test_fraction) else "Train"
        splits[split].append(f"{image_relpath(index, config.image_format)} {text}\n")
    chars = sorted({ch for _, text in written for ch in text if not ch.isspace()})
    _write_lists(target, splits, chars)
    if written and num_shards == 1:
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
    gen_config = _gen_config(summary, seed, num_images, corpora, faces, config, len(lines),
                             len(units))
    if num_shards > 1:
        gen_config.update({
            "shard": {"index": shard_index, "count": num_shards, "start": owned.start,
                      "stop": owned.stop},
            "skipped_examples": examples,
            "first_written": written[:PREVIEW_COUNT],
            "seconds": summary.seconds,
        })
    atomic_write_json(target / "gen_config.json", gen_config, make_parents=True)
    logger.info("%s", summary.format())
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
    """
    output_dir = Path(output_dir)
    root = output_dir / SHARDS_DIR
    count, shards = find_shards(root.glob("*-of-*/gen_config.json"), root, "gen-images")
    confs = [json.loads(shards[i].read_text(encoding="utf-8")) for i in range(count)]
    first = confs[0]
    for i, conf in enumerate(confs):
        for key in ("seed", "num_images", "corpus_paths", "fonts", "config"):
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
