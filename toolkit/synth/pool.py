"""The worker pool of the synthesis stage: image indices are rendered and written in chunks, in this
process or in a ``spawn`` pool of worker processes that each hold the render state once
(:class:`RenderPool`); :func:`chunk_ranges` cuts the indices into the pool's tasks. A worker that
dies stops the pool with :class:`WorkerDiedError`."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from toolkit.corpus import CorpusMix
from toolkit.fonts import FaceSampler, FontFace, split_latin
from toolkit.synth.config import HALFWIDTH_PUNCT, SynthConfig, draw_integer, halfwidth_punct
from toolkit.synth.layout import image_relpath
from toolkit.synth.render import encode_jpeg, render_line

CHUNK_RANGE = (16, 1000)  # images per pool task, smallest and largest (see chunk_ranges)


class ImageResult(NamedTuple):
    """What rendering image ``image`` gave: its text, and the draws rejected before it."""

    image: int  # the image index
    text: str | None  # None: no coverable text was found
    rejected: tuple[tuple[str, str], ...]  # (text, reason) for each rejected draw


class _Worker:
    """Per-process state: the text mix, the faces and where to write. Built once per process."""

    def __init__(
        self,
        mix: CorpusMix,
        faces: Sequence[FontFace],
        config: SynthConfig,
        seed: int,
        output_dir: Path,
    ) -> None:
        self.mix = mix
        # Latin text faces only draw the ASCII chars of a line (SynthConfig.latin_face_prob)
        self.faces, self.latin_faces = split_latin(faces)
        self.sampler = FaceSampler(self.faces)  # style-balanced choice among the covering faces
        self.config = config
        self.seed = seed
        self.output_dir = Path(output_dir)
        self.made_dirs: set[Path] = set()

    def sample_text(self, rng: np.random.Generator) -> str:
        """Draw a text from the mix (:meth:`toolkit.corpus.CorpusMix.sample`: a corpus segment,
        char-frequency-balanced with probability ``config.balance``, or a generated string)."""
        return self.mix.sample(rng)

    def reason(self, text: str) -> str:
        for ch in text:
            if not ch.isspace() and not any(ord(ch) in f.codepoints for f in self.faces):
                return f"no font covers char {ch} (U+{ord(ch):04X})"
        return "no single font covers all chars"

    def make(self, index: int) -> ImageResult:
        config = self.config
        rng = np.random.default_rng([self.seed, index])
        rejected: list[tuple[str, str]] = []
        for _ in range(config.max_text_draws):
            text = self.sample_text(rng)
            if config.question_prob > 0 and "。" in text and rng.random() < config.question_prob:
                text = text.replace("。", "？")
            if (config.halfwidth_punct_prob > 0 and any(c in HALFWIDTH_PUNCT for c in text)
                    and rng.random() < config.halfwidth_punct_prob):
                text = halfwidth_punct(text)
            face = self.sampler.choose(text, rng)
            if face is None:
                rejected.append((text, self.reason(text)))
                continue
            image = render_line(text, face, rng, config, self.latin_faces)
            path = self.output_dir / image_relpath(index, config.image_format)
            if path.parent not in self.made_dirs:  # one mkdir per folder of 1,000, not per image
                path.parent.mkdir(parents=True, exist_ok=True)
                self.made_dirs.add(path.parent)
            if config.image_format == "jpg":
                path.write_bytes(encode_jpeg(image, draw_integer(rng, config.jpeg_quality)))
            else:
                image.save(path, format="PNG")
            return ImageResult(index, text, tuple(rejected))
        return ImageResult(index, None, tuple(rejected))


_WORKER: _Worker | None = None
_STOP: Any = None  # the pool's multiprocessing Event: set, a worker's chunk returns early


def _init_worker(setup: Any, stop: Any) -> None:
    """Pool initializer: block until the parent sends the pickled :class:`_Worker` arguments
    (``None``: the run stopped before rendering; the worker then only waits to be shut down)."""
    global _WORKER, _STOP
    _STOP = stop
    payload = setup.get()
    _WORKER = None if payload is None else _Worker(*pickle.loads(payload))


def _started() -> int:
    """The pool's first task for each worker: it makes the executor start the process now."""
    return os.getpid()


def _run_chunk(indices: range) -> list[ImageResult]:
    if _WORKER is None:  # pragma: no cover - only if the pool initializer got no render state
        raise RuntimeError("synth worker used before it received the render state")
    results = []
    for i in indices:
        if _STOP.is_set():  # the parent is leaving: its results are no longer wanted
            break
        results.append(_WORKER.make(i))
    return results


class WorkerDiedError(ChildProcessError):
    """A render worker process ended while the pool was rendering: killed by a signal (the
    out-of-memory killer sends SIGKILL) or crashed. The pool is stopped; the chunks it had not
    finished are not written."""


