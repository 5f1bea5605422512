"""Font coverage (empty glyphs count as missing), WOFF2 faces, font directories and their manifests,
style-balanced face sampling, and the bundled font library's manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont
from PIL import ImageFont

from tests.conftest import TINY_CHARS
from toolkit.cli import main
from toolkit.fonts import (
    LATIN_STYLE,
    STYLES,
    FaceSampler,
    FontError,
    FontFace,
    empty_codepoints,
    load_font,
    load_font_dir,
    read_manifest,
    style_weights,
)

REPO = Path(__file__).resolve().parents[1]
FONTS = REPO / "fonts"


@pytest.fixture(autouse=True)
def _font_cache(tmp_path, monkeypatch):
    """Decompressed WOFF2 copies go to this test's own folder."""
    monkeypatch.setenv("CRNN_TOOLKIT_CACHE", str(tmp_path / "cache"))


def _box(pen, x0=100, y0=0, x1=500, y1=600):
    pen.moveTo((x0, y0))
    pen.lineTo((x0, y1))
    pen.lineTo((x1, y1))
    pen.lineTo((x1, y0))
    pen.closePath()


def make_font(path: Path, cff: bool) -> Path:
    """A 5-glyph font: 'A' and '春' are boxes, 'B' maps to an empty outline, space is empty (as a space
    should be); in the TrueType variant 'C' is a composite of the empty glyph and '风' a composite of
    the box."""
    names = [".notdef", "box", "empty", "space"] + ([] if cff else ["comp_empty", "comp_box"])
    cmap = {ord("A"): "box", ord("春"): "box", ord("B"): "empty", ord(" "): "space"}
    if not cff:
        cmap.update({ord("C"): "comp_empty", ord("风"): "comp_box"})
    fb = FontBuilder(1000, isTTF=not cff)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap(cmap)
    if cff:
        glyphs = {}
        for name in names:
            pen = T2CharStringPen(600, None)
            if name in (".notdef", "box"):
                _box(pen)
            glyphs[name] = pen.getCharString()
        fb.setupCFF("TestCFF", {"FullName": "Test CFF"}, glyphs, {})
    else:
        glyphs = {}
        for name in names:
            pen = TTGlyphPen(glyphs)  # components refer to the glyphs built before them
            if name in (".notdef", "box"):
                _box(pen)
            elif name == "comp_empty":
                pen.addComponent("empty", (1, 0, 0, 1, 0, 0))
            elif name == "comp_box":
                pen.addComponent("box", (1, 0, 0, 1, 50, 0))
            glyphs[name] = pen.glyph()
        fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({n: (600, 100) for n in names})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": "Empty Test", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, sTypoDescender=-120, usWinAscent=880, usWinDescent=120)
    fb.setupPost()
    fb.save(str(path))
    return path


@pytest.mark.parametrize("cff", [False, True])
def test_empty_glyphs_count_as_missing(tmp_path, cff, caplog):
    path = make_font(tmp_path / ("e.otf" if cff else "e.ttf"), cff)
    with caplog.at_level(logging.WARNING, logger="toolkit.fonts"):
        face = load_font(path)
    empty = {ord("B")} | (set() if cff else {ord("C")})
    assert face.empty == frozenset(empty)
    assert ord("A") in face.codepoints and ord("春") in face.codepoints
    assert ord(" ") in face.codepoints  # a space draws nothing by design: still covered
    assert not empty & face.codepoints
    assert face.covers("A 春") and not face.covers("AB")
    assert face.missing("ABBA") == ["B"]
    if not cff:
        assert ord("风") in face.codepoints  # a composite of an inked glyph is inked
    assert f"{len(empty)} chars of its cmap draw nothing" in caplog.text


def test_empty_codepoints_on_tiny_font(tiny_font):
    font = TTFont(str(tiny_font), lazy=True)
    assert empty_codepoints(font) == frozenset()
    face = load_font(tiny_font)
    assert face.covers(TINY_CHARS) and face.empty == frozenset() and face.render_path == tiny_font


def _woff2(src: Path, out: Path) -> Path:
    pytest.importorskip("brotli")
    font = TTFont(str(src))
    font.flavor = "woff2"
    font.save(str(out))
    return out


