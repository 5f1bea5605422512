"""Score several recognizers on one labelled set of line images, side by side (``crnn-toolkit compare``).

Engines:

- ``toolkit``: this toolkit's model (a model directory or checkpoint; by default the bundled release
  model), through :class:`toolkit.predict.Recognizer` (lines batched by width).
- ``tesseract``: Tesseract 5 with ``-l chi_sim --psm 7`` (one text line per image), one ``tesseract``
  process per line, image piped on stdin. Needs the Debian packages ``tesseract-ocr`` and
  ``tesseract-ocr-chi-sim``.
- ``ppocr``: PaddleOCR's PP-OCRv4 Chinese recognizer, the ONNX model bundled in the PyPI package
  ``rapidocr-onnxruntime`` 1.4.4, recognition only (no detection, no angle classifier), through that
  package's ``TextRecognizer`` (its own batching of 6 lines sorted by aspect ratio, 48 px high input).

The peers are optional: ``bash tools/install_compare_peers.sh`` installs both (apt + pip); the core
package never imports them.

Scoring: every engine reads the same decoded images. Reference and hypothesis are normalized alike
before scoring (:func:`normalize`: Unicode NFKC, so full-width ``，`` and ASCII ``,`` compare equal,
and all whitespace removed, since Tesseract's ``chi_sim`` puts spaces between CJK chars). CER is the
summed Levenshtein distance over the summed reference length; line accuracy the share of exact lines.
Lines per second is the number of lines over the wall time of the engine's batch call on all of them
(images already decoded in memory; Tesseract's time includes its per-line process start, which is how
it is used from Python); single-line latency is the median over single-image calls.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import statistics
import subprocess
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.checkpoints import CheckpointError, resolve_weights
from toolkit.labels import read_label_file
from toolkit.metrics import Scores
from toolkit.paths import bundled_model_dir
from toolkit.predict import Recognizer, load_image

logger = logging.getLogger(__name__)

ENGINES = ("toolkit", "tesseract", "ppocr")
"""Engine names accepted by :func:`make_engine`, in table order."""

RAPIDOCR_VERSION = "1.4.4"


class EngineUnavailable(RuntimeError):
    """An engine's optional dependency is missing; the message says how to install it."""


