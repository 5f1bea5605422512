"""The ``crnn-toolkit`` command line: one click group, a subcommand per pipeline stage.

The CLI only parses options, configures logging and calls library functions. ``--help`` lists the
commands in pipeline order, then the utilities.

Imports: the stage modules (``toolkit.synth``, ``toolkit.records``, ``toolkit.train``...) are
imported inside their commands, because together they load numpy, Pillow, fontTools and tqdm, which
``--help`` and the option parsing of any one command do not need; no module imported here at the
top loads TensorFlow (the library imports it only in the functions that run a model), and a test
checks that ``--help`` does not.
"""

from __future__ import annotations

import errno
import functools
import logging
import sys
from dataclasses import replace
from pathlib import Path

import click

from toolkit.charset import ALL_SETS, NAMED_SETS
from toolkit.io import atomic_write_text
from toolkit.paths import (
    bundled_corpus_files,
    bundled_font_dir,
    bundled_latin_font_dir,
    bundled_model_dir,
)
from toolkit.quiet import quiet_tensorflow, verbose_from_env

logger = logging.getLogger("toolkit")

EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class ModelPath(click.ParamType):
    """A model given by path: an existing file or directory, or a TensorFlow checkpoint prefix
    (``.../ckpt-51000``, which names no file itself: its ``.index`` file must exist). Converts
    to :class:`pathlib.Path`; a path that is neither fails with a usage error naming it."""

    name = "path"

    def convert(self, value, param, ctx):
        path = Path(value)
        if path.exists() or path.with_name(path.name + ".index").is_file():
            return path
        self.fail(f"{str(value)!r} does not exist (neither a file, a directory nor a checkpoint "
                  f"prefix with a {path.name}.index file)", param, ctx)


