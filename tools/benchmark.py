"""Speed and memory benchmarks of the toolkit against its references, side by side in one run.

Usage (from the repository root, with the toolkit installed)::

    python tools/benchmark.py                     # every section, full sizes, writes BENCHMARKS.md
    python tools/benchmark.py --quick             # small sizes: a smoke run (numbers are noisy)
    python tools/benchmark.py --only synth,inference --weights-path model/shadownet

Sections (``--only``, comma separated):

- ``synth``: images/s of one process rendering the same text lines with one Chinese font
  (``fonts/NotoSansSC-Regular.otf``) and saving JPEGs: the ``gen-images`` stage with 1 and 2 worker processes
  (default augmentations, which include rotation and blur; it draws segments of 4..12 chars of the
  bundled corpus) and then, on exactly the lines it drew, ``toolkit.synth.render_line`` alone; a bare
  Pillow ``ImageDraw.text`` + JPEG save of each line (the ceiling); trdg 1.8.0
  (``GeneratorFromStrings`` with ``language="cn"``, that font, random skew up to 2 degrees, random
  blur up to 1, its default gaussian-noise background) in its own virtual environment
  ``.bench/trdg-venv`` (trdg needs Pillow < 10; the tool creates it with pip on first use, or
  ``--no-trdg`` leaves trdg out). All of them write to a RAM-backed folder (``/dev/shm``, or
  ``--synth-dir``), so the row measures the synthesizer, not this VM's disk; one more gen-images run
  writes to the workdir's disk to show what the disk adds. gen-images (1 and 2 workers), the
  busy-loop ceiling and trdg (on a quarter of the lines) run in 3 rounds; each ratio is taken within
  a round and the median over rounds is the result.
- ``tfrecords``: images/s of ``write_tfrecords`` on a freshly generated set.
- ``input``: images/s of the release recipe's train step (small preset, mixed_bfloat16 where the
  hardware runs it natively, else float32; batch 32) fed
  from the TFRecord pipeline train-shadownet uses, against exactly the batches it gave, replayed from
  memory (alternating blocks of 5 steps).
- ``precision``: images/s of that step and of the default ShadowNet's in float32 and mixed_bfloat16 on
  the same batches, and the validation CER of ``train()`` (small preset, a 10-char set) after the same
  steps in both, two seeds each (their spread is the noise). Without native bfloat16 (no
  AVX512-BF16/AMX, no GPU) only float32 is measured and the bfloat16 rows say why.
- ``inference``: lines/s of :class:`toolkit.predict.Recognizer` (batched by width) against PP-OCRv4's
  recognizer through rapidocr-onnxruntime, both through :mod:`toolkit.compare` engines on the same
  decoded images, plus the median single-line latency. Needs ``--weights-path``.
- ``memory``: peak resident set size of ``crnn-toolkit gen-images`` (1 worker), ``train-shadownet``
  (batch 32, a few steps) and ``demo`` each run as a child process (``os.wait4`` rusage of that child).

The table is printed and written to ``BENCHMARKS.md`` (``--output``) with the command, the CPU model and
the core count. Timings are wall-clock seconds of the timed loop only (imports, font loading and model
loading excluded, except for gen-images where the stage's own start-up is part of its cost).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FONT = ROOT / "fonts" / "NotoSansSC-Regular.otf"
CORPUS = ROOT / "corpora" / "songci.txt"
TRDG_VENV = ROOT / ".bench" / "trdg-venv"
TRDG_REQUIREMENTS = ("trdg==1.8.0", "pillow<10")
SECTIONS = ("synth", "tfrecords", "input", "precision", "inference", "memory", "finetune")
DEFAULT_WEIGHTS = ROOT / "model" / "shadownet"  # the bundled release model


@dataclass
class Row:
    """One measured number.

    Attributes:
        section: the section name (:data:`SECTIONS`).
        metric: what was measured, e.g. ``"gen-images, 1 worker"``.
        value: the number (None when not measured, with the reason in ``note``).
        unit: its unit, e.g. ``"images/s"``, ``"MiB"``, ``"ms"``.
        target: the target as text (``"-"`` for information only).
        ratio: the measured ratio the target is about (None if the target is not a ratio).
        passed: whether the target is met (None for information only or not measured).
        note: free text (what was compared, why a value is missing).
    """

    section: str
    metric: str
    value: float | None
    unit: str
    target: str = "-"
    ratio: float | None = None
    passed: bool | None = None
    note: str = ""


def ratio_row(section: str, metric: str, numerator: float | None, denominator: float | None,
              minimum: float, note: str = "") -> Row:
    """A row for the target ``numerator / denominator >= minimum``; unmeasured if either is missing
    or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return Row(section, metric, None, "x", f">= {minimum:g}x", note=note or "not measured")
    r = numerator / denominator
    return Row(section, metric, r, "x", f">= {minimum:g}x", ratio=r, passed=r >= minimum, note=note)