def test_woff2_face_renders_from_its_decompressed_copy(tmp_path, tiny_font):
    woff2 = _woff2(tiny_font, tmp_path / "tiny.woff2")
    face = load_font(woff2)
    plain = load_font(tiny_font)
    assert face.path == woff2 and face.spec == f"{woff2}:0"
    assert face.render_path.parent == tmp_path / "cache" / "fonts"
    assert face.render_path.suffix == ".otf" and face.codepoints == plain.codepoints
    assert load_font(woff2).render_path == face.render_path  # decompressed once, then reused
    a, b = ImageFont.truetype(str(tiny_font), 30), ImageFont.truetype(str(face.render_path), 30)
    for ch in "春风明月A1":
        assert bytes(a.getmask2(ch, "L")[0]) == bytes(b.getmask2(ch, "L")[0])


def test_unwritable_cache_is_a_clear_error(tmp_path, tiny_font, monkeypatch):
    woff2 = _woff2(tiny_font, tmp_path / "tiny.woff2")
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    monkeypatch.setenv("CRNN_TOOLKIT_CACHE", str(blocker))
    with pytest.raises(FontError, match="cannot write its decompressed copy"):
        load_font(woff2)


def test_coverage_is_cached_by_file_bytes(tmp_path, monkeypatch, caplog):
    from toolkit import fonts as fonts_module

    path = make_font(tmp_path / "e.otf", True)
    first = load_font(path)
    cached = list((tmp_path / "cache" / "fonts" / "coverage").glob("*.json"))
    assert len(cached) == 1

    def no_read(*args):
        raise AssertionError("the font was read again despite its cached coverage")

    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger="toolkit.fonts"):
        patch.setattr(fonts_module, "_coverage", no_read)
        again = load_font(path)
    assert (again.name, again.codepoints, again.empty) == (first.name, first.codepoints, first.empty)
    assert "chars of its cmap draw nothing" in caplog.text  # the warning still comes from the cache

    cached[0].write_text("{not json", encoding="utf-8")  # a damaged entry is read past and rewritten
    assert load_font(path).codepoints == first.codepoints
    assert json.loads(cached[0].read_text(encoding="utf-8"))["format"] == 1
    make_font(path, False)  # other bytes at the same path: another key, the font is read again
    assert load_font(path).empty == frozenset({ord("B"), ord("C")})


def test_unwritable_coverage_cache_still_loads(tmp_path, tiny_font, monkeypatch):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    monkeypatch.setenv("CRNN_TOOLKIT_CACHE", str(blocker))
    assert load_font(tiny_font).covers(TINY_CHARS)


def test_load_font_rejects_unknown_style(tiny_font):
    with pytest.raises(FontError, match="style 'serif' is not one of song, hei"):
        load_font(tiny_font, style="serif")


# ---------------------------------------------------------------------------------- font dirs

def _font_dir(tmp_path, tiny_font, names=("a.otf", "b.otf", "c.otf")) -> Path:
    d = tmp_path / "lib"
    d.mkdir()
    for name in names:
        shutil.copy(tiny_font, d / name)
    return d


def _write_manifest(d: Path, faces: list[dict]) -> Path:
    path = d / "fonts.json"
    path.write_text(json.dumps({"faces": faces}), encoding="utf-8")
    return path


def test_font_dir_without_manifest(tmp_path, tiny_font):
    d = _font_dir(tmp_path, tiny_font, ("b.otf", "a.ttf"))
    (d / "notes.txt").write_text("not a font")
    _woff2(tiny_font, d / "c.woff2")
    (d / "sub").mkdir()
    shutil.copy(tiny_font, d / "sub" / "deeper.otf")  # subfolders are not read
    faces = load_font_dir(d)
    assert [f.path.name for f in faces] == ["a.ttf", "b.otf", "c.woff2"]
    assert all(f.style is None for f in faces)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FontError, match="no font file"):
        load_font_dir(tmp_path / "empty")
    with pytest.raises(FontError, match="font directory not found"):
        load_font_dir(tmp_path / "nowhere")


