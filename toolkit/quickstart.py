"""The quickstart: every stage on the bundled corpus and fonts, sized for a 2-core CPU.

It generates lines made of the most frequent corpus chars (a small charset learns in minutes),
builds the char dict, writes TFRecords, trains a ``small`` ShadowNet in two runs (the second one
resumes the first from its checkpoint, to show resume), tests it and reads one test image.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from toolkit.charset import build_char_dict
from toolkit.evaluate import test_shadownet
from toolkit.labels import read_label_file
from toolkit.paths import bundled_corpus_files, bundled_font_files
from toolkit.predict import demo
from toolkit.records import write_tfrecords
from toolkit.synth import SynthConfig, gen_images
from toolkit.train import TrainConfig, cpu_supports_bfloat16, train

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuickstartConfig:
    """Sizes of the quickstart run (defaults measured to finish in under 20 minutes on 2 cores).

    Attributes:
        num_images: images generated (train + test).
        top_chars: only lines made of the K most frequent corpus chars.
        min_chars, max_chars: text segment length range, chars.
        steps: training steps in all; the first run stops at ``steps * first_run_share``.
        first_run_share: share of the steps done before the resume.
        batch_size: lines per step.
        learning_rate: Adam peak learning rate.
        model_size: ShadowNet preset.
        workers: gen-images processes (default: CPU count, at most 4).
        seed: seed of every stage.
    """

    num_images: int = 20000
    top_chars: int = 100
    min_chars: int = 2
    max_chars: int = 8
    steps: int = 3000
    first_run_share: float = 0.5
    batch_size: int = 32
    learning_rate: float = 1e-3
    model_size: str = "small"
    workers: int | None = None
    seed: int = 0


def run_quickstart(output_dir: str | os.PathLike, config: QuickstartConfig = QuickstartConfig(),
                   echo: Callable[[str], None] = print) -> dict:
    """Run gen-images, build-char-dict, write-tfrecords, train-shadownet (twice: the second run
    resumes), test-shadownet and demo, all under ``output_dir``.

    Returns:
        A dict with the paths written, the test scores and the demo result.

    Raises:
        Whatever a stage raises (see each stage); every stage's output stays on disk.
    """
    out = Path(output_dir)
    data, char_dict, recs, model_dir = (out / "data", out / "char_dict", out / "tfrecords",
                                        out / "model")
    workers = config.workers or max(1, min(4, os.cpu_count() or 1))
    t0 = time.perf_counter()

    def stage(name: str) -> None:
        echo(f"\n== {name}  ({time.perf_counter() - t0:.0f} s)")

    stage(f"1/6 gen-images: {config.num_images} lines from the {config.top_chars} most frequent "
          f"chars of the bundled corpus, 4 bundled fonts")
    synth = SynthConfig(min_chars=config.min_chars, max_chars=config.max_chars,
                        top_chars=config.top_chars)
    summary = gen_images(bundled_corpus_files(), [str(p) for p in bundled_font_files()], data,
                         config.num_images, seed=config.seed, workers=workers, config=synth,
                         overwrite=True)
    echo(f"{summary.num_written} images in {data}")

    stage("2/6 build-char-dict")
    charset = build_char_dict(data / "chinese.txt", char_dict)
    echo(f"{char_dict}: num_classes {charset.num_classes} = {len(charset) - 1} chars + space + blank")

    stage("3/6 write-tfrecords")
    echo(write_tfrecords(data, char_dict, recs, seed=config.seed).format())

    precision = "mixed_bfloat16" if cpu_supports_bfloat16() else "float32"
    first = max(1, int(config.steps * config.first_run_share))
    warmup = min(100, max(1, config.steps // 10))
    stage(f"4/6 train-shadownet: {config.model_size} model, {precision}, steps 0 -> {first}")
    tc = TrainConfig(steps=first, batch_size=config.batch_size,
                     learning_rate=config.learning_rate, warmup_steps=warmup,
                     decay_steps=max(1, config.steps - warmup), checkpoint_every=250,
                     eval_every=max(250, first), eval_batches=10, precision=precision,
                     seed=config.seed)
    r1 = train(recs, char_dict, model_dir, config=tc, model_preset=config.model_size)
    echo(f"first run stopped at step {r1.step} (loss {r1.loss:.3f}, {r1.images_per_second:.0f} "
         f"images/s); checkpoint {r1.checkpoint}")
    stage(f"     train-shadownet again with --steps {config.steps}: resumes from the checkpoint")
    r2 = train(recs, char_dict, model_dir, config=replace(tc, steps=config.steps,
                                                          eval_every=config.steps))
    echo(f"resumed from {r2.resumed_from}, trained to step {r2.step} (loss {r2.loss:.3f})")

    stage("5/6 test-shadownet on the test split")
    scores = test_shadownet(recs, model_dir)
    echo(scores.format())

    stage("6/6 demo on a test image")
    entries, _ = read_label_file(data / "Test" / "sample.txt", data)
    sample = entries[0]
    (path, text, conf), = demo([sample.image_path], model_dir)
    echo(f"{path}\t{text}\t{conf:.4f}")
    echo(f"ground truth: {sample.label}   {'correct' if text == sample.label else 'differs'}")

    echo(f"\nDone in {time.perf_counter() - t0:.0f} s. Outputs:\n"
         f"  images, sample.txt, preview.png: {data}\n"
         f"  char dict:                       {char_dict}\n"
         f"  TFRecords + metadata.json:       {recs}\n"
         f"  model (checkpoints, TensorBoard): {model_dir}  (tensorboard --logdir {model_dir / 'logs'})\n"
         f"Next: crnn-toolkit demo --image-path YOUR_LINE.png --weights-path {model_dir}")
    return {"data": data, "char_dict": char_dict, "tfrecords": recs, "model": model_dir,
            "scores": scores.as_dict(), "demo": (str(path), text, conf), "truth": sample.label}
