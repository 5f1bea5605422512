"""Latin text faces (``fonts/latin/``, style ``latin``): the ASCII chars of a line drawn in a Latin
face (``SynthConfig.latin_face_prob``), and what gen-images and the bundled library do with them.

The Chinese face is ``tests/data/tiny_cjk.otf`` (21 hanzi and ASCII); the Latin face is the bundled
``fonts/latin/DejaVuSansMono.woff2``, whose monospaced ASCII differs from the Noto Latin of the tiny face.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from toolkit.fonts import LATIN_STYLE, STYLES, FontError, load_font, load_font_dir, read_manifest
from toolkit.paths import bundled_font_dir, bundled_latin_font_dir
from toolkit.synth import SynthConfig, gen_images, render_line
from toolkit.synth.render import LATIN_FACE_CHARS, text_mask

TINY = Path(__file__).parent / "data" / "tiny_cjk.otf"
# Every draw of text_mask has a fixed outcome here, so where the Latin draw shifts the random
# stream the pixels still compare.
FIXED = SynthConfig(margin_x=(0.0, 0.0), margin_y=(0.0, 0.0), spacing_prob=0.0)


@pytest.fixture(scope="module")
def chinese():
    return load_font(TINY)


@pytest.fixture(scope="module")
def mono():
    return load_font(bundled_latin_font_dir() / "DejaVuSansMono.woff2", style=LATIN_STYLE)


def mask(text, face, config, latin=()):
    return np.asarray(text_mask(text, face, np.random.default_rng(0), config, size=30, latin_faces=latin))


def test_ascii_chars_are_drawn_in_the_latin_face(chinese, mono):
    on = dataclasses.replace(FIXED, latin_face_prob=1.0)
    mixed = mask("Ab1", chinese, on, [mono])
    assert mixed.shape == mask("Ab1", mono, FIXED).shape
    assert (mixed == mask("Ab1", mono, FIXED)).all()  # every char from the Latin face
    assert mixed.shape != mask("Ab1", chinese, FIXED).shape or (mixed != mask("Ab1", chinese, FIXED)).any()
    # hanzi (and the space) stay in the Chinese face: the line without ASCII is unchanged
    assert (mask("春 风", chinese, on, [mono]) == mask("春 风", chinese, FIXED)).all()


def test_off_or_without_latin_faces_the_random_stream_is_unchanged(chinese, mono):
    robust = SynthConfig(spacing_prob=0.5, jitter_prob=0.5, rotation_prob=0.5, noise_prob=0.5)
    text = "春风Ab12明月"
    base = np.asarray(render_line(text, chinese, np.random.default_rng(5), robust))
    # latin_face_prob 0 with Latin faces, or > 0 without any: the same pixels as before it existed
    assert (np.asarray(render_line(text, chinese, np.random.default_rng(5), robust, [mono])) == base).all()
    with_prob = dataclasses.replace(robust, latin_face_prob=1.0)
    assert (np.asarray(render_line(text, chinese, np.random.default_rng(5), with_prob)) == base).all()


def test_latin_face_prob_is_checked():
    with pytest.raises(ValueError, match="latin_face_prob"):
        SynthConfig(latin_face_prob=1.5)


def test_the_bundled_latin_faces_are_a_manifest_style_of_their_own():
    entries = read_manifest(bundled_font_dir() / "fonts.json")
    latin = [e for e in entries if e.style == LATIN_STYLE]
    assert len(latin) >= 10 and all(e.path.parent.name == "latin" and not e.heldout for e in latin)
    assert LATIN_STYLE not in STYLES
    faces = load_font_dir(bundled_latin_font_dir())
    assert len(faces) == len(latin) and {f.style for f in faces} == {LATIN_STYLE}
    assert all({chr(c) for c in f.codepoints} >= LATIN_FACE_CHARS for f in faces)  # all of ASCII
    assert all(not f.covers("的") for f in faces)
    # the training default (the top level of fonts/) holds none of them
    assert all(f.style != LATIN_STYLE for f in load_font_dir(bundled_font_dir()))
    manifest = json.loads((bundled_font_dir() / "fonts.json").read_text(encoding="utf-8"))
    for item in manifest["faces"]:
        if item["style"] == LATIN_STYLE:
            assert item["licence"] and all((bundled_font_dir() / f).is_file() for f in item["licence_files"])


def test_gen_images_uses_latin_faces_for_ascii_only(tmp_path, chinese, mono):
    corpus = tmp_path / "c.txt"
    corpus.write_text("春风明月Ab\n天人山水12\n", encoding="utf-8")
    config = SynthConfig(min_chars=2, max_chars=6, latin_face_prob=1.0)
    summary = gen_images([corpus], [chinese, mono], tmp_path / "out", 6, config=config, progress=False)
    assert summary.num_failed == 0
    record = json.loads((tmp_path / "out" / "gen_config.json").read_text(encoding="utf-8"))
    assert [f["style"] for f in record["fonts"]] == [None, LATIN_STYLE]
    assert record["config"]["latin_face_prob"] == 1.0
    # a Latin face alone cannot draw the lines: a clear error, before anything is written
    with pytest.raises(FontError, match="only Latin text faces"):
        gen_images([corpus], [mono], tmp_path / "none", 2, config=config, progress=False)
    assert not (tmp_path / "none" / "gen_config.json").exists()


def test_cli_default_fonts_add_the_latin_faces_when_asked(tmp_path):
    from click.testing import CliRunner

    from toolkit.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("春风明月Ab\n", encoding="utf-8")
    on = tmp_path / "on.json"
    on.write_text('{"latin_face_prob": 0.5}', encoding="utf-8")
    styles = {}
    for name, extra in (("off", []), ("on", ["--config", str(on)])):
        result = CliRunner().invoke(main, ["gen-images", "--corpus", str(corpus), "--output-dir",
                                           str(tmp_path / name), "--num-images", "2",
                                           "--min-chars", "2", *extra])
        assert result.exit_code == 0, result.output
        fonts = json.loads((tmp_path / name / "gen_config.json").read_text(encoding="utf-8"))["fonts"]
        styles[name] = [f["style"] for f in fonts]
    assert LATIN_STYLE not in styles["off"]
    assert styles["on"].count(LATIN_STYLE) == len(load_font_dir(bundled_latin_font_dir()))
    assert [s for s in styles["on"] if s != LATIN_STYLE] == styles["off"]


def test_latin_probe_draws_the_same_texts_twice_differing_only_in_the_ascii(tmp_path, load_tool):
    probe = load_tool("build_latin_probe")
    labels = tmp_path / "dev.txt"
    labels.write_text("a.jpg\t版本v2见README\nb.jpg\t春风明月\nc.jpg\t共3页\n", encoding="utf-8")
    assert probe.read_texts([labels]) == ["版本v2见README", "共3页"]  # the lines with ASCII
    out = tmp_path / "probe"
    n = probe.build(probe.read_texts([labels]), out, ("song", "hei"))
    own = (out / "own.txt").read_text(encoding="utf-8").splitlines()
    latin = (out / "latin.txt").read_text(encoding="utf-8").splitlines()
    assert n == len(own) == len(latin) == 4  # 2 texts x 2 faces
    assert [r.split("\t")[1] for r in own] == [r.split("\t")[1] for r in latin]
    from PIL import Image

    pairs = [(np.asarray(Image.open(out / a.split("\t")[0])), np.asarray(Image.open(out / b.split("\t")[0])))
             for a, b in zip(own, latin, strict=True)]
    assert all(a.shape != b.shape or (a != b).any() for a, b in pairs)  # the ASCII is drawn anew
    bad = tmp_path / "bad.txt"
    bad.write_text("no tab here\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="bad.txt:1"):
        probe.read_texts([bad])