def test_font_dir_with_manifest(tmp_path, tiny_font, caplog):
    d = _font_dir(tmp_path, tiny_font)
    held = d / "heldout"
    held.mkdir()
    shutil.copy(tiny_font, held / "h.otf")
    _write_manifest(d, [
        {"file": "b.otf", "style": "kai", "heldout": False},
        {"file": "a.otf", "style": "song", "heldout": False, "family": "Tiny"},
        {"file": "heldout/h.otf", "style": "brush", "heldout": True},
    ])
    with caplog.at_level(logging.WARNING, logger="toolkit.fonts"):
        faces = load_font_dir(d)
    assert [(f.path.name, f.style) for f in faces] == [("b.otf", "kai"), ("a.otf", "song"),
                                                       ("c.otf", None)]
    assert "c.otf is not listed in" in caplog.text
    # the held-out folder takes its faces from the parent's manifest; the training set never has them
    assert [(f.path.name, f.style) for f in load_font_dir(held)] == [("h.otf", "brush")]


@pytest.mark.parametrize("entry, message", [
    ({"file": "a.otf", "style": "serif", "heldout": False}, "faces[0]: style 'serif' is not one of"),
    ({"file": "a.otf", "style": "kai"}, "faces[0]: 'heldout' must be true or false, got None"),
    ({"file": "../a.otf", "style": "kai", "heldout": False}, "faces[0]: 'file' '../a.otf' is not inside"),
    ({"file": "a.otf", "style": "kai", "heldout": False, "index": -1}, "'index' must be a face index"),
    ({"style": "kai", "heldout": False}, "faces[0]: 'file' must be a relative path, got None"),
])
def test_bad_manifest_entries(tmp_path, tiny_font, entry, message):
    d = _font_dir(tmp_path, tiny_font)
    _write_manifest(d, [entry])
    with pytest.raises(FontError, match=re.escape(message)):
        load_font_dir(d)


def test_manifest_listing_a_missing_file(tmp_path, tiny_font):
    d = _font_dir(tmp_path, tiny_font)
    manifest = _write_manifest(d, [{"file": "gone.otf", "style": "hei", "heldout": False}])
    with pytest.raises(FontError, match=f"{manifest}: lists .*gone.otf, which does not exist"):
        load_font_dir(d)
    manifest.write_text("{not json", encoding="utf-8")
    with pytest.raises(FontError, match="not a readable font manifest"):
        load_font_dir(d)


# ---------------------------------------------------------------------------- style balancing

def _face(name: str, style: str | None, chars: str = "春风") -> FontFace:
    return FontFace(path=Path(name), index=0, name=name, codepoints=frozenset(map(ord, chars)),
                    style=style)


def test_style_weights_give_each_style_an_equal_share():
    faces = [_face("h1", "hei"), _face("h2", "hei"), _face("h3", "hei"), _face("k", "kai"),
             _face("x", None), _face("y", None)]
    w = style_weights(faces)
    assert w == pytest.approx([1 / 12, 1 / 12, 1 / 12, 1 / 4, 1 / 4, 1 / 4])
    assert sum(w) == pytest.approx(1.0)
    assert style_weights([_face("a", None), _face("b", None)]) == [0.5, 0.5]
    assert style_weights([]) == []


def test_sampler_balances_styles_among_covering_faces():
    faces = [_face(f"hei{i}", "hei") for i in range(6)] + [_face("kai", "kai"),
                                                           _face("brush", "brush", "春")]
    sampler = FaceSampler(faces)
    rng = np.random.default_rng(0)
    picks = Counter(sampler.choose("春风", rng).style for _ in range(6000))
    assert set(picks) == {"hei", "kai"}  # the brush face cannot draw 风
    assert abs(picks["hei"] - picks["kai"]) < 400  # 3000 each, give or take sampling noise
    picks = Counter(sampler.choose("春", rng).style for _ in range(6000))
    assert all(abs(picks[s] - 2000) < 300 for s in ("hei", "kai", "brush")), picks
    assert sampler.choose("龙", rng) is None


def test_sampler_keeps_a_style_share_when_some_of_its_faces_cannot_draw_the_text():
    # two Kai faces, one of which lacks 风; three Hei faces: Kai still gets half of the 春风 lines
    faces = [_face("kai_full", "kai"), _face("kai_trad", "kai", "春"),
             *(_face(f"hei{i}", "hei") for i in range(3))]
    rng = np.random.default_rng(1)
    picks = Counter(FaceSampler(faces).choose("春风", rng).name for _ in range(4000))
    assert abs(picks["kai_full"] - 2000) < 250 and "kai_trad" not in picks, picks


