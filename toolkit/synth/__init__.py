"""Synthesis stage (``gen-images``): render corpus text segments into grey text-line images.

Every image is one short segment of a corpus line, drawn with a font face that has a glyph for each of its
characters (checked against the face's cmap, see :mod:`toolkit.fonts`), with random size, margins,
character spacing, grey levels, slight rotation, blur, noise and JPEG quality, then scaled to a fixed
height. The output directory holds::

    images/0000/00000000.jpg ...   one file per image, 1000 per folder
    Train/sample.txt               "images/0000/00000000.jpg 春风又绿江南岸" lines, sorted by index
    Test/sample.txt                the same for the held-out texts
    chinese.txt                    every distinct non-whitespace char of the labels, by code point
    preview.png                    a contact sheet of the first images with their labels
    gen_config.json                the resolved SynthConfig, seed, inputs and counts

Determinism: image ``i`` draws everything (its text, face and rendering) from
``numpy.random.default_rng([seed, i])``, so the same seed gives byte-identical files whatever the number
of worker processes. The train/test split depends only on the text (:func:`is_test_text`), so a test text
never appears in the training list, whatever the seed or the sharding.

Sharding (a job array on a cluster scheduler): ``gen_images(..., shard_index=I, num_shards=N)``
renders only the contiguous block of indices :func:`shard_range` gives shard ``I`` into the shared
``images/`` folder, and writes its lists under ``shards/<I>-of-<N>/`` (``Train/sample.txt``,
``Test/sample.txt``, ``chinese.txt``, ``gen_config.json``, the last one last). When all ``N`` are
done, :func:`merge_gen_shards` writes the usual ``Train/sample.txt``, ``Test/sample.txt``,
``chinese.txt``, ``preview.png`` and ``gen_config.json``. Since image ``i`` depends only on
``(seed, i)``, the merged output is the same, file for file, whatever ``N`` is (``gen_config.json``
adds ``"shards": N``).

The package has one module per concern:

- :mod:`toolkit.synth.config`: :class:`SynthConfig`, :data:`AUGMENT_PRESETS`, overrides from JSON;
- :mod:`toolkit.synth.sampling`: text units, the segment sampler and the train/test split;
- :mod:`toolkit.synth.render`: glyphs, masks, warps, :func:`render_line` and JPEG encoding;
- :mod:`toolkit.synth.degrade`: the real-world degradations ``render_line`` applies (the ``real``
  preset): neighbouring lines, rules, screenshot-like rendering, perspective, curves, motion blur,
  paper textures, patterns and colour;
- :mod:`toolkit.synth.pool`: the worker pool that renders and writes the images;
- :mod:`toolkit.synth.layout`, :mod:`toolkit.synth.preview`, :mod:`toolkit.synth.dataset`: the
  output layout, the contact sheet, and :func:`gen_images` / :func:`merge_gen_shards`.
"""

from toolkit.synth.config import (
    AUGMENT_PRESETS,
    ConfigValueError,
    SynthConfig,
    read_config_overrides,
    resolve_config,
)
from toolkit.synth.dataset import (
    GEN_CONFIG_FORMAT_VERSION,
    GenSummary,
    gen_images,
    merge_gen_shards,
)
from toolkit.synth.layout import SHARDS_DIR, image_relpath, shard_dir, shard_range
from toolkit.synth.render import CORNER_PUNCT, encode_jpeg, render_line
from toolkit.synth.sampling import is_test_text, text_units

__all__ = [
    "AUGMENT_PRESETS",
    "CORNER_PUNCT",
    "ConfigValueError",
    "GEN_CONFIG_FORMAT_VERSION",
    "SHARDS_DIR",
    "GenSummary",
    "SynthConfig",
    "encode_jpeg",
    "gen_images",
    "image_relpath",
    "is_test_text",
    "merge_gen_shards",
    "read_config_overrides",
    "render_line",
    "resolve_config",
    "shard_dir",
    "shard_range",
    "text_units",
]