MODEL_PATH = ModelPath()
OUT_DIR = click.Path(file_okay=False, path_type=Path)
CHAR_SET_NAMES = (*NAMED_SETS, ALL_SETS)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (CliRunner swaps it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging(verbose: bool) -> None:
    verbose = verbose or verbose_from_env()
    if not verbose:
        quiet_tensorflow()  # before any command imports TensorFlow
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("toolkit")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False  # TensorFlow/absl may put a handler on the root logger


_DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _user_errors(func):
    """Turn the library's input errors and failed writes (``OSError``: a full disk, a permission)
    into a one-line ``Error: ...`` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValueError, OSError) as e:
            message = str(e)
            if isinstance(e, OSError) and e.errno in _DISK_FULL:
                message += (" (the disk is full or a file size limit was reached; files that were "
                            "complete before were kept)")
            raise click.ClickException(message) from e

    return wrapper


def _default_weights(weights_path: Path | None) -> Path:
    if weights_path is not None:
        return weights_path
    d = bundled_model_dir()
    if d is None:
        raise click.UsageError("no --weights-path given and no bundled model in model/shadownet/; "
                               "train one with train-shadownet (or run quickstart)")
    return d


PIPELINE = ("gen-images", "build-char-dict", "write-tfrecords", "train-shadownet", "test-shadownet",
            "demo", "export", "compare")
"""The stage commands, in the order ``--help`` lists them; the other commands (utilities) follow
alphabetically."""


class _PipelineGroup(click.Group):
    """A click group that lists its commands in pipeline order (:data:`PIPELINE`), not
    alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        stages = [n for n in PIPELINE if n in names]
        return stages + [n for n in names if n not in PIPELINE]


# ------------------------------------------------------------------------- shared options
def _job_array_options(func):
    """``--shard-index`` / ``--num-shards`` of the commands a job array can run (see
    :mod:`toolkit.shards`)."""
    func = click.option("--num-shards", default=1, show_default=True, type=click.IntRange(min=1),
                        help="Jobs in the array; with N > 1 run merge-shards when all are done.")(func)
    return click.option("--shard-index", default=0, show_default=True, type=click.IntRange(min=0),
                        help="This job's shard, 0..N-1 (e.g. $SLURM_ARRAY_TASK_ID, "
                             "$JOB_COMPLETION_INDEX).")(func)


def _model_option(func):
    """``--weights-path`` of the commands that read with a model in any form (default: bundled)."""
    return click.option("--weights-path", type=MODEL_PATH,
                        help="Checkpoint or model directory, exported SavedModel directory or "
                             ".tflite file [default: the bundled model].")(func)


def _record_dir_option(func):
    """``--dataset-dir`` of the commands that read a record set."""
    return click.option("--dataset-dir", required=True, type=EXISTING_DIR,
                        help="Record directory.")(func)


def _batch_size_option(func):
    """``--batch-size``: lines per step or per forward pass."""
    return click.option("--batch-size", default=32, show_default=True,
                        type=click.IntRange(min=1))(func)


@click.group(cls=_PipelineGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--verbose", "-v", is_flag=True,
              help="Debug logging, and TensorFlow's own log lines (hidden otherwise); "
                   "or set CRNN_TOOLKIT_VERBOSE=1.")
@click.version_option(package_name="crnn-toolkit")
def main(verbose: bool) -> None:
    """Chinese OCR from corpus and fonts to a trained CRNN (ShadowNet) text-line recognizer.

    Pipeline: gen-images -> build-char-dict -> write-tfrecords [-> verify] -> train-shadownet ->
    test-shadownet -> demo -> export. `crnn-toolkit quickstart` runs all of them on the bundled data.
    """
    _setup_logging(verbose)


def _corpus_sources(ctx, param, values):
    """Click callback: ``--corpus FILE[:WEIGHT]`` / ``--generated KIND:WEIGHT`` -> SourceSpecs."""
    from toolkit.corpus import parse_corpus_option, parse_generated_option

    parse = parse_corpus_option if param.name == "corpus" else parse_generated_option
    try:
        return [parse(v) for v in values]
    except (ValueError, OSError) as e:
        raise click.BadParameter(str(e)) from None


def _mix_sets(ctx, param, values):
    """Click callback: ``--mix DIR:WEIGHT`` -> ``[(Path, weight), ...]``."""
    mix = []
    for value in values:
        head, sep, tail = value.rpartition(":")
        try:
            weight = float(tail) if sep else None
        except ValueError:
            weight = None
        if weight is None or not 0 < weight < 1:
            raise click.BadParameter(f"{value!r}: give DIR:WEIGHT, WEIGHT a share of the "
                                     f"training examples between 0 and 1 (e.g. general:0.3)")
        if not Path(head).is_dir():
            raise click.BadParameter(f"{value!r}: record directory {head!r} not found")
        mix.append((Path(head), weight))
    from toolkit.records import check_mix

    try:
        return check_mix("--dataset-dir", mix)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@main.command("gen-images")
@click.option("--corpus", "corpus", multiple=True, callback=_corpus_sources,
              help="Corpus text file: plain lines or 'phrase<TAB>freq', as FILE or FILE:WEIGHT "
                   "(repeatable). Files without a weight are pooled and weigh their line count. "
                   "Default: the bundled Song ci corpus.")
@click.option("--generated", "generated", multiple=True, callback=_corpus_sources,
              help="Generated text as KIND:WEIGHT (repeatable); kinds: number, date, time, price, "
                   "percent, phone, latin, mixed, identifier, punct, random (toolkit.textgen).")
@click.option("--corpus-config", default=None, type=EXISTING_FILE,
              help="JSON corpus mix: {\"format_version\": 1, \"sources\": [{\"file\": F, "
                   "\"weight\": W} or {\"generated\": KIND, \"weight\": W}, ...]}, files "
                   "relative to it (e.g. corpora/mix.json); --corpus/--generated add to it.")
@click.option("--add-set", "add_sets", multiple=True, type=click.Choice(CHAR_SET_NAMES),
              help="List a named char set in chinese.txt and draw its chars in balanced and "
                   "random text (repeatable; see build-char-dict).")
@click.option("--font", "fonts", multiple=True, type=str,
              help="Font file, or FILE:INDEX for a face of a .ttc collection (repeatable). "
                   "Default: the bundled font library's training faces (fonts/), and its Latin "
                   "text faces (fonts/latin/) when the config's latin_face_prob is above 0.")
@click.option("--font-dir", "font_dirs", multiple=True, type=EXISTING_DIR,
              help="Font directory (repeatable): the faces its fonts.json manifest lists, with "
                   "their styles, else every font file in it. Faces are drawn so that every "
                   "style gets an equal share; faces of style 'latin' (fonts/latin/) only draw "
                   "the ASCII chars of a line, with the config's latin_face_prob.")
@click.option("--output-dir", required=True, type=OUT_DIR, help="Dataset directory to write.")
@click.option("--num-images", required=True, type=click.IntRange(min=1), help="Images to render.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same files.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes.")
@click.option("--min-chars", default=None, type=click.IntRange(min=1),
              help="Shortest text segment, chars.")
@click.option("--max-chars", default=None, type=click.IntRange(min=1),
              help="Longest text segment, chars.")
@click.option("--top-chars", default=None, type=click.IntRange(min=1),
              help="Only sample text made of the K most frequent corpus chars.")
@click.option("--test-fraction", default=None, type=click.FloatRange(0, 1, max_open=True),
              help="Share of distinct texts that go to Test (never to Train).")
@click.option("--augment", default="basic", show_default=True,
              type=click.Choice(["basic", "robust", "real"]),
              help="Augmentation preset (toolkit.synth.AUGMENT_PRESETS): 'robust' adds per-char "
                   "jitter, stroke weight, shear, stretch, aliased and low-resolution renderings "
                   "and char-frequency-balanced text, for models that must read unseen fonts; "
                   "'real' adds to it the degradations of real crops: paper textures and patterns, "
                   "colour, perspective, curves, motion blur, underlines, table rules, neighbouring "
                   "lines, screenshot-like rendering and JPEG artifacts.")
@click.option("--config", "config_file", default=None, type=EXISTING_FILE,
              help="JSON of SynthConfig fields applied over the preset (any subset), or a "
                   "dataset's gen_config.json to render with its exact settings; the options "
                   "below override it.")
@click.option("--balance", default=None, type=click.FloatRange(0, 1),
              help="Share of segments centred on a uniformly drawn distinct char "
                   "(char-frequency-balanced sampling); overrides the preset.")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier gen-images output in --output-dir.")
@click.option("--skip-bad", is_flag=True,
              help="Skip texts with a char no font can draw (counted) instead of stopping.")
@_job_array_options
@_user_errors
def gen_images_cmd(corpus, generated, corpus_config, add_sets, fonts, font_dirs, output_dir,
                   num_images, seed, workers, min_chars, max_chars, top_chars, test_fraction,
                   augment, config_file, balance, overwrite, skip_bad, shard_index, num_shards):
    """Render synthetic line images and write Train/Test sample.txt, chinese.txt, preview.png."""
    from toolkit.fonts import load_font_dir  # fontTools: only for the commands that read fonts
    from toolkit.synth import (  # a stage module: see the module docstring
        ConfigValueError,
        gen_images,
        resolve_config,
    )

    try:
        config = resolve_config(augment, config_file, min_chars=min_chars, max_chars=max_chars,
                                top_chars=top_chars, test_fraction=test_fraction, balance=balance)
    except ConfigValueError as e:
        raise click.BadParameter(str(e), param_hint="--config") from None
    from toolkit.corpus import read_mix_config

    sources = [*(read_mix_config(corpus_config) if corpus_config else []), *corpus, *generated]
    faces = [face for d in font_dirs for face in load_font_dir(d)] + list(fonts)
    if not faces:
        faces = load_font_dir(bundled_font_dir())
        if config.latin_face_prob > 0:
            faces += load_font_dir(bundled_latin_font_dir())
    summary = gen_images(sources or bundled_corpus_files(), faces,
                         output_dir, num_images, seed=seed, workers=workers, config=config,
                         overwrite=overwrite, skip_bad=skip_bad, shard_index=shard_index,
                         num_shards=num_shards, add_sets=add_sets)
    click.echo(summary.format())
    if num_shards > 1:
        click.echo(f"shard {shard_index} of {num_shards} done; when all are, run: crnn-toolkit "
                   f"merge-shards {output_dir}")


@main.command("build-char-dict")
@click.option("--char-dict-file", required=True, type=EXISTING_FILE,
              help="chinese.txt: one char per line; its order is the class order.")
@click.option("--save-dir", required=True, type=OUT_DIR, help="Where the three JSON maps go.")
@click.option("--add-set", "add_sets", multiple=True, type=click.Choice(CHAR_SET_NAMES),
              help="Append a named char set's chars that chinese.txt lacks (repeatable): gb2312 "
                   "hanzi, ascii, fullwidth punctuation, cjk_punct, symbols, or all.")
@_user_errors
def build_char_dict_cmd(char_dict_file, save_dir, add_sets):
    """chinese.txt (+ named sets) -> char_dict.json, ord_2_index_map.json, index_2_ord_map.json."""
    from toolkit.charset import build_char_dict  # a stage module: see the module docstring

    cs = build_char_dict(char_dict_file, save_dir, add_sets=add_sets)
    click.echo(f"{save_dir}: {len(cs) - 1} chars + space + blank = num_classes {cs.num_classes} "
               f"(space {cs.space_index}, blank {cs.blank_index}); sha256 {cs.sha256[:16]}")


@main.command("write-tfrecords")
@click.option("--dataset-dir", required=True, type=EXISTING_DIR,
              help="Holds Train/sample.txt and Test/sample.txt (optional Validation/sample.txt).")
@click.option("--char-dict-dir", required=True, type=EXISTING_DIR, help="The three JSON maps.")
@click.option("--save-dir", required=True, type=OUT_DIR, help="Output record directory.")
@click.option("--validation-fraction", default=0.1, show_default=True,
              type=click.FloatRange(0, 1, max_open=True),
              help="Share of train texts moved to validation.")
@click.option("--shard-size", default=5000, show_default=True, type=click.IntRange(min=1),
              help="Examples per shard.")
@click.option("--skip-bad", is_flag=True, help="Skip bad lines (reported) instead of stopping.")
@click.option("--keep-spaces", is_flag=True,
              help="Keep runs of spaces inside labels (otherwise such lines are bad lines); "
                   "leading and trailing spaces are always stripped.")
@click.option("--overwrite", is_flag=True,
              help="Replace a record set of another dataset or char dict in --save-dir.")
@_job_array_options
@_user_errors
def write_tfrecords_cmd(dataset_dir, char_dict_dir, save_dir, validation_fraction, shard_size,
                        skip_bad, keep_spaces, overwrite, shard_index, num_shards):
    """Images + label files -> sharded train/validation/test TFRecords + metadata.json."""
    from toolkit.records import write_tfrecords  # a stage module: see the module docstring

    report = write_tfrecords(dataset_dir, char_dict_dir, save_dir,
                             validation_fraction=validation_fraction, shard_size=shard_size,
                             skip_bad=skip_bad, overwrite=overwrite, shard_index=shard_index,
                             num_shards=num_shards, keep_spaces=keep_spaces)
    click.echo(report.format())
    if num_shards > 1:
        click.echo(f"job {shard_index} of {num_shards} done; when all are, run: crnn-toolkit "
                   f"merge-shards {save_dir}")


@main.command("merge-shards")
@click.argument("directory", type=EXISTING_DIR)
@_user_errors
def merge_shards_cmd(directory):
    """Join the output of a job array (--shard-index I --num-shards N) once every job is done.

    DIRECTORY is a gen-images --output-dir (merges shards/*-of-N into Train/Test sample.txt,
    chinese.txt, preview.png, gen_config.json) or a write-tfrecords --save-dir (merges the jobs'
    metadata.shard-*-of-N.json into metadata.json).
    """
    from toolkit.merge import NothingToMergeError, merge_shards  # stage modules: see the docstring

    try:
        click.echo(merge_shards(directory).format())
    except NothingToMergeError as e:
        raise click.UsageError(str(e)) from None


@main.command("verify")
@click.option("--dataset-dir", type=EXISTING_DIR, help="Record directory.")
@click.option("--char-dict-dir", type=EXISTING_DIR,
              help="Check the labels against this char dict [default: the one in metadata.json].")
@click.option("--model-dir", type=EXISTING_DIR,
              help="Model directory: shadownet.json, char_dict/ and every checkpoint.")
@_user_errors
def verify_cmd(dataset_dir, char_dict_dir, model_dir):
    """Decode every record of a TFRecord set and check it against its metadata and char dict;
    check every checkpoint of a model directory."""
    from toolkit.verify import verify_model_dir, verify_records  # a stage module: see the module docstring

    if dataset_dir is None and model_dir is None:
        raise click.UsageError("give --dataset-dir, --model-dir or both")
    reports = []
    if dataset_dir is not None:
        reports.append(verify_records(dataset_dir, char_dict_dir))
    if model_dir is not None:
        reports.append(verify_model_dir(model_dir))
    for report in reports:
        click.echo(report.format())
    if not all(report.ok for report in reports):
        click.get_current_context().exit(1)


@main.command("train-shadownet")
@_record_dir_option
@click.option("--char-dict-dir", required=True, type=EXISTING_DIR,
              help="The char dict the records were written with.")
@click.option("--model-dir", required=True, type=OUT_DIR,
              help="Checkpoints, shadownet.json, TensorBoard logs; resumed if it holds a checkpoint.")
@click.option("--weights-path", type=MODEL_PATH,
              help="Resume from this checkpoint prefix or model directory.")
@click.option("--steps", default=10000, show_default=True, type=click.IntRange(min=1),
              help="Train until this global step.")
@_batch_size_option
@click.option("--learning-rate", default=None, type=float,
              help="Peak Adam learning rate of a new model [default: 0.001; 0.003 with --init-from].")
@click.option("--warmup-steps", default=None, type=click.IntRange(min=0),
              help="Linear warm-up, steps [default: 200; 50 with --init-from].")
@click.option("--decay-steps", default=None, type=click.IntRange(min=1),
              help="Length of the cosine decay after the warm-up, steps (default: --steps minus "
                   "--warmup-steps at the first run, then the saved value). Longer than that, a "
                   "run stops part way down the schedule and a later run continues it (training "
                   "in stages); given on resume, it replaces the saved schedule (e.g. to end "
                   "training earlier).")
@click.option("--model-size", type=click.Choice(["shadownet", "small", "tiny"]), default=None,
              help="Network size for a new model [default: shadownet].")
@click.option("--precision", type=click.Choice(["float32", "mixed_bfloat16", "mixed_float16", "auto"]),
              default="float32", show_default=True,
              help="Compute precision; 'auto' picks the fastest the hardware runs natively "
                   "(mixed_bfloat16 on a bfloat16 CPU or an Ampere+ GPU, mixed_float16 on an "
                   "older GPU, else float32).")
@click.option("--checkpoint-every", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--eval-every", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--strategy", type=click.Choice(["auto", "one-device", "mirrored", "multi-worker"]),
              default="auto", show_default=True,
              help="tf.distribute strategy: mirrored = every GPU of this machine, multi-worker = "
                   "the cluster in TF_CONFIG; auto picks multi-worker if TF_CONFIG names several "
                   "tasks, else mirrored if there are several GPUs, else one-device. "
                   "--batch-size is the global batch.")
@click.option("--init-from", default=None, metavar="MODEL",
              help="Fine-tune: start a new model from MODEL's weights ('bundled' for "
                   "model/shadownet, a model directory or a checkpoint prefix), its classifier "
                   "mapped to --char-dict-dir by char; the model has MODEL's size.")
@click.option("--freeze", type=click.Choice(["cnn"]), multiple=True,
              help="Hold a stage fixed: 'cnn' trains the BiLSTMs and the classifier only.")
@click.option("--worker-timeout", default=600, show_default=True, type=click.FloatRange(min=0),
              help="Multi-worker: seconds to wait for every task of TF_CONFIG to start.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="MINUTES",
              help="Stop after this many minutes of wall time with a checkpoint (the same command "
                   "again resumes); not under multi-worker.")
@click.option("--mix", multiple=True, callback=_mix_sets, metavar="DIR:WEIGHT",
              help="Also train on this record set (same char dict), WEIGHT being its share of "
                   "the training examples; --dataset-dir gets the rest and is the one validated "
                   "(repeatable). E.g. fine-tune on your lines with a general set at 0.3 so the "
                   "model keeps reading what it read.")
@_user_errors
def train_shadownet_cmd(dataset_dir, char_dict_dir, model_dir, weights_path, steps, batch_size,
                        learning_rate, warmup_steps, decay_steps, model_size, precision,
                        checkpoint_every, eval_every, seed, strategy, init_from, freeze,
                        worker_timeout, time_limit, mix):
    """Train ShadowNet (CNN + BiLSTM + CTC) on a record set; resumes where it stopped."""
    from toolkit.checkpoints import FINETUNE_LEARNING_RATE, FINETUNE_WARMUP_STEPS
    from toolkit.train import TrainConfig, resolve_precision, train  # a stage module: see the module docstring

    precision = resolve_precision(precision)
    if learning_rate is None:
        learning_rate = FINETUNE_LEARNING_RATE if init_from else TrainConfig.learning_rate
    if warmup_steps is None:
        warmup_steps = FINETUNE_WARMUP_STEPS if init_from else TrainConfig.warmup_steps
    config = TrainConfig(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                         warmup_steps=warmup_steps, decay_steps=decay_steps, precision=precision,
                         checkpoint_every=checkpoint_every, eval_every=eval_every, seed=seed,
                         freeze=freeze)
    result = train(dataset_dir, char_dict_dir, model_dir, weights_path=weights_path,
                   config=config, model_preset=model_size, strategy=strategy, init_from=init_from,
                   worker_timeout=worker_timeout,
                   time_limit=None if time_limit is None else time_limit * 60, mix=mix)
    if result.resumed_from:
        click.echo(f"resumed from {result.resumed_from}")
    if result.finetune:
        click.echo(f"fine-tuned from {result.finetune.prefix}: {result.finetune.mapping.format()}")
    v = result.validation
    val = (f"; validation CER {v['cer']:.4f}, line accuracy {v['line_accuracy']:.4f}"
           if v else "")
    click.echo(f"step {result.step}, loss {result.loss:.4f}{val}; checkpoint {result.checkpoint}")
    if result.step < steps:
        click.echo(f"stopped by --time-limit at step {result.step} of {steps}: run the same "
                   f"command again to resume")


@main.command("test-shadownet")
@_record_dir_option
@_model_option
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test",
              show_default=True)