def test_sampler_without_styles_is_the_plain_uniform_draw():
    faces = [_face(f"f{i}", None) for i in range(5)]
    sampler = FaceSampler(faces)
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    got = [sampler.choose("春", a).name for _ in range(50)]
    assert got == [faces[int(b.integers(5))].name for _ in range(50)]
    with pytest.raises(ValueError, match="faces is empty"):
        FaceSampler([])


def test_gen_images_font_dir(tmp_path, tiny_corpus, tiny_font):
    d = _font_dir(tmp_path, tiny_font, ("a.otf", "b.otf"))
    _write_manifest(d, [{"file": "a.otf", "style": "kai", "heldout": False},
                        {"file": "b.otf", "style": "hei", "heldout": False}])
    out = tmp_path / "ds"
    r = CliRunner().invoke(main, ["gen-images", "--corpus", str(tiny_corpus), "--font-dir", str(d),
                                  "--output-dir", str(out), "--num-images", "12", "--seed", "3"])
    assert r.exit_code == 0, r.output
    fonts = json.loads((out / "gen_config.json").read_text(encoding="utf-8"))["fonts"]
    assert [(Path(f["path"]).name, f["style"]) for f in fonts] == [("a.otf", "kai"), ("b.otf", "hei")]


# ------------------------------------------------------------------------ the bundled library

def _bundled_manifest() -> dict:
    path = FONTS / "fonts.json"
    if not path.is_file():
        pytest.skip("no bundled font manifest")
    return json.loads(path.read_text(encoding="utf-8"))


def test_bundled_manifest_is_valid():
    manifest = _bundled_manifest()
    entries = read_manifest(FONTS / "fonts.json")  # the toolkit's own checks
    faces = manifest["faces"]
    assert len(faces) >= 20 and len(entries) == len(faces)
    for face in faces:
        path = FONTS / face["file"]
        assert path.is_file(), face["file"]
        assert path.stat().st_size == face["bytes"], face["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == face["sha256"], face["file"]
        assert face["style"] in (*STYLES, LATIN_STYLE) and face["licence"], face["file"]
        assert (face["style"] == LATIN_STYLE) == face["file"].startswith("latin/"), face["file"]
        assert face["licence_files"] and all((FONTS / f).is_file() for f in face["licence_files"])
        assert face["source"]["package"] and face["source"]["version"] and face["source"]["sha256"]
        assert face["heldout"] == face["file"].startswith("heldout/"), face["file"]
    assert set(STYLES) <= {f["style"] for f in faces if not f["heldout"]}
    held = [f for f in faces if f["heldout"]]
    assert len(held) >= 4 and len({f["style"] for f in held}) == len(held)
    # the four Noto files of the first release keep their names
    names = {f["file"] for f in faces}
    assert {"NotoSansSC-Regular.otf", "NotoSansSC-Bold.otf", "NotoSerifSC-Regular.otf",
            "NotoSerifSC-Bold.otf"} <= names
    total = sum(p.stat().st_size for p in FONTS.rglob("*") if p.is_file())
    assert total <= 60 * 2**20, f"fonts/ weighs {total:,} bytes"


def test_no_heldout_face_in_the_default_training_set():
    manifest = _bundled_manifest()
    held = {(FONTS / f["file"]).resolve() for f in manifest["faces"] if f["heldout"]}
    train = {e.path for e in read_manifest(FONTS / "fonts.json")
             if not e.heldout and e.style != LATIN_STYLE}
    top_level = {p.resolve() for p in FONTS.iterdir() if p.is_file()}
    assert held and not held & top_level  # the default (non-recursive) globs never reach them
    assert train <= top_level
    from toolkit.paths import bundled_font_files

    assert not held & {p.resolve() for p in bundled_font_files()}


@pytest.mark.slow
def test_bundled_library_loads_with_styles():
    _bundled_manifest()
    train, held = load_font_dir(FONTS), load_font_dir(FONTS / "heldout")
    assert {f.path.resolve() for f in train}.isdisjoint({f.path.resolve() for f in held})
    assert all(f.style in STYLES for f in train + held)
    assert all(f.empty == frozenset() for f in train + held)  # the build dropped empty glyphs
    text = "明月天人山水，。0A"  # in every face, the Traditional Chinese ones included
    assert [f.name for f in train + held if not f.covers(text)] == []