def _fmt_value(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"


def _fmt_pass(p: bool | None) -> str:
    return "-" if p is None else ("PASS" if p else "FAIL")


def format_table(rows: list[Row]) -> str:
    """Format rows as a Markdown table (also readable as plain text): section, metric, value, unit,
    target, pass/fail, note."""
    out = ["| section | metric | value | unit | target | result | note |",
           "| --- | --- | ---: | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r.section} | {r.metric} | {_fmt_value(r.value)} | {r.unit} | {r.target} | "
                   f"{_fmt_pass(r.passed)} | {r.note} |")
    return "\n".join(out)


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    """The checkout's commit (short hash, ``+ uncommitted changes`` when the tree is dirty), or
    ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty else "")


REPORT_TITLE = "# Benchmarks"
REPORT_INTRO = ("Written by `tools/benchmark.py`, one part per run (a run of `--only` some sections "
                "replaces the part of the same sections and keeps the others); every comparison "
                "was run side by side in one run on the same inputs.")


def markdown_report(rows: list[Row], command: str, note: str = "",
                    sections: Sequence[str] = ()) -> str:
    """One run's part of ``BENCHMARKS.md``: a heading naming its sections, command, machine, table."""
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    names = list(sections) or sorted({r.section for r in rows})
    head = [
        f"## {', '.join(names)}",
        "",
        f"- Command: `{command}`",
        f"- CPU: {cpu_model()}, {cores} logical cores ({usable} usable by this process)",
        f"- Python {platform.python_version()}, {platform.platform()}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- Code: {git_commit()}",
    ]
    if note:
        head.append(f"- Note: {note}")
    return "\n".join(head) + "\n\n" + format_table(rows) + "\n"


def merge_report(existing: str | None, part: str) -> str:
    """``BENCHMARKS.md`` with ``part`` (a :func:`markdown_report`) in it.

    Every existing part whose sections (its ``## a, b`` heading) are all among ``part``'s is
    dropped, and ``part`` takes the place of the first of them (appended when none is dropped): a
    full run replaces everything, ``--only finetune`` only the ``finetune`` part. A part that shares
    only some sections with ``part`` is kept as it was. Text before the first ``## `` heading is
    replaced by the title and the intro.
    """
    def sections_of(text: str) -> set[str]:
        return {name.strip() for name in text.split("\n", 1)[0].removeprefix("## ").split(",")}

    new_sections = sections_of(part)
    parts: list[str] = []
    placed = False
    chunks = existing.split("\n## ")[1:] if existing else []
    for chunk in chunks:
        old = "## " + chunk.strip("\n") + "\n"
        if sections_of(old) <= new_sections:
            if not placed:
                parts.append(part)
                placed = True
        else:
            parts.append(old)
    if not placed:
        parts.append(part)
    return REPORT_TITLE + "\n\n" + REPORT_INTRO + "\n\n" + "\n".join(parts)


# ----------------------------------------------------------------------------------------------------
# Inputs


def generated_texts(dataset_dir: Path) -> list[str]:
    """The texts of a gen-images output folder, in image order (``Train/`` and ``Test/`` lists merged),
    so the other contenders render exactly the lines gen-images drew.

    Raises:
        ValueError: if the folder lists no text.
    """
    from toolkit.labels import read_label_file

    entries = []
    for split in ("Train", "Test"):
        path = dataset_dir / split / "sample.txt"
        if path.exists():
            entries += read_label_file(path, dataset_dir, check_exists=False)[0]
    if not entries:
        raise ValueError(f"{dataset_dir}: gen-images listed no text in Train/ or Test/sample.txt")
    return [e.label for e in sorted(entries, key=lambda e: e.name)]


class Workspace:
    """A temporary directory with lazily built shared inputs: a generated dataset, its char dict and
    its TFRecords (each built once, by the first section that needs it)."""

    def __init__(self, root: Path, num_images: int):
        self.root = root
        self.num_images = num_images
        self._dataset: Path | None = None
        self._records: Path | None = None
        self.tfrecords_seconds: float | None = None
        self.tfrecords_count: int | None = None

    def dataset(self) -> Path:
        if self._dataset is None:
            from toolkit.synth import gen_images

            out = self.root / "dataset"
            gen_images([CORPUS], [str(FONT)], out, self.num_images, seed=1, workers=1, progress=False,
                       overwrite=True)  # a --workdir kept from an earlier run is reused
            self._dataset = out
        return self._dataset

    def char_dict(self) -> Path:
        from toolkit.charset import build_char_dict

        out = self.root / "char_dict"
        if not (out / "char_dict.json").exists():
            build_char_dict(self.dataset() / "chinese.txt", out)
        return out

    def records(self) -> Path:
        if self._records is None:
            from toolkit.records import write_tfrecords

            out = self.root / "records"
            dataset, char_dict = self.dataset(), self.char_dict()
            import tensorflow  # noqa: F401  (its import, once per process, is not part of the rate)

            started = time.perf_counter()
            report = write_tfrecords(dataset, char_dict, out, progress=False, overwrite=True)
            self.tfrecords_seconds = time.perf_counter() - started
            self.tfrecords_count = sum(report.counts.values())
            self._records = out
        return self._records


# ----------------------------------------------------------------------------------------------------
# Section 1: synthesis


def bench_toolkit_render(texts: list[str], out_dir: Path) -> float:
    """images/s of ``render_line`` (default SynthConfig) + JPEG file (``encode_jpeg``, as gen-images
    writes it), one process."""
    import numpy as np

    from toolkit.fonts import load_font
    from toolkit.synth import SynthConfig, encode_jpeg, render_line
    from toolkit.synth.render import clear_glyph_cache

    face = load_font(FONT)
    config = SynthConfig()
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_glyph_cache()  # as cold as gen-images' start (the same process may have run it)
    render_line(texts[0], face, np.random.default_rng(0), config)  # warm-up: font cache
    started = time.perf_counter()
    for i, text in enumerate(texts):
        rng = np.random.default_rng([0, i])
        image = render_line(text, face, rng, config)
        (out_dir / f"{i:06d}.jpg").write_bytes(encode_jpeg(image, int(rng.integers(30, 96))))
    return len(texts) / (time.perf_counter() - started)


def bench_pillow(texts: list[str], out_dir: Path, height: int = 32) -> float:
    """images/s of a bare Pillow draw of each whole line + JPEG save: no augmentation (the ceiling)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), height - 4)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for i, text in enumerate(texts):
        width = int(font.getlength(text)) + 4
        image = Image.new("L", (width, height), 255)
        ImageDraw.Draw(image).text((2, height // 2), text, font=font, fill=0, anchor="lm")
        image.save(out_dir / f"{i:06d}.jpg", format="JPEG", quality=90)
    return len(texts) / (time.perf_counter() - started)


def bench_gen_images(num_images: int, workers: int, out_dir: Path) -> float:
    """images/s of the gen-images stage (``toolkit.synth.gen_images``, default config, JPEG), start-up
    (corpus reading, font coverage check, worker pool spawn) included."""
    from toolkit import synth
    from toolkit.synth.render import clear_glyph_cache

    clear_glyph_cache()  # workers=1 renders in this process: start as cold as a new one
    started = time.perf_counter()
    summary = synth.gen_images([CORPUS], [str(FONT)], out_dir, num_images, seed=0, workers=workers,
                         progress=False, overwrite=True)
    return summary.num_written / (time.perf_counter() - started)


TRDG_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from trdg.generators import GeneratorFromStrings
    texts_file, font, out_dir = sys.argv[1:4]
    texts = open(texts_file, encoding="utf-8").read().split("\\n")
    gen = GeneratorFromStrings(texts, count=len(texts), fonts=[font], language="cn", size=32,
                               skewing_angle=2, random_skew=True, blur=1, random_blur=True,
                               background_type=0)
    started = time.perf_counter()
    n = 0
    for image, label in gen:
        image.convert("L").save(f"{out_dir}/{n:06d}.jpg", format="JPEG", quality=90)
        n += 1
    seconds = time.perf_counter() - started
    print(json.dumps({"images": n, "seconds": seconds}))
""")


def ensure_trdg_venv(venv: Path = TRDG_VENV) -> Path:
    """Create ``venv`` with trdg 1.8.0 and Pillow < 10 if it does not hold trdg yet; return its python.

    Raises:
        RuntimeError: if venv creation or pip fails (with pip's last output lines).
    """
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import trdg.generators"]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", *TRDG_REQUIREMENTS],
                         check=False, capture_output=True, text=True)
    if pip.returncode != 0 or subprocess.run(probe, check=False, capture_output=True).returncode != 0:
        tail = "\n".join((pip.stdout + pip.stderr).splitlines()[-10:])
        raise RuntimeError(f"could not install {' '.join(TRDG_REQUIREMENTS)} into {venv}:\n{tail}")
    return python


