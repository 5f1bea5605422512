"""The worker pool of the synthesis stage: image indices are rendered and written in chunks, in this
process or in a ``spawn`` pool of worker processes that each hold the render state once
(:class:`RenderPool`); :func:`chunk_ranges` cuts the indices into the pool's tasks."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Self

import numpy as np
from tqdm import tqdm

from toolkit.corpus import CorpusMix
from toolkit.fonts import FontFace
from toolkit.synth.config import SynthConfig, draw_integer
from toolkit.synth.layout import image_relpath
from toolkit.synth.render import encode_jpeg, render_line

CHUNK_RANGE = (16, 1000)  # images per pool task, smallest and largest (see chunk_ranges)


class _Result(NamedTuple):
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
        self.faces = list(faces)
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

    def make(self, index: int) -> _Result:
        config = self.config
        rng = np.random.default_rng([self.seed, index])
        rejected: list[tuple[str, str]] = []
        for _ in range(config.max_text_draws):
            text = self.sample_text(rng)
            if config.question_prob > 0 and "。" in text and rng.random() < config.question_prob:
                text = text.replace("。", "？")
            candidates = [f for f in self.faces if f.covers(text)]
            if not candidates:
                rejected.append((text, self.reason(text)))
                continue
            face = candidates[int(rng.integers(len(candidates)))]
            image = render_line(text, face, rng, config)
            path = self.output_dir / image_relpath(index, config.image_format)
            if path.parent not in self.made_dirs:  # one mkdir per folder of 1,000, not per image
                path.parent.mkdir(parents=True, exist_ok=True)
                self.made_dirs.add(path.parent)
            if config.image_format == "jpg":
                path.write_bytes(encode_jpeg(image, draw_integer(rng, config.jpeg_quality)))
            else:
                image.save(path, format="PNG")
            return _Result(index, text, tuple(rejected))
        return _Result(index, None, tuple(rejected))


_WORKER: _Worker | None = None


def _init_worker(setup: Any) -> None:
    """Pool initializer: block until the parent sends the pickled :class:`_Worker` arguments."""
    global _WORKER
    _WORKER = _Worker(*pickle.loads(setup.get()))


def _run_chunk(indices: range) -> list[_Result]:
    if _WORKER is None:  # pragma: no cover - only if the pool initializer did not run
        raise RuntimeError("synth worker used before _init_worker")
    return [_WORKER.make(i) for i in indices]


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
    """Renders chunks of image indices, in this process (``processes == 1``) or in a ``spawn`` pool.

    The pool is started when the object is made, before :func:`gen_images` reads the corpus and the
    fonts, so that the workers' start-up (a new Python process and its imports, ~0.2 s each) runs
    while the parent reads; :meth:`render` then sends each worker the render state (text units,
    faces, config: ~5 MB pickled for the bundled corpus) once, through a queue. Passing that state
    as the pool initializer's arguments instead made the pool wait for the corpus and start its
    workers one after the other (the parent blocks writing each one's arguments into its pipe):
    ~1 s before both rendered, 10% of a 40,000-image 2-worker run (tools/benchmark.py).

    Use as a context manager: leaving it terminates the pool, also when reading the inputs raised.

    Raises:
        RuntimeError: from :func:`_check_spawnable` when ``processes > 1``.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool = None
        if processes > 1:
            _check_spawnable()
            context = multiprocessing.get_context("spawn")
            self._setup = context.Queue()
            self._setup.cancel_join_thread()  # never hang at exit on state no worker took
            self._pool = context.Pool(processes, _init_worker, (self._setup,))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._setup.close()
            # Drop them now: a traceback that keeps gen_images' frame alive would keep the queue's
            # semaphores until interpreter exit (a resource_tracker "leaked semaphore" warning).
            self._pool = self._setup = None

    def render(self, worker_args: tuple, chunks: Sequence[range], bar: tqdm) -> list[_Result]:
        """Render every index of ``chunks`` with a :class:`_Worker` built from ``worker_args``;
        results in completion order, ``bar`` advanced per chunk."""
        results: list[_Result] = []
        if self._pool is None:
            local = _Worker(*worker_args)
            for indices in chunks:
                results.extend(local.make(i) for i in indices)
                bar.update(len(indices))
            return results
        payload = pickle.dumps(worker_args, protocol=pickle.HIGHEST_PROTOCOL)
        for _ in range(self.processes):
            self._setup.put(payload)
        for part in self._pool.imap_unordered(_run_chunk, chunks):
            results.extend(part)
            bar.update(len(part))
        return results


def _check_spawnable() -> None:
    """Raise if 'spawn' workers cannot start: they re-import the parent's ``__main__`` from its file,
    and a script read from stdin has none (the pool would then restart failing workers forever)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file is not None and not os.path.exists(main_file):
        raise RuntimeError(
            f"workers > 1 cannot start from a __main__ without a file ({main_file!r}, e.g. a script "
            f"piped to python); run it from a .py file or use workers=1"
        )