@_batch_size_option
@click.option("--verbose", "verbose_lines", is_flag=True, help="Print each image's gt and prediction.")
@_user_errors
def test_shadownet_cmd(dataset_dir, weights_path, split, batch_size, verbose_lines):
    """CER, line accuracy and per-char accuracy of a model on a record split."""
    from toolkit.evaluate import test_shadownet  # a stage module: see the module docstring

    def show(name, gt, pred):
        click.echo(f"Predict {name} image with gt label: {gt} **** predict label: {pred}")

    scores = test_shadownet(dataset_dir, _default_weights(weights_path), split=split,
                            batch_size=batch_size, on_line=show if verbose_lines else None)
    click.echo(f"CER {scores.cer:.4f}\nline accuracy {scores.line_accuracy:.4f}\n"
               f"per-char accuracy {scores.char_accuracy:.4f}\ncount {scores.count}")


@main.command("demo")
@click.option("--image-path", "image_paths", required=True, multiple=True, type=MODEL_PATH,
              help="Line image, or a directory of them (repeatable).")
@_model_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as a TSV file (path, text, confidence, blank, error).")
@_batch_size_option
@click.option("--layout", type=click.Choice(["auto", "line", "page"]), default="auto",
              show_default=True,
              help="line: each image is one line; page: find the lines first (horizontal text, "
                   "one column); auto: a page if more than one line is found.")