def normalize(text: str) -> str:
    """Return ``text`` in the form all engines are scored in: NFKC, whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


@dataclass
class Engine:
    """A recognizer under comparison.

    Attributes:
        name: the engine name (see :data:`ENGINES`).
        description: what exactly runs (model, version, options), for the table.
        recognize: grey uint8 images ``(h, w)`` -> one text per image, in order.
        size_bytes: size of the model files on disk, bytes (None if not known); for a toolkit
            checkpoint, that checkpoint's files (with the optimizer state if it holds one).
    """

    name: str
    description: str
    recognize: Callable[[Sequence[np.ndarray]], list[str]]
    size_bytes: int | None = None


def _toolkit_engine(weights_path: str | os.PathLike | None) -> Engine:
    path = weights_path if weights_path is not None else bundled_model_dir()
    if path is None:
        raise EngineUnavailable("toolkit: no --weights-path given and no bundled model in model/shadownet/")
    recognizer = Recognizer.from_weights(path)
    size = None
    try:
        _, prefix = resolve_weights(path)
        size = sum(f.stat().st_size for f in Path(prefix).parent.glob(Path(prefix).name + ".*"))
    except CheckpointError:  # an exported form: count its files
        size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) if Path(path).is_dir() \
            else Path(path).stat().st_size

    def recognize(images: Sequence[np.ndarray]) -> list[str]:
        return [text for text, _ in recognizer.recognize(images)]

    return Engine("toolkit", f"ShadowNet ({Path(path)}), greedy CTC, batched by width", recognize, size)


def _tesseract_engine() -> Engine:
    from PIL import Image

    exe = shutil.which("tesseract")
    if exe is None:
        raise EngineUnavailable("tesseract: not installed (apt-get install tesseract-ocr tesseract-ocr-chi-sim)")
    langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, check=False).stdout
    if "chi_sim" not in langs.split():
        raise EngineUnavailable("tesseract: language chi_sim missing (apt-get install tesseract-ocr-chi-sim)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    first = (version.stdout or version.stderr).splitlines()[0].strip()
    env = dict(os.environ, OMP_THREAD_LIMIT=os.environ.get("OMP_THREAD_LIMIT", "1"))

    def one(image: np.ndarray) -> str:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        out = subprocess.run([exe, "stdin", "stdout", "-l", "chi_sim", "--psm", "7"], input=buf.getvalue(),
                             capture_output=True, check=False, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"tesseract failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
        return out.stdout.decode("utf-8", errors="replace").strip()

    def recognize(images: Sequence[np.ndarray]) -> list[str]:
        if len(images) == 1:
            return [one(images[0])]
        # One process per line, as many at a time as there are cores (the other engines use all cores).
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            return list(pool.map(one, images))

    traineddata = Path("/usr/share/tesseract-ocr/5/tessdata/chi_sim.traineddata")
    size = traineddata.stat().st_size if traineddata.exists() else None
    return Engine("tesseract", f"{first}, chi_sim, --psm 7", recognize, size)


def _ppocr_engine() -> Engine:
    try:
        from importlib.metadata import version

        import rapidocr_onnxruntime
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as e:
        raise EngineUnavailable(
            f"ppocr: rapidocr-onnxruntime=={RAPIDOCR_VERSION} not installed (bash tools/install_compare_peers.sh)"
        ) from e
    got = version("rapidocr-onnxruntime")
    if got != RAPIDOCR_VERSION:
        logger.warning("rapidocr-onnxruntime %s installed; the comparison was set up with %s", got,
                       RAPIDOCR_VERSION)
    engine = RapidOCR()
    model = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"

    def recognize(images: Sequence[np.ndarray]) -> list[str]:
        bgr = [np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2)) for img in images]
        results, _ = engine.text_rec(bgr)
        return [text for text, _score in results]

    size = model.stat().st_size if model.exists() else None
    return Engine("ppocr", f"PP-OCRv4 rec (rapidocr-onnxruntime {got}, ONNX Runtime), recognition only",
                  recognize, size)


def make_engine(name: str, weights_path: str | os.PathLike | None = None) -> Engine:
    """Build an engine by name.

    Raises:
        ValueError: for an unknown name.
        EngineUnavailable: if its optional dependency is missing (the message says how to install it).
    """
    if name == "toolkit":
        return _toolkit_engine(weights_path)
    if name == "tesseract":
        return _tesseract_engine()
    if name == "ppocr":
        return _ppocr_engine()
    raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")


@dataclass
class EngineResult:
    """One engine's scores on one set.

    Attributes:
        engine: the engine.
        scores: CER and line accuracy over the normalized texts.
        lines_per_second: lines over the wall time of the batch call on all lines.
        latency_ms: median wall time of a single-line call, milliseconds.
        predictions: normalized hypothesis per line, in label-file order.
    """

    engine: Engine
    scores: Scores
    lines_per_second: float
    latency_ms: float
    predictions: list[str] = field(repr=False, default_factory=list)


def load_labelled_set(label_file: str | os.PathLike, base_dir: str | os.PathLike | None = None,
                      ) -> tuple[list[str], list[np.ndarray], list[str]]:
    """Read a ``path label`` / ``path<TAB>label`` file and decode its images.

    Args:
        label_file: the label file (any format of :func:`toolkit.labels.read_label_file`).
        base_dir: directory relative image paths start from (default: the label file's directory).

    Returns:
        ``(names, images, labels)``: image paths as written, grey uint8 arrays ``(h, w)``, labels.

    Raises:
        ValueError: naming the file and line for a bad line or a missing image, or if the file holds no
            line; :class:`toolkit.predict.ImageError` for an unreadable image.
    """
    entries = _read_entries(label_file, base_dir)
    return ([e.name for e in entries], [load_image(e.image_path) for e in entries],
            [e.label for e in entries])


def _read_entries(label_file: str | os.PathLike, base_dir: str | os.PathLike | None = None):
    """The entries of a label file (:func:`load_labelled_set`'s reading, images not decoded).

    Raises:
        ValueError: naming the file and line for a bad line or a missing image, or if the file
            holds no line.
    """
    label_file = Path(label_file)
    base = Path(base_dir) if base_dir is not None else label_file.parent
    entries, problems = read_label_file(label_file, base, keep_spaces=True)  # see normalize
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(problems[0] + more)
    if not entries:
        raise ValueError(f"{label_file}: no labelled line")
    return entries


def run_engine(engine: Engine, images: Sequence[np.ndarray], labels: Sequence[str],
               latency_lines: int = 20) -> EngineResult:
    """Run one engine on all images (one batch call, timed) and on single lines (latency)."""
    engine.recognize(images[:2])  # warm-up: graph tracing, session creation, page cache
    started = time.perf_counter()
    raw = engine.recognize(images)
    seconds = time.perf_counter() - started
    if len(raw) != len(images):
        raise RuntimeError(f"{engine.name} returned {len(raw)} texts for {len(images)} images")
    latencies = []
    for img in images[:latency_lines]:
        t = time.perf_counter()
        engine.recognize([img])
        latencies.append(time.perf_counter() - t)
    scores = Scores()
    predictions = [normalize(p) for p in raw]
    for gt, pred in zip(labels, predictions):
        scores.add(normalize(gt), pred)
    return EngineResult(engine, scores, len(images) / seconds if seconds > 0 else float("inf"),
                        1000 * statistics.median(latencies) if latencies else float("nan"), predictions)


def _size(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**20:.1f} MB"


def markdown_table(results_by_set: dict[str, list[EngineResult]]) -> str:
    """Format results as a Markdown table: one row per (set, engine)."""
    rows = ["| set | engine | lines | CER | line accuracy | lines/s (batch) | latency (1 line) | model size |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for set_name, results in results_by_set.items():
        for r in results:
            rows.append(f"| {set_name} | {r.engine.name} | {r.scores.count} | {r.scores.cer:.4f} | "
                        f"{r.scores.line_accuracy:.4f} | {r.lines_per_second:.1f} | {r.latency_ms:.1f} ms | "
                        f"{_size(r.engine.size_bytes)} |")
    return "\n".join(rows)


def markdown_report(results_by_set: dict[str, list[EngineResult]]) -> str:
    """The ``compare --output`` file: :func:`markdown_table`, then one line per engine used with
    its description (version, model)."""
    engines_used = {r.engine.name: r.engine.description for rs in results_by_set.values() for r in rs}
    notes = "\n".join(f"- {name}: {desc}" for name, desc in engines_used.items())
    return markdown_table(results_by_set) + "\n\n" + notes + "\n"


def set_names(label_files: Sequence[str | os.PathLike]) -> list[str]:
    """The name of each label file's set in :func:`compare`'s result and table.

    A set is named after its file's stem (``eval/pillow.txt`` -> ``pillow``); files whose stems
    collide are named ``folder/stem`` instead (``eval-s1/pillow`` and ``eval-yuanqu/pillow``), so two
    held-out sets with the same file names keep a row each.

    Args:
        label_files: label file paths, in order.

    Returns:
        One name per file, in the same order, all different.

    Raises:
        ValueError: if two files still get the same name (the same file given twice, or the same
            folder name and stem in different places), naming both paths.
    """
    paths = [Path(f) for f in label_files]
    stems = [p.stem for p in paths]
    names = [p.stem if stems.count(p.stem) == 1 else f"{p.resolve().parent.name}/{p.stem}"
             for p in paths]
    seen: dict[str, Path] = {}
    for path, name in zip(paths, names):
        if name in seen:
            raise ValueError(f"label files {seen[name]} and {path} would both be the set {name!r}: "
                             "give each set once, from folders of different names")
        seen[name] = path
    return names


def compare(label_files: Sequence[str | os.PathLike], engines: Sequence[str],
            weights_path: str | os.PathLike | None = None, skip_unavailable: bool = False,
            latency_lines: int = 20) -> dict[str, list[EngineResult]]:
    """Score each engine on each labelled set.

    An image named by several label files (a held-out set's per-renderer, per-style and per-kind
    files name the same images) is decoded once and read once per engine: each engine makes one
    batch call on all distinct images of all sets, and each set is scored on its own lines' texts.
    With one label file this is :func:`run_engine` on that file; with several, lines/s and latency
    are those of the one call on all distinct images and the same in every set's row.

    Args:
        label_files: label files (each one set, named by :func:`set_names`: the file's stem, or
            ``folder/stem`` where stems collide); images relative to the label file's directory.
        engines: engine names (:data:`ENGINES`).
        weights_path: the toolkit model (default: the bundled one).
        skip_unavailable: leave out (with a warning) engines whose dependency is missing instead of
            raising.
        latency_lines: single-line calls timed per engine for the latency.

    Returns:
        ``{set name: [EngineResult per engine]}``.

    Raises:
        EngineUnavailable: if an engine cannot run and ``skip_unavailable`` is False.
        ValueError: for an unknown engine, a bad label file, or two label files that
            :func:`set_names` cannot tell apart.
    """
    names = set_names(label_files)
    built: list[Engine] = []
    for name in engines:
        try:
            built.append(make_engine(name, weights_path))
        except EngineUnavailable as e:
            if not skip_unavailable:
                raise
            logger.warning("skipping %s", e)
    index: dict[Path, int] = {}  # resolved image path -> position in ``images``
    images: list[np.ndarray] = []
    labels: list[str] = []  # the label of each distinct image's first occurrence
    sets: dict[str, tuple[list[int], list[str]]] = {}
    for label_file, set_name in zip(label_files, names):
        entries = _read_entries(label_file)
        positions = []
        for entry in entries:
            key = entry.image_path.resolve()
            if key not in index:
                index[key] = len(images)
                images.append(load_image(entry.image_path))
                labels.append(entry.label)
            positions.append(index[key])
        sets[set_name] = (positions, [e.label for e in entries])
        logger.info("%s: %d lines", set_name, len(entries))
    out: dict[str, list[EngineResult]] = {name: [] for name in sets}
    for engine in built:
        whole = run_engine(engine, images, labels, latency_lines)
        for set_name, (positions, set_labels) in sets.items():
            predictions = [whole.predictions[i] for i in positions]
            scores = Scores()
            for gt, pred in zip(set_labels, predictions):
                scores.add(normalize(gt), pred)
            result = EngineResult(engine, scores, whole.lines_per_second, whole.latency_ms,
                                  predictions)
            logger.info("%s / %s: %s, %.1f lines/s", set_name, engine.name, scores.format(),
                        result.lines_per_second)
            out[set_name].append(result)
    return out