def bench_trdg(texts: list[str], out_dir: Path) -> float:
    """images/s of trdg 1.8.0 generating ``texts`` (see the module docstring for its settings)."""
    python = ensure_trdg_venv()
    out_dir.mkdir(parents=True, exist_ok=True)
    texts_file = out_dir.parent / "trdg_texts.txt"
    texts_file.write_text("\n".join(texts), encoding="utf-8")
    run = subprocess.run([str(python), "-c", TRDG_SCRIPT, str(texts_file), str(FONT), str(out_dir)],
                         check=False, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"trdg failed ({run.returncode}): {run.stderr[-2000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return result["images"] / result["seconds"]


def _spin(n: int) -> int:
    """Pure-Python busy loop (no I/O, no memory traffic): the CPU-bound unit of :func:`cpu_scaling`."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def cpu_scaling(n: int = 3_000_000) -> float:
    """The machine's own ceiling for 2-process scaling: the throughput of 2 processes each running the
    same busy loop at once, relative to 1 process (2.0 on 2 free physical cores; less when the
    cores are SMT siblings, throttled, or shared with other load)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # start both workers first
        started = time.perf_counter()
        pool.apply(_spin, (n,))
        one = time.perf_counter() - started
        started = time.perf_counter()
        pool.map(_spin, [n, n], chunksize=1)
        two = time.perf_counter() - started
    return 2 * one / two


def synth_output_root(args) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    """Where the synth section's contenders write their images: ``--synth-dir``, else a temporary
    folder in ``/dev/shm`` (RAM-backed) when there is one, else None (the caller uses the workdir).

    Why RAM: creating a new file on this project's VM disk cost 30-700 us, varying run to run
    (create + write of 3,000 JPEGs of ~3 KB: 55-65 us per image on tmpfs, 115-730 us on the ext4
    disk), which is as much as rendering a line. Every contender writes to the same folder kind; the
    ``on disk`` row shows what the disk adds."""
    if args.synth_dir is not None:
        args.synth_dir.mkdir(parents=True, exist_ok=True)
        return args.synth_dir, None
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        ctx = tempfile.TemporaryDirectory(prefix="crnn-bench-synth-", dir=shm)
        return Path(ctx.name), ctx
    return None, None


def median_ratio_row(section: str, metric: str, ratios: list[float], minimum: float,
                     note: str = "") -> Row:
    """A target row ``median(ratios) >= minimum`` for ratios measured once per round; the note lists
    them. Unmeasured if ``ratios`` is empty."""
    if not ratios:
        return Row(section, metric, None, "x", f">= {minimum:g}x", note=note or "not measured")
    m = statistics.median(ratios)
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    return Row(section, metric, m, "x", f">= {minimum:g}x", ratio=m, passed=m >= minimum,
               note=f"median of {len(ratios)} rounds ({rounds})" + (f"; {note}" if note else ""))


def section_synth(ws: Workspace, args) -> list[Row]:
    """Rounds (3; 1 with ``--quick``) of gen-images 1 worker, 2 workers, the busy-loop ceiling and
    trdg on a quarter of the lines, back to back; every ratio is taken within a round and the
    median over rounds is reported, so a burst of load from elsewhere on a shared machine moves
    one round, not the result. render_line and bare Pillow run once, after the first round."""
    n = args.synth_images
    rounds = 1 if args.quick else 3
    ram, ctx = synth_output_root(args)
    tmp = ram or ws.root / "synth"
    where = ("written to RAM (/dev/shm)" if ctx else f"written to {ram}" if ram
             else "written to the workdir")
    trdg_lines = max(1, n // 4) if rounds > 1 else n  # trdg is ~10x slower: a quarter per round
    gen1s, gen2s, ceilings, trdgs = [], [], [], []
    trdg_note = "trdg left out (--no-trdg)" if args.no_trdg else ""
    texts: list[str] = []
    render = pillow = gen1_disk = None
    try:
        for r in range(rounds):
            gen1s.append(bench_gen_images(n, 1, tmp / "gen1"))
            if not texts:
                texts = generated_texts(tmp / "gen1")  # every other contender renders these lines
            shutil.rmtree(tmp / "gen1", ignore_errors=True)
            gen2s.append(bench_gen_images(2 * n, 2, tmp / "gen2"))
            shutil.rmtree(tmp / "gen2", ignore_errors=True)
            ceilings.append(cpu_scaling())
            if not trdg_note:
                try:
                    trdgs.append(bench_trdg(texts[:trdg_lines], tmp / "trdg"))
                except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
                    trdg_note = f"trdg failed: {str(e).splitlines()[0][:120]}"
                shutil.rmtree(tmp / "trdg", ignore_errors=True)
            if r == 0:
                render = bench_toolkit_render(texts, tmp / "toolkit")
                pillow = bench_pillow(texts, tmp / "pillow")
                shutil.rmtree(tmp / "toolkit", ignore_errors=True)
                shutil.rmtree(tmp / "pillow", ignore_errors=True)
        gen1_disk = bench_gen_images(n, 1, ws.root / "synth_disk") if ram else None
    finally:
        if ctx:
            ctx.cleanup()
    gen1, gen2 = statistics.median(gen1s), statistics.median(gen2s)
    trdg = statistics.median(trdgs) if trdgs else None
    per_trdg = [g / t for g, t in zip(gen1s, trdgs)]
    scaling = [b / a for a, b in zip(gen1s, gen2s)]
    spread = f"median of {rounds} round(s)"
    return [
        Row("synth", "toolkit render_line + JPEG, 1 process", render, "images/s",
            note=f"{n} lines, {where}; glyph cache starts empty"),
        Row("synth", "gen-images, 1 worker", gen1, "images/s",
            note=f"{n} images, {where}, start-up included; {spread}"),
        Row("synth", "gen-images, 2 workers", gen2, "images/s",
            note=f"{2 * n} images, {where}; {spread}"),
        Row("synth", "gen-images, 1 worker, on disk", gen1_disk, "images/s",
            note=f"{n} images written to the workdir: what this machine's disk adds"
            if ram else "not run: no RAM-backed folder (everything above is on disk)"),
        Row("synth", "bare Pillow draw + JPEG (ceiling)", pillow, "images/s", note=where),
        Row("synth", "trdg 1.8.0", trdg, "images/s",
            note=trdg_note or f"the first {trdg_lines} of the same lines, same font, skew, blur, "
                              f"{where}; {spread}"),
        median_ratio_row("synth", "gen-images 1 worker / trdg", per_trdg, 10, trdg_note),
        ratio_row("synth", "render_line / trdg", render, trdg, 10, trdg_note),
        ratio_row("synth", "gen-images 1 worker / bare Pillow", gen1, pillow, 0.25),
        median_ratio_row("synth", "gen-images 2 workers / 1 worker", scaling, 1.8,
                         f"{len(os.sched_getaffinity(0))} usable cores"),
        Row("synth", "machine ceiling: 2 busy-loop processes / 1", statistics.median(ceilings), "x",
            note="pure-Python loop, no I/O: the most 2 processes can get here; rounds: "
                 + ", ".join(f"{c:.2f}" for c in ceilings)),
    ]


# ----------------------------------------------------------------------------------------------------
# Section 2: TFRecord writing


def section_tfrecords(ws: Workspace, args) -> list[Row]:
    ws.records()
    rate = ws.tfrecords_count / ws.tfrecords_seconds
    return [
        Row("tfrecords", "write-tfrecords, 1 process", rate, "images/s",
            note=f"{ws.tfrecords_count} images, TF import excluded"),
        Row("tfrecords", "write-tfrecords >= 1000 images/s", rate / 1000, "x", ">= 1x", rate / 1000,
            rate >= 1000),
    ]


# ----------------------------------------------------------------------------------------------------
# Sections 3 and 4: training input and mixed precision


def _train_batches(record_dir: Path, count: int, seed: int = 0):
    """A fresh training input pipeline (``records.make_dataset``, as train-shadownet builds it): its
    first ``count`` batches, reduced to the train step's keys."""
    from toolkit import records
    from toolkit.train import TRAIN_KEYS

    return records.make_dataset(record_dir, "train", 32, training=True, seed=seed,
                                keys=TRAIN_KEYS).take(count)


def _make_step(precision: str, preset: str, num_classes: int, blank_index: int, element_spec):
    """A compiled train step of a new model (``preset``) under a Keras precision policy, built as
    train-shadownet builds it. Returns ``(step, restore)``: call ``restore()`` to reset the policy."""
    import keras
    import tensorflow as tf

    from toolkit.model import ModelConfig, build_shadownet
    from toolkit.train import make_optimizer, make_schedule, make_train_step

    old = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    model = build_shadownet(ModelConfig.from_preset(preset, num_classes))
    optimizer = make_optimizer(make_schedule(1e-3, 10, 1000, 0.05), 5.0, precision)
    optimizer.build(model.trainable_variables)
    step = make_train_step(tf.distribute.get_strategy(), model, optimizer, blank_index, 32,
                           element_spec=element_spec)
    return step, lambda: keras.mixed_precision.set_global_policy(old)


def _warm_widths(step, record_dir: Path, count: int) -> int:
    """One train step on a batch of every batch width found in ``count`` batches of a differently
    seeded pipeline. The first step on a new input width builds that width's kernels (oneDNN
    primitives) and is slower; in training every width recurs thousands of times, so the benchmark
    measures the warm state. Returns the number of widths warmed."""
    seen = set()
    for batch in _train_batches(record_dir, count, seed=1):
        width = int(batch["images"].shape[2])
        if width not in seen:
            seen.add(width)
            step(batch)
    return len(seen)


def _timed(step, batches) -> float:
    """Seconds to run ``step`` on each of ``batches``, the last loss read back (all steps done)."""
    started = time.perf_counter()
    loss = None
    for batch in batches:
        loss = step(batch)
    float(loss)
    return time.perf_counter() - started


def section_input(ws: Workspace, args) -> list[Row]:
    """The same compiled train step (the release recipe: small preset, mixed_bfloat16, batch 32) fed
    (a) from the TFRecord input pipeline train-shadownet uses and (b) from exactly the batches that
    pipeline gave, kept as decoded, padded tensors and replayed from memory: the same widths, so the
    same compute. The two alternate in blocks of 5 steps (5 from the records, the same 5 from
    memory, then the same 5 from memory once more), so load from elsewhere on the machine falls on
    every side alike. The second memory pass is the control: memory / memory shows what the method
    itself measures when the inputs are the same (it should be 1.00).

    Every batch width is warmed first (:func:`_warm_widths`): without that, the records side is
    always the first to meet a new width and pays for building its kernels, which made the ratio
    ~0.95 even for memory against memory."""
    from toolkit.charset import Charset

    record_dir = ws.records()
    charset = Charset.load(ws.char_dict())
    timed, block = (3 if args.quick else 6) * args.train_steps, 5
    batches = _train_batches(record_dir, timed + block)
    step, restore = _make_step(args.input_precision, "small", charset.num_classes, charset.blank_index,
                               batches.element_spec)
    records_s = memory_s = control_s = 0.0
    steps = 0
    ratios, controls = [], []
    try:
        widths = _warm_widths(step, record_dir, 30 if args.quick else 300)
        it = iter(batches)
        for _ in range(block):  # the pipeline's start-up (shuffle buffer, thread pool), untimed
            step(next(it))
        while steps < timed:
            kept = []
            started = time.perf_counter()
            loss = None
            for batch in it:
                loss = step(batch)
                kept.append(batch)
                if len(kept) == block:
                    break
            if not kept:
                break
            float(loss)
            from_records = time.perf_counter() - started
            from_memory = _timed(step, kept)
            again = _timed(step, kept)
            records_s, memory_s, control_s = (records_s + from_records, memory_s + from_memory,
                                              control_s + again)
            ratios.append(from_memory / from_records)
            controls.append(again / from_memory)
            steps += len(kept)
    finally:
        restore()
    memory, recs = 32 * steps / memory_s, 32 * steps / records_s
    what = (f"small preset, {args.input_precision}, batch 32, {steps} steps each, alternating blocks "
            f"of {block}, {widths} batch widths warmed first")
    median = statistics.median(ratios)
    return [
        Row("input", "train step fed from memory", memory, "images/s", note=what),
        Row("input", "train step fed from TFRecords (tf.data)", recs, "images/s", note=what),
        Row("input", "control: memory / memory, median block", statistics.median(controls), "x",
            note=f"the same batches replayed twice; range {min(controls):.2f}-{max(controls):.2f}"),
        Row("input", "TFRecord-fed / in-memory, all steps", recs / memory, "x", note="total time ratio"),
        Row("input", "TFRecord-fed / in-memory, median block", median, "x", ">= 0.95x", median,
            median >= 0.95, note=f"median of {len(ratios)} blocks (robust to bursts of other load); "
                                 f"range {min(ratios):.2f}-{max(ratios):.2f}"),
    ]


def _quality_records(ws: Workspace, args) -> tuple[Path, Path]:
    """A small-charset record set (the 10 most frequent corpus chars, 2..5 chars per line) on which the
    small model leaves the CTC plateau within a few hundred steps, so validation CER after training
    says something (with 30 chars and 4..8 per line, CER was still 0.88 after 400 steps)."""
    from toolkit.charset import build_char_dict
    from toolkit.records import write_tfrecords
    from toolkit.synth import SynthConfig, gen_images

    root = ws.root / "precision"
    data, char_dict, rec = root / "data", root / "char_dict", root / "records"
    if not (rec / "metadata.json").exists():
        config = SynthConfig(top_chars=10, min_chars=2, max_chars=5, test_fraction=0.0)
        gen_images([CORPUS], [str(FONT)], data, args.quality_images, seed=2, config=config,
                   progress=False, overwrite=True)
        build_char_dict(data / "chinese.txt", char_dict)
        write_tfrecords(data, char_dict, rec, progress=False, overwrite=True)
    return rec, char_dict


def _bf16_native() -> bool:
    """Whether mixed_bfloat16 runs natively here: what train-shadownet's ``--precision auto``
    picks (:func:`toolkit.train.resolve_precision`: a GPU of compute capability 8.0 or newer, or a
    CPU with AVX512-BF16 or AMX)."""
    from toolkit.train import resolve_precision

    return resolve_precision("auto") == "mixed_bfloat16"


NO_BF16 = ("not timed: no native bfloat16 here (no AVX512-BF16/AMX, no GPU of compute capability "
           "8.0+); emulated it is far slower")


def section_precision(ws: Workspace, args) -> list[Row]:
    """float32 against mixed_bfloat16: (a) images/s of the train step of the release model (small
    preset) and of the default ShadowNet, batch 32, on the same in-memory batches, both compiled and
    warmed on every batch width first, then timed in interleaved rounds (5; 1 with ``--quick``):
    the ratio is the median of the rounds' ratios; (b) validation CER of train-shadownet (small
    preset, a 10-char set, ``--quick``: tiny) after the same number of steps, for two seeds each (the
    spread between seeds is the noise the difference is compared with)."""
    from toolkit.charset import Charset
    from toolkit.train import TrainConfig, train

    record_dir = ws.records()
    charset = Charset.load(ws.char_dict())
    precisions = ("float32", "mixed_bfloat16") if args.bf16_native else ("float32",)
    rows = []
    # The release recipe's model, and the default (full) ShadowNet with half the steps (its step is
    # about 3x slower).
    for preset, timed in (("small", args.train_steps), ("shadownet", max(2, args.train_steps // 2))):
        ds = _train_batches(record_dir, timed)
        batches = list(ds)
        steps = {}
        for precision in precisions:
            step, restore = _make_step(precision, preset, charset.num_classes, charset.blank_index,
                                       ds.element_spec)
            restore()  # the model keeps its policy; the global one must not leak into the next
            steps[precision] = step
            for batch in batches:  # trace, and build every batch width's kernels once
                step(batch)
        # Interleaved rounds: each round times float32 then mixed_bfloat16 on the same batches and
        # gives one ratio, so a burst of load from elsewhere moves one round, not the result.
        rates: dict[str, list[float]] = {p: [] for p in steps}
        for _ in range(args.precision_rounds):
            for precision, step in steps.items():
                rates[precision].append(32 * timed / _timed(step, batches))
        rows += [Row("precision", f"train step, {preset}, {p}", statistics.median(r), "images/s",
                     note=f"batch 32, {timed} steps, median of {len(r)} interleaved rounds")
                 for p, r in rates.items()]
        if not args.bf16_native:
            rows += [Row("precision", f"train step, {preset}, mixed_bfloat16", None, "images/s",
                         note=NO_BF16),
                     Row("precision", f"{preset}: mixed_bfloat16 / float32 images/s", None, "x",
                         ">= 1.4x", note=NO_BF16)]
            continue
        rows.append(median_ratio_row("precision", f"{preset}: mixed_bfloat16 / float32 images/s",
                                     [b / f for f, b in zip(rates["float32"], rates["mixed_bfloat16"])],
                                     1.4))

    rec, char_dict = _quality_records(ws, args)
    cers: dict[str, list[float]] = {p: [] for p in precisions}
    losses: dict[str, list[float]] = {p: [] for p in precisions}
    for precision in precisions:
        for seed in (0, 1):
            config = TrainConfig(steps=args.quality_steps, warmup_steps=20, checkpoint_every=10**6,
                                 eval_every=10**6, eval_batches=0, precision=precision, seed=seed,
                                 learning_rate=2e-3)
            model_dir = ws.root / "precision" / f"model-{precision}-{seed}"
            shutil.rmtree(model_dir, ignore_errors=True)  # train() would resume a kept --workdir's run
            result = train(rec, char_dict, model_dir, config=config, model_preset=args.quality_preset,
                           progress=False)
            cers[precision].append(result.validation["cer"])
            losses[precision].append(result.loss)
    for precision, values in cers.items():
        rows.append(Row("precision", f"validation CER after {args.quality_steps} steps, {precision}",
                        sum(values) / len(values), "CER",
                        note=f"{args.quality_preset} preset, 10-char set, seeds 0/1: "
                             + " / ".join(f"{v:.3f}" for v in values)
                             + "; final loss " + " / ".join(f"{v:.2f}" for v in losses[precision])))
    if not args.bf16_native:
        return rows + [
            Row("precision", f"validation CER after {args.quality_steps} steps, mixed_bfloat16", None,
                "CER", note=NO_BF16),
            Row("precision", "CER bfloat16 - float32 (mean of seeds)", None, "CER",
                target="<= seed spread", note=NO_BF16)]
    f32, bf16 = cers["float32"], cers["mixed_bfloat16"]
    noise = max(max(f32) - min(f32), max(bf16) - min(bf16), 0.01)
    diff = sum(bf16) / len(bf16) - sum(f32) / len(f32)
    rows.append(Row("precision", "CER bfloat16 - float32 (mean of seeds)", diff, "CER",
                    target="<= seed spread", passed=diff <= noise,
                    note=f"seed spread (noise) {noise:.3f}"))
    return rows


# ----------------------------------------------------------------------------------------------------
# Section 5: inference


def _need_weights(args) -> Path:
    path = Path(args.weights_path)
    if not path.exists():
        raise SystemExit(f"benchmark: --weights-path {path} does not exist; pass a model directory or "
                         f"checkpoint (e.g. one written by `crnn-toolkit quickstart`)")
    return path


def section_inference(ws: Workspace, args) -> list[Row]:
    from toolkit.compare import (
        EngineUnavailable,
        load_labelled_set,
        make_engine,
        run_engine,
    )

    weights = _need_weights(args)
    _, images, labels = load_labelled_set(ws.dataset() / "Train" / "sample.txt", ws.dataset())
    images, labels = images[: args.inference_lines], labels[: args.inference_lines]
    results = {}
    notes = {}
    for name in ("toolkit", "ppocr"):
        try:
            engine = make_engine(name, weights if name == "toolkit" else None)
        except EngineUnavailable as e:
            notes[name] = str(e)
            continue
        results[name] = run_engine(engine, images, labels, latency_lines=args.latency_lines)
    rows = []
    for name, label in (("toolkit", "toolkit Recognizer, batched"), ("ppocr", "PP-OCRv4 rec (rapidocr 1.4.4)")):
        r = results.get(name)
        rows.append(Row("inference", f"{label}", r.lines_per_second if r else None, "lines/s",
                        note=(f"{len(images)} lines, CER {r.scores.cer:.3f}" if r else notes.get(name, ""))))
        rows.append(Row("inference", f"{label}, single-line latency", r.latency_ms if r else None, "ms",
                        note=f"median of {args.latency_lines}" if r else ""))
    t, p = results.get("toolkit"), results.get("ppocr")
    rows.append(ratio_row("inference", "toolkit / PP-OCRv4 lines/s", t and t.lines_per_second,
                          p and p.lines_per_second, 1.0, "same images, same cores"))
    return rows


# ----------------------------------------------------------------------------------------------------
# Section 6: memory


RSS_LAUNCHER = textwrap.dedent("""
    import json, os, sys
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execvp(sys.argv[1], sys.argv[1:])
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}))
""")


def peak_rss_mib(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """Run ``cmd`` as a child process; return (its peak RSS in MiB, its exit status).

    The peak is the command's own ``ru_maxrss`` (the largest of the process and its waited-for
    descendants, e.g. gen-images worker processes), read with ``os.wait4`` by a small launcher
    process. Linux carries a process's peak RSS across ``fork`` and ``exec``, so a command forked
    straight from this (large) process would report at least this process's size; forked from the
    small launcher it starts from the launcher's few MiB.

    Raises:
        RuntimeError: if the command exits with a non-zero status (with its last stderr lines).
    """
    run = subprocess.run([sys.executable, "-c", RSS_LAUNCHER, *cmd], check=False, capture_output=True,
                         text=True, env=env)  # the return code is checked below, with the output
    try:
        result = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"{shlex.join(cmd)}: launcher failed ({run.returncode}): {run.stderr[-1500:]}") from None
    if result["status"] != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({result['status']}): {run.stderr[-1500:]}")
    kib = result["maxrss_kib"] if sys.platform != "darwin" else result["maxrss_kib"] / 1024
    return kib / 1024, result["status"]


def _cli() -> list[str]:
    exe = shutil.which("crnn-toolkit", path=str(Path(sys.executable).parent)) or shutil.which("crnn-toolkit")
    return [exe] if exe else [sys.executable, "-m", "toolkit"]


def section_memory(ws: Workspace, args) -> list[Row]:
    cli = _cli()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    rows = []
    shutil.rmtree(ws.root / "mem_train", ignore_errors=True)  # else a kept --workdir's run resumes
    jobs = [
        ("gen-images, 1 worker", "images", cli + [
            "gen-images", "--corpus", str(CORPUS), "--font", str(FONT), "--output-dir",
            str(ws.root / "mem_gen"), "--num-images", str(args.synth_images), "--workers", "1", "--overwrite"]),
        ("train-shadownet, batch 32", "steps", cli + [
            "train-shadownet", "--dataset-dir", str(ws.records()), "--char-dict-dir", str(ws.char_dict()),
            "--model-dir", str(ws.root / "mem_train"), "--steps", str(args.train_steps), "--batch-size", "32",
            "--eval-every", "1000000", "--checkpoint-every", "1000000"]),
    ]
    if Path(args.weights_path).exists():
        demo_images = str(ws.dataset() / "images" / "0000")
        jobs.append(("demo (one folder of generated lines)", "images",
                     cli + ["demo", "--image-path", demo_images, "--weights-path", str(args.weights_path)]))
    else:
        rows.append(Row("memory", "demo peak RSS", None, "MiB", note=f"no model at {args.weights_path}"))
    for name, _, cmd in jobs:
        try:
            mib, _ = peak_rss_mib(cmd, env)
            rows.append(Row("memory", f"{name} peak RSS", mib, "MiB"))
        except RuntimeError as e:
            rows.append(Row("memory", f"{name} peak RSS", None, "MiB", note=str(e).splitlines()[0][:150]))
    rows.append(Row("memory", "benchmark process itself, peak RSS",
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB", note="for reference"))
    return rows


# ----------------------------------------------------------------------------------------------------
# Section 7: fine-tuning


FINETUNE_FONT = str(ROOT / "fonts" / "heldout" / "ARPLUKaiCN-Book.woff2")
"""AR PL UKai CN, a Kai face of the font library's held-out set (``fonts/heldout/``, never trained
on; the bundled model was trained on the four Noto faces only). The learning-rate measurement in
docs/fine-tuning.md used the same face from Debian's ``fonts-arphic-ukai`` (``ukai.ttc:0``)."""


def mixed_corpus(source: Path, out: Path, lines: int, seed: int = 0) -> Path:
    """Write a user-like corpus: the first ``lines`` lines of ``source`` (plain lines or
    ``phrase<TAB>freq``), each with one or two tokens of digits and Latin letters put in at random
    places, as in catalogues and receipts (a year or price: ``2024``; a model number: ``XR37``; a
    word: ``Tea``).

    Returns:
        ``out``, one line per source line (UTF-8).

    Raises:
        ValueError: if ``source`` holds no text.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    upper, lower, digits = string.ascii_uppercase, string.ascii_lowercase, string.digits

    def pick(alphabet: str, low: int, high: int) -> str:
        return "".join(rng.choice(list(alphabet), int(rng.integers(low, high + 1))))

    def token() -> str:
        kind = int(rng.integers(4))
        if kind == 0:
            return pick(digits, 1, 4)
        if kind == 1:
            return pick(upper, 1, 3) + pick(digits, 1, 3)
        if kind == 2:
            return pick(upper, 1, 1) + pick(lower, 2, 6)
        return pick(lower, 2, 5)

    texts = []
    for line in source.read_text(encoding="utf-8").splitlines():
        text = line.split("\t", 1)[0].strip()
        if not text:
            continue
        for _ in range(int(rng.integers(1, 3))):
            at = int(rng.integers(0, len(text) + 1))
            text = text[:at] + token() + text[at:]
        texts.append(text)
        if len(texts) == lines:
            break
    if not texts:
        raise ValueError(f"{source}: no text")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return out


def grown_charset(source, texts_file: Path):
    """The fine-tuning charset: the source model's chars in their order, then every other char of
    ``texts_file`` (e.g. digits and Latin letters) in code point order; the space stays a class."""
    from toolkit.charset import SPACE, Charset

    text = texts_file.read_text(encoding="utf-8")
    new = sorted({c for c in text if c not in source and c not in ("\n", "\r", SPACE)})
    return Charset.from_chars([c for c in source.chars if c != SPACE] + new)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process and its waited-for children, from
    ``/proc/<pid>/stat`` (Linux); None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name; fields[0] is field 3
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # fields 14-17


def run_with_budget(cmd: list[str], budget_s: float, clock: str, log: Path,
                    env: dict | None = None, poll_s: float = 0.5) -> float:
    """Run ``cmd`` until it exits or has used ``budget_s`` seconds, then send it SIGTERM
    (train-shadownet saves a checkpoint at its current step and stops) and wait for it.

    Args:
        clock: ``wall`` (elapsed seconds) or ``cpu`` (the process's user + system CPU seconds,
            all its threads: a fair measure on a machine shared with other load).
        log: file the command's output is appended to.

    Returns:
        The seconds the command used by that clock, until it exited (the checkpoint save after
        the signal included).

    Raises:
        ValueError: on an unknown clock.
    """
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    started = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        signalled = None
        while True:
            pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            used = (time.perf_counter() - started if clock == "wall"
                    else process_cpu_seconds(proc.pid) or 0.0)
            if signalled is None and used >= budget_s:
                proc.send_signal(signal.SIGTERM)
                signalled = time.perf_counter()
            elif signalled is not None and time.perf_counter() - signalled > 300:
                proc.kill()  # a checkpoint save never takes that long: it hangs
            time.sleep(poll_s)
    proc.returncode = 0  # reaped by os.wait4 above; keeps Popen from waiting on it again
    if clock == "wall":
        return time.perf_counter() - started
    return usage.ru_utime + usage.ru_stime


def parse_minutes(text: str) -> list[float]:
    """``"5,15,30"`` -> ``[5.0, 15.0, 30.0]`` (sorted; minutes, each > 0).

    Raises:
        argparse.ArgumentTypeError: on a value that is not a positive number.
    """
    try:
        values = sorted(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = []
    if not values or values[0] <= 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive minutes, got {text!r}")
    return values


def _finetune_data(ws: Workspace, args):
    """Records of the fine-tuning case (built once per workdir): the mixed corpus drawn in the
    new font, the grown charset, Train / Test split by text."""
    from toolkit.charset import Charset
    from toolkit.checkpoints import resolve_init_from
    from toolkit.records import write_tfrecords
    from toolkit.synth import SynthConfig, gen_images

    root = ws.root / "finetune"
    spec, _ = resolve_init_from(args.finetune_from)
    corpus = mixed_corpus(Path(args.finetune_corpus), root / "corpus.txt", args.finetune_lines)
    charset = grown_charset(spec.charset, corpus)
    char_dict, data, rec = root / "char_dict", root / "data", root / "records"
    if not (rec / "metadata.json").exists() or Charset.load(char_dict) != charset:
        font = args.finetune_font
        if not Path(font.rsplit(":", 1)[0] if font.rsplit(":", 1)[-1].isdigit() else font).exists():
            raise FileNotFoundError(f"font {font} not found: apt-get install fonts-arphic-ukai, or "
                                    f"pass --finetune-font FILE[:INDEX]")
        gen_images([corpus], [font], data, args.finetune_images, seed=5, workers=1,
                   progress=False, overwrite=True, skip_bad=True,
                   config=SynthConfig(test_fraction=0.1))
        charset.save(char_dict)
        write_tfrecords(data, char_dict, rec, validation_fraction=0.0, progress=False,
                        overwrite=True)
    return spec, charset, char_dict, rec


def _score_transferred(spec_source, charset, rec):
    """Scores of the source's weights mapped to ``charset``, before any training step."""
    from toolkit import records
    from toolkit.backends import KerasBackend
    from toolkit.checkpoints import FineTuneSource
    from toolkit.evaluate import score_batches
    from toolkit.model import build_shadownet

    source = FineTuneSource.open(spec_source, charset)
    model = build_shadownet(source.model_config)
    source.apply(model, charset)
    ds = records.make_dataset(rec, "test", 32, training=False)
    return score_batches(KerasBackend(model, charset).predict_batch, ds, charset), source


def section_finetune(ws: Workspace, args) -> list[Row]:
    """Fine-tuning from a trained model (default: the bundled one) against training from
    scratch, on the same records (a new font, a charset grown by digits and Latin letters), same
    batch (32), same preset (the source's) and precision, scored on the held-out Test texts after
    equal budgets of ``--finetune-clock`` time. Each run is one train-shadownet process per budget
    step, stopped by SIGTERM when its total reaches the budget and resumed for the next (each
    start-up counts against its budget, the same for both). Both hold their peak learning rate
    after the warm-up (a schedule far longer than the budgets), so every budget sees the same
    recipe stopped at another time."""
    from toolkit.checkpoints import FINETUNE_LEARNING_RATE, FINETUNE_WARMUP_STEPS, latest_checkpoint, preset_of
    from toolkit.evaluate import test_shadownet
    from toolkit.train import TrainConfig, cpu_supports_bfloat16

    spec, charset, char_dict, rec = _finetune_data(ws, args)
    precision = args.finetune_precision or ("mixed_bfloat16" if cpu_supports_bfloat16()
                                            else "float32")
    scores0, source = _score_transferred(args.finetune_from, charset, rec)
    preset = preset_of(source.model_config)
    if preset is None:
        raise ValueError(f"the source {source.prefix} is of no preset size: a scratch run cannot be "
                         f"given the same size")
    unit = "CPU min" if args.finetune_clock == "cpu" else "min"
    rows = [Row("finetune", "source weights mapped to the new charset, no step", scores0.cer, "CER",
                note=f"line accuracy {scores0.line_accuracy:.3f}; {source.mapping.format(6)}; "
                     f"{scores0.count} held-out lines, font {Path(args.finetune_font).name}")]
    common = ["train-shadownet", "--dataset-dir", str(rec), "--char-dict-dir", str(char_dict),
              "--steps", str(10**9), "--batch-size", "32", "--precision", precision,
              "--checkpoint-every", str(10**9), "--eval-every", str(10**9)]
    runs = {
        "fine-tune": (args.finetune_budgets, ["--init-from", str(args.finetune_from),
                                              "--learning-rate", str(FINETUNE_LEARNING_RATE),
                                              "--warmup-steps", str(FINETUNE_WARMUP_STEPS)]),
        "scratch": (args.scratch_budgets, ["--model-size", preset,
                                           "--learning-rate", str(TrainConfig.learning_rate),
                                           "--warmup-steps", str(TrainConfig.warmup_steps)]),
    }
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cers: dict[str, dict[float, float]] = {}
    for name, (budgets, options) in runs.items():
        model_dir = ws.root / "finetune" / f"model-{name}"
        shutil.rmtree(model_dir, ignore_errors=True)  # else a kept --workdir's run resumes
        cmd = _cli() + common + ["--model-dir", str(model_dir)] + options
        used = 0.0
        cers[name] = {}
        for budget in budgets:
            if budget * 60 > used:  # else the last segment overran this budget already
                used += run_with_budget(cmd, budget * 60 - used, args.finetune_clock,
                                        ws.root / "finetune" / f"{name}.log", env)
            prefix = latest_checkpoint(model_dir)
            if prefix is None:
                rows.append(Row("finetune", f"{name}, {budget:g} {unit}", None, "CER",
                                note=f"no checkpoint: no step within the budget (see {name}.log)"))
                continue
            scores = test_shadownet(rec, prefix, progress=False)
            cers[name][budget] = scores.cer
            rows.append(Row("finetune", f"{name}, {budget:g} {unit}", scores.cer, "CER",
                            note=f"line accuracy {scores.line_accuracy:.3f}; step "
                                 f"{prefix.rsplit('-', 1)[1]}; {used / 60:.1f} {unit} used"))
    ft, sc = cers["fine-tune"], cers["scratch"]
    at = [b for b in ft if b <= 15] or sorted(ft)[:1]
    if at and sc:
        b, last = at[-1], max(sc)
        rows.append(Row("finetune", f"fine-tune at {b:g} {unit} vs scratch at {last:g} {unit}",
                        ft[b], "CER", target=f"< {sc[last]:.3f}", passed=ft[b] < sc[last],
                        note="issue 18's target: within 15 min a CER scratch does not reach in 60"))
    return rows


SECTION_FUNCS = {
    "synth": section_synth,
    "tfrecords": section_tfrecords,
    "input": section_input,
    "precision": section_precision,
    "inference": section_inference,
    "memory": section_memory,
    "finetune": section_finetune,
}


def parse_sections(text: str) -> list[str]:
    """Parse ``--only``: comma-separated names from :data:`SECTIONS`, kept in :data:`SECTIONS` order.

    Raises:
        argparse.ArgumentTypeError: naming an unknown section.
    """
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or repr(text)}; choose from {','.join(SECTIONS)}")
    return [s for s in SECTIONS if s in names]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", type=parse_sections, default=list(SECTIONS),
                   help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run (noisy numbers)")
    p.add_argument("--weights-path", default=str(DEFAULT_WEIGHTS),
                   help=f"model for the inference and memory sections (default: {DEFAULT_WEIGHTS})")
    p.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md",
                   help="Markdown report to write (default: BENCHMARKS.md at the repository root)")
    p.add_argument("--no-output", action="store_true", help="print the table only, write no report")
    p.add_argument("--no-trdg", action="store_true", help="leave trdg out of the synth section")
    p.add_argument("--note", default="", help="a line added to the report (e.g. 'machine under load')")
    p.add_argument("--synth-dir", type=Path, default=None,
                   help="where the synth section writes images (default: a temporary folder in the "
                        "RAM-backed /dev/shm when there is one, else the workdir)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where generated inputs go (default: a temporary directory, removed at the end)")
    ft = p.add_argument_group("finetune section")
    ft.add_argument("--finetune-from", default="bundled",
                    help="model to fine-tune (default: bundled, the model in model/shadownet)")
    ft.add_argument("--finetune-font", default=FINETUNE_FONT,
                    help=f"FILE[:INDEX] of the new font (default: {FINETUNE_FONT})")
    ft.add_argument("--finetune-corpus", type=Path, default=CORPUS,
                    help="text whose lines get digits and Latin letters mixed in (default: the "
                         "bundled Song ci corpus)")
    ft.add_argument("--finetune-lines", type=int, default=None,
                    help="corpus lines used (default: 20000; --quick 500)")
    ft.add_argument("--finetune-images", type=int, default=None,
                    help="images rendered, 10%% of the texts held out (default: 30000; --quick 400)")
    ft.add_argument("--finetune-budgets", type=parse_minutes, default=None,
                    help="minutes of training after which the fine-tune is scored (default: "
                         "5,15,30; --quick 1,2)")
    ft.add_argument("--scratch-budgets", type=parse_minutes, default=None,
                    help="the same for the run from scratch (default: 5,15,30,60; --quick 1,2)")
    ft.add_argument("--finetune-clock", choices=("wall", "cpu"), default="wall",
                    help="what a budget minute is: wall-clock, or CPU time of the training process "
                         "(fair on a shared machine) (default: wall)")
    ft.add_argument("--finetune-precision", choices=("float32", "mixed_bfloat16"), default=None,
                    help="both runs' precision (default: mixed_bfloat16 where the CPU has "
                         "bfloat16 support, else float32)")
    return p


def main(argv: list[str] | None = None) -> list[Row]:
    args = build_parser().parse_args(argv)
    args.synth_images = 100 if args.quick else 20000
    args.dataset_images = 200 if args.quick else 3000
    args.inference_lines = 100 if args.quick else 1000
    args.latency_lines = 10 if args.quick else 50
    args.train_steps = 3 if args.quick else 20
    # bfloat16 only where the hardware runs it natively: emulated it is tens of times slower than
    # float32 and would time the emulation, not the pipeline.
    args.bf16_native = bool({"input", "precision"} & set(args.only)) and _bf16_native()
    args.input_precision = "mixed_bfloat16" if args.bf16_native else "float32"
    args.quality_images = 200 if args.quick else 3000
    args.quality_steps = 10 if args.quick else 300
    args.precision_rounds = 1 if args.quick else 5
    args.quality_preset = "tiny" if args.quick else "small"
    quick_or = {  # the finetune section: --quick sizes, full sizes
        "finetune_lines": (500, 20000), "finetune_images": (400, 30000),
        "finetune_budgets": ([1.0, 2.0], [5.0, 15.0, 30.0]),
        "scratch_budgets": ([1.0, 2.0], [5.0, 15.0, 30.0, 60.0])}
    for name, (quick, full) in quick_or.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if "inference" in args.only:
        _need_weights(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = "python tools/benchmark.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    tmp_ctx = tempfile.TemporaryDirectory(prefix="crnn-bench-") if args.workdir is None else None
    root = Path(tmp_ctx.name) if tmp_ctx else args.workdir
    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root, args.dataset_images)
    rows: list[Row] = []
    try:
        for name in args.only:
            print(f"[benchmark] {name} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            try:
                rows += SECTION_FUNCS[name](ws, args)
            except Exception as e:  # noqa: BLE001 - one broken section must not hide the others' numbers
                print(f"[benchmark] {name} failed: {e!r}", file=sys.stderr, flush=True)
                rows.append(Row(name, "section failed", None, "-", note=f"{type(e).__name__}: {e}"[:200]))
            print(f"[benchmark] {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr,
                  flush=True)
    finally:
        if tmp_ctx:
            tmp_ctx.cleanup()
    print(format_table(rows))
    if not args.no_output:
        existing = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        part = markdown_report(rows, command.strip(), args.note, args.only)
        args.output.write_text(merge_report(existing, part), encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