@_user_errors
def demo_cmd(image_paths, weights_path, output, batch_size, layout):
    """Recognize line or page images; prints path<TAB>text<TAB>confidence per line read.

    An image that cannot be read is reported on stderr (and as a row with an error in the
    --output TSV); the others are read. Exit status 0 if every image was read, 3 if some could
    not be, 1 for other errors.
    """
    from toolkit.predict import demo, demo_lines, write_demo_tsv  # a stage module: see the docstring

    rows = demo(image_paths, _default_weights(weights_path), batch_size=batch_size, layout=layout)
    for line in demo_lines(rows):
        click.echo(line)
    if output:
        write_demo_tsv(output, rows)
    failed = sum(1 for r in rows if r.error)
    if failed:
        click.echo(f"Error: {failed} of {len(rows)} images could not be read (see above); the "
                   f"others were read", err=True)
        click.get_current_context().exit(3)


@main.command("serve")
@click.option("--weights-path", type=MODEL_PATH,
              help="Checkpoint or model directory, exported SavedModel directory or .tflite file "
                   "[default: the bundled model].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--max-bytes", default=None, type=click.IntRange(min=1),
              help="Largest request body, bytes [default: 20 MiB].")
@click.option("--max-pixels", default=None, type=click.IntRange(min=1),
              help="Largest image, width x height px [default: 40 million].")