def chunk_ranges(owned: range, workers: int, sizes: tuple[int, int] = CHUNK_RANGE) -> list[range]:
    """Split ``owned`` into the tasks of :class:`RenderPool`, largest first (guided scheduling):
    each chunk is a ``1 / (2 * workers)`` share of the images still unassigned, clipped to
    ``sizes`` (smallest, largest). Few large tasks keep the pool's per-task cost low (the parent
    wakes up, unpickles and hands over every result: ~1 ms of its CPU per task, taken from the
    workers on a 2-core machine); the small ones at the end keep the workers finishing together.
    The largest size also bounds how long the progress bar waits between updates."""
    smallest, largest = sizes
    chunks, start = [], owned.start
    while start < owned.stop:
        remaining = owned.stop - start
        size = min(remaining, max(smallest, min(largest, remaining // (2 * workers))))
        chunks.append(range(start, start + size))
        start += size
    return chunks


class RenderPool:
    """Renders chunks of image indices, in this process (``processes == 1``) or in a ``spawn``
    process pool (:class:`concurrent.futures.ProcessPoolExecutor`).

    The workers are started when the object is made, before :func:`gen_images` reads the corpus
    and the fonts, so that their start-up (a new Python process and its imports, ~0.2 s each) runs
    while the parent reads; :meth:`render` then sends each worker the render state (text units,
    faces, config: ~5 MB pickled for the bundled corpus) once, through a queue. Passing that state
    as the pool initializer's arguments instead made the pool wait for the corpus and start its
    workers one after the other (the parent blocks writing each one's arguments into its pipe):
    ~1 s before both rendered, 10% of a 40,000-image 2-worker run (tools/benchmark.py).

    A worker that dies (SIGKILL from the out-of-memory killer, a crash) breaks the pool: the
    executor notices the process is gone, stops the others, and :meth:`render` raises
    :class:`WorkerDiedError` instead of waiting for the chunk that will never come.

    Use as a context manager: leaving it stops the workers (their current chunk ends after the
    image being drawn), also when reading the inputs or rendering raised.

    Raises:
        RuntimeError: from :func:`_check_spawnable` when ``processes > 1``.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._state_sent = False
        if processes > 1:
            _check_spawnable()
            context = multiprocessing.get_context("spawn")
            self._setup = context.Queue()
            self._setup.cancel_join_thread()  # never hang at exit on state no worker took
            self._stop = context.Event()
            self._executor = ProcessPoolExecutor(processes, mp_context=context,
                                                 initializer=_init_worker,
                                                 initargs=(self._setup, self._stop))
            # A spawn executor starts a process per submitted task, up to `processes`.
            self._starts = [self._executor.submit(_started) for _ in range(processes)]

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._executor is not None:
            self._stop.set()
            if not self._state_sent:  # workers blocked in the initializer: let them go
                for _ in range(self.processes):
                    self._setup.put(None)
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._setup.close()
            # Drop them now: a traceback that keeps gen_images' frame alive would keep the queue's
            # semaphores until interpreter exit (a resource_tracker "leaked semaphore" warning).
            self._executor = self._setup = self._stop = None

    def render(self, worker_args: tuple, chunks: Sequence[range]) -> Iterator[list[ImageResult]]:
        """Render every index of ``chunks`` with a :class:`_Worker` built from ``worker_args``;
        yields each chunk's results (in image order) as the chunk completes.

        Raises:
            WorkerDiedError: if a worker process died; the chunks yielded before are complete,
                the others were not (or only partly) written.
            OSError: a worker's failed write (e.g. a full disk), raised again here.
        """
        if self._executor is None:
            local = _Worker(*worker_args)
            for indices in chunks:
                yield [local.make(i) for i in indices]
            return
        payload = pickle.dumps(worker_args, protocol=pickle.HIGHEST_PROTOCOL)
        for _ in range(self.processes):
            self._setup.put(payload)
        self._state_sent = True
        try:
            futures = [self._executor.submit(_run_chunk, c) for c in chunks]
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool:
            raise WorkerDiedError(
                "a gen-images worker process died (killed by a signal, e.g. SIGKILL from the "
                "out-of-memory killer, or crashed); the other workers were stopped") from None


def _check_spawnable() -> None:
    """Raise if 'spawn' workers cannot start: they re-import the parent's ``__main__`` from its file,
    and a script read from stdin has none (the pool would then restart failing workers forever)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file is not None and not os.path.exists(main_file):
        raise RuntimeError(
            f"workers > 1 cannot start from a __main__ without a file ({main_file!r}, e.g. a script "
            f"piped to python); run it from a .py file or use workers=1"
        )