@_user_errors
def serve_cmd(weights_path, host, port, max_bytes, max_pixels):
    """Serve a web page (/) and an HTTP API (POST /v1/recognize) that read lines and pages."""
    try:  # FastAPI and uvicorn come with the optional 'serve' extra
        from toolkit.serve import ServeConfig, serve
    except ModuleNotFoundError as e:
        raise click.ClickException(str(e)) from e

    limits = {k: v for k, v in (("max_bytes", max_bytes), ("max_pixels", max_pixels)) if v}
    serve(_default_weights(weights_path), host, port, ServeConfig(**limits), echo=click.echo)


@main.command("export")
@click.option("--weights-path", type=MODEL_PATH,
              help="Checkpoint or model directory [default: the bundled model].")
@click.option("--format", "fmt", type=click.Choice(["saved_model", "tflite"]), required=True,
              help="saved_model: a TensorFlow Serving model (image bytes in, text out); "
                   "tflite: a fixed-width TFLite file.")
@click.option("--quantize", type=click.Choice(["none", "fp16", "int8"]), default="none",
              show_default=True, help="TFLite weights: float32, float16, or int8 (calibrated).")
@click.option("--output", required=True, type=click.Path(path_type=Path),
              help="SavedModel directory (for TF Serving: MODEL/VERSION) or FILE.tflite.")
@click.option("--width", default=320, show_default=True, type=click.IntRange(min=8),
              help="TFLite input width, px (multiple of 4); wider lines are squeezed.")
@click.option("--dataset-dir", type=EXISTING_DIR,
              help="Record directory whose train lines calibrate int8 [default: lines rendered "
                   "from the model's charset with the bundled corpus and fonts].")
@click.option("--calibration-lines", default=200, show_default=True, type=click.IntRange(min=1),
              help="Line images used to calibrate int8.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@_user_errors
def export_cmd(weights_path, fmt, quantize, output, width, dataset_dir, calibration_lines,
               overwrite):
    """Export a model as a SavedModel or a TFLite file (fp32, fp16, int8), with its char dict."""
    from toolkit.export import export  # a stage module: see the module docstring

    kwargs = {"overwrite": overwrite}
    if fmt == "tflite":
        kwargs.update(width=width, calibration_dir=dataset_dir,
                      calibration_lines=calibration_lines)
    path = export(_default_weights(weights_path), output, fmt=fmt, quantize=quantize, **kwargs)
    size = (path.stat().st_size if path.is_file()
            else sum(f.stat().st_size for f in path.rglob("*") if f.is_file()))
    click.echo(f"{path}: {fmt} {quantize}, {size / 1e6:.2f} MB")


@main.command("quickstart")
@click.option("--output-dir", default=Path("quickstart_output"), show_default=True, type=OUT_DIR)
@click.option("--num-images", default=None, type=click.IntRange(min=10),
              help="Images to generate [default: sized to finish in under 20 minutes on 2 cores].")
@click.option("--steps", default=None, type=click.IntRange(min=2), help="Training steps.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="gen-images workers [default: CPU count, at most 4].")
@_user_errors
def quickstart_cmd(output_dir, num_images, steps, workers):
    """Run every stage on the bundled corpus and fonts, resume once, test, and demo."""
    from toolkit.quickstart import QuickstartConfig, run_quickstart  # stage modules: see the docstring

    cfg = replace(QuickstartConfig(), **{k: v for k, v in (("num_images", num_images), ("steps", steps),
                                            ("workers", workers)) if v is not None})
    run_quickstart(output_dir, cfg, echo=click.echo)


@main.command("compare")
@click.option("--labels", "label_files", required=True, multiple=True, type=EXISTING_FILE,
              help="Label file 'path<TAB>label' or 'path label', images relative to its directory "
                   "(repeatable: one set each).")
@click.option("--engines", default="toolkit,tesseract,ppocr", show_default=True,
              help="Comma-separated engines: toolkit, tesseract, ppocr.")
@click.option("--weights-path", default=None, type=MODEL_PATH,
              help="The toolkit model (default: the bundled model).")
@click.option("--output", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the Markdown table here.")
@click.option("--skip-unavailable", is_flag=True,
              help="Leave out engines whose optional dependency is missing instead of failing.")
@_user_errors
def compare_cmd(label_files, engines, weights_path, output, skip_unavailable):
    """Score this toolkit's model, Tesseract and PP-OCRv4 on the same line images.

    Prints CER, line accuracy, lines/s and single-line latency per engine as a Markdown table.
    Install the peers with `bash tools/install_compare_peers.sh`.
    """
    from toolkit.compare import (  # a stage module: see the module docstring
        EngineUnavailable,
        compare,
        markdown_report,
        markdown_table,
    )

    names = [e.strip() for e in engines.split(",") if e.strip()]
    try:
        results = compare(label_files, names, weights_path, skip_unavailable=skip_unavailable)
    except EngineUnavailable as e:
        raise click.ClickException(f"{e}; or pass --skip-unavailable") from e
    click.echo(markdown_table(results))
    if output is not None:
        atomic_write_text(output, markdown_report(results))


if __name__ == "__main__":  # pragma: no cover
    main()
