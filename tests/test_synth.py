"""Tests of the corpus, fonts and synthesis stages (no TensorFlow).

Rendering uses ``tests/data/tiny_cjk.otf``, a 21-char subset of Noto Sans CJK SC plus ASCII (see
``tests/data/README.md``), so nothing depends on the fonts installed on the machine. ``龙`` is not in it.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from fontTools.ttLib import TTCollection, TTFont
from PIL import Image, ImageDraw, ImageFont

from toolkit.corpus import CorpusError, CorpusMix, char_frequencies, read_corpus
from toolkit.fonts import FontError, FontFace, load_font
from toolkit.synth import (
    AUGMENT_PRESETS,
    GenSummary,
    SynthConfig,
    gen_images,
    is_test_text,
    render_line,
    text_units,
)
from toolkit.synth.render import text_mask

FONT = Path(__file__).parent / "data" / "tiny_cjk.otf"
FONT_CHARS = "春风明月天人山水花云江河日夜秋雨落长白，。"
UNCOVERED = "龙"

CORPUS_LINES = [
    "春风明月天人山水花云",
    "江河日夜秋雨落长白",
    "明月，山水。花云江河",
    "春江花月夜，秋雨白云",
    "天人山水 日月 风云",
    "白日落山，长河入海",  # 入海 are not in the font
    "Spring river 2024",
    "龙山龙水龙天龙人龙",  # every segment has 龙
    "风",  # shorter than min_chars: never sampled
]


@pytest.fixture(scope="module")
def face() -> FontFace:
    return load_font(FONT)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(CORPUS_LINES) + "\n", encoding="utf-8")
    return path


FAST = SynthConfig(font_size=(22, 28), test_fraction=0.3)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, corpus_file: Path) -> tuple[Path, GenSummary]:
    out = tmp_path_factory.mktemp("gen") / "out"
    summary = gen_images([corpus_file], [FONT], out, 60, seed=3, workers=1, config=FAST, progress=False,
                         skip_bad=True)
    return out, summary


def read_samples(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
        rel, label = line.split(" ", 1)
        rows.append((rel, label))
    return rows


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- corpus ---------------------------------------------------------------------------------------


def test_read_corpus_bom_crlf_blank_and_thuocl(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.txt"
    text = "\ufeff明月几时有\t1287\r\n\r\n   \r\n  春风又绿江南岸  \r\n把酒问青天\t x\t\r\n白 云\t 12 \r\n"
    path.write_bytes(text.encode("utf-8"))
    with caplog.at_level(logging.INFO, logger="toolkit.corpus"):
        lines = read_corpus(path)
    # "x\t" has no integer last field, so the whole (stripped) line is kept.
    assert lines == ["明月几时有", "春风又绿江南岸", "把酒问青天\t x", "白 云"]
    assert "2 blank lines skipped" in caplog.text


def test_read_corpus_cr_only_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes("春风\r明月\r\r天".encode())
    assert read_corpus(path) == ["春风", "明月", "天"]


def test_read_corpus_invalid_utf8_names_file_line_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes("春风\r\n明月\n".encode() + b"ok \xff\xfe here\n")
    with pytest.raises(CorpusError) as info:
        read_corpus(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message
    assert r"b'\xff'" in message


def test_char_frequencies_ignores_whitespace() -> None:
    counts = char_frequencies(["明月 明", "月\t天"])
    assert counts == {"明": 2, "月": 2, "天": 1}


# -- fonts ----------------------------------------------------------------------------------------


def test_load_font_rejects_a_non_font_file(tmp_path: Path) -> None:
    path = tmp_path / "fake.otf"
    path.write_text("not a font", encoding="utf-8")
    with pytest.raises(FontError, match="fake.otf"):
        load_font(path)


def test_load_font_missing_file_and_bad_index(tmp_path: Path) -> None:
    with pytest.raises(FontError, match="not found"):
        load_font(tmp_path / "missing.otf")
    with pytest.raises(FontError, match="not a font collection"):
        load_font(f"{FONT}:1")


def test_tiny_font_coverage(face: FontFace) -> None:
    assert face.index == 0
    assert "Noto Sans CJK SC" in face.name
    assert face.covers(FONT_CHARS + "Az09")
    assert face.covers("春 风\u3000明")  # whitespace always counts as covered
    assert not face.covers("春" + UNCOVERED)
    assert face.missing("龙春凤龙 ") == ["龙", "凤"]
    assert len(face.codepoints) == 21 + 10 + 52 + 1


def test_load_font_collection_face_index(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    collection = TTCollection()
    collection.fonts = [TTFont(FONT), TTFont(FONT)]
    path = tmp_path / "pair.ttc"
    collection.save(path)
    assert load_font(f"{path}:1").index == 1
    with caplog.at_level(logging.WARNING, logger="toolkit.fonts"):
        assert load_font(path).index == 0
    assert "collection" in caplog.text and "1: Noto Sans CJK SC" in caplog.text
    with pytest.raises(FontError, match="no face 5"):
        load_font(f"{path}:5")


# -- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("height", 0),
        ("min_chars", 0),
        ("max_chars", 2),  # below min_chars=4
        ("font_size", (30, 20)),
        ("test_fraction", 1.5),
        ("top_chars", 0),
        ("image_format", "gif"),
        ("jpeg_quality", (0, 90)),
        ("ink", (0, 200)),  # reaches the paper range
        ("blur_prob", -0.1),
        ("font_size", 30),
        ("balance", 1.5),
        ("jitter_scale", (1.2, 0.9)),
        ("stretch", (0.0, 1.0)),
        ("max_shear", 2.0),
        ("downscale", (0.05, 0.5)),
        ("warp_prob", 1.5),
        ("warp", (0.1, 0.05)),
        ("rise_prob", -0.1),
        ("rise", (0.0, 0.6)),
        ("punct_center_prob", 1.5),
        ("question_prob", -0.1),
    ],
)
def test_synth_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field) as info:
        SynthConfig(**{field: value})
    assert repr(value) in str(info.value) or str(value) in str(info.value)


def test_synth_config_dict_round_trip() -> None:
    config = SynthConfig(font_size=(24, 30), top_chars=100)
    again = SynthConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    with pytest.raises(ValueError, match="nonsense"):
        SynthConfig.from_dict({"nonsense": 1})


# -- render_line ----------------------------------------------------------------------------------

CLEAN = SynthConfig(rotation_prob=0.0, blur_prob=0.0, noise_prob=0.0, gradient_prob=0.0, spacing_prob=0.0,
                    margin_x=(0.1, 0.1), margin_y=(0.05, 0.05), font_size=(32, 32), ink=(0, 0),
                    paper=(255, 255))


def test_robust_preset_is_a_valid_config_and_renders(face: FontFace) -> None:
    config = SynthConfig(**AUGMENT_PRESETS["robust"])
    assert config.balance > 0 and config.jitter_prob > 0 and config.downscale_prob > 0
    for seed in range(30):
        image = render_line("春风明月天人山水", face, np.random.default_rng(seed), config)
        pixels = np.asarray(image)
        assert image.height == 32 and image.mode == "L"
        assert pixels.min() < 128 < pixels.max(), seed  # ink and paper both visible


def test_shear_and_stretch_change_the_width_as_documented(face: FontFace) -> None:
    text = "春风明月天人"
    plain = render_line(text, face, np.random.default_rng(0), CLEAN)
    wide = render_line(text, face, np.random.default_rng(0), replace_config(CLEAN, stretch=(1.5, 1.5)))
    assert abs(wide.width - 1.5 * plain.width) <= 2
    sheared = render_line(text, face, np.random.default_rng(0),
                          replace_config(CLEAN, shear_prob=1.0, max_shear=0.3))
    # |slope| * height is added at render size; at height 32 that is up to 0.3 * 32 px.
    assert plain.width <= sheared.width <= plain.width + 0.3 * 32 + 2


def test_aliased_rendering_has_only_ink_and_paper(face: FontFace) -> None:
    aliased = np.asarray(render_line("春风明月", face, np.random.default_rng(0),
                                     replace_config(CLEAN, aliased_prob=1.0, font_size=(32, 32))))
    smooth = np.asarray(render_line("春风明月", face, np.random.default_rng(0), CLEAN))
    # The height scaling (32 px render -> 32 px line, tiny factor) keeps few grey levels when aliased.
    grey = lambda a: np.mean((a > 40) & (a < 215))  # noqa: E731
    assert grey(aliased) < grey(smooth)


def test_stroke_and_jitter_change_pixels_not_size(face: FontFace) -> None:
    base = np.asarray(render_line("春风明月", face, np.random.default_rng(3), CLEAN))
    bold = np.asarray(render_line("春风明月", face, np.random.default_rng(3),
                                  replace_config(CLEAN, stroke_prob=1.0, font_size=(24, 24))))
    base24 = np.asarray(render_line("春风明月", face, np.random.default_rng(3),
                                    replace_config(CLEAN, font_size=(24, 24))))
    assert bold.shape[0] == base24.shape[0] == 32
    # A 3x3 max filter at a 24 px render size is always the bolder one: more ink.
    assert (bold < 128).mean() > 1.2 * (base24 < 128).mean()
    jittered = np.asarray(render_line("春风明月", face, np.random.default_rng(3),
                                      replace_config(CLEAN, jitter_prob=1.0, jitter_offset=0.15)))
    assert jittered.shape != base.shape or not np.array_equal(jittered, base)


def _clean_and_changed(face: FontFace, text: str, seed: int, **changes) -> tuple[np.ndarray, np.ndarray]:
    """The same text and seed rendered with CLEAN and with CLEAN plus ``changes``, float32 pixels."""
    return tuple(np.asarray(render_line(text, face, np.random.default_rng(seed), config), dtype=np.float32)
                 for config in (CLEAN, replace_config(CLEAN, **changes)))


def test_warp_changes_glyph_shapes_not_size_or_ink(face: FontFace) -> None:
    plain, warped = _clean_and_changed(face, "春风明月天人", 5, warp_prob=1.0, warp=(0.05, 0.05))
    assert warped.shape == plain.shape
    # Shapes move: many pixels change by more than half the ink-paper contrast ...
    assert np.mean(np.abs(warped - plain) > 128) > 0.02
    # ... but the ink is moved, not lost or cut at the edges: its total stays within 15%.
    assert abs((255 - warped).sum() / (255 - plain).sum() - 1) < 0.15


def test_warp_keeps_the_edges_and_is_the_identity_at_zero_strength() -> None:
    from toolkit.synth.render import warp_mask

    mask = np.zeros((30, 90), dtype=np.uint8)
    mask[:, :3] = mask[:, -3:] = 255  # ink touching the left and right edges
    mask[:2, :] = mask[-2:, :] = 255  # and the top and bottom
    same = np.asarray(warp_mask(Image.fromarray(mask), 0.0, 10.0, np.random.default_rng(0)))
    assert np.array_equal(same, mask)
    moved = np.asarray(warp_mask(Image.fromarray(mask), 3.0, 10.0, np.random.default_rng(0)))
    assert not np.array_equal(moved, mask)
    # Edge points slide along the edges only, so the edge rows and columns keep their ink.
    assert moved[:, 0].min() == moved[:, -1].min() == moved[0, :].min() == moved[-1, :].min() == 255


@pytest.mark.parametrize("font", [FONT, Path(__file__).parents[1] / "fonts" / "NotoSerifSC-Regular.otf"])
@pytest.mark.parametrize("aliased", [False, True])
def test_glyph_fast_path_draws_what_imagedraw_draws(font: Path, aliased: bool) -> None:
    # The glyph cache's getmask2 path (Pillow's private Image.Image()._new) must give the public
    # ImageDraw path's pixels and offsets, at odd and even sizes, anti-aliased or not; a Pillow
    # upgrade that changes either breaks this test, not the datasets.
    from toolkit.synth.render import draw_glyph, draw_glyph_imagedraw, draw_glyph_mask

    assert draw_glyph is draw_glyph_mask  # the fast path is the one in use with this Pillow
    for size in (9, 22, 31, 48):
        pil_font = ImageFont.truetype(str(font), size)
        for ch in FONT_CHARS:
            slow, fast = draw_glyph_imagedraw(pil_font, ch, aliased), draw_glyph_mask(pil_font, ch, aliased)
            assert slow is not None and fast is not None
            assert fast[1:] == slow[1:], (size, ch)
            assert fast[0].dtype == np.uint8 and np.array_equal(fast[0], slow[0]), (size, ch)
    assert draw_glyph_mask(ImageFont.truetype(str(font), 20), " ", aliased) is None


def test_encode_jpeg_round_trips_a_grey_line(face: FontFace) -> None:
    from toolkit.synth import encode_jpeg

    line = render_line("春风明月", face, np.random.default_rng(0), CLEAN)
    data = {q: encode_jpeg(line, q) for q in (20, 95)}
    with Image.open(io.BytesIO(data[95])) as decoded:
        assert decoded.format == "JPEG" and decoded.mode == "L" and decoded.size == line.size
        error = np.abs(np.asarray(decoded, dtype=np.float32) - np.asarray(line, dtype=np.float32))
    assert error.mean() < 3.0
    assert len(data[20]) < len(data[95])  # the quality is applied


def test_rise_lifts_the_right_side_of_each_glyph() -> None:
    from toolkit.synth.render import rise_glyph

    glyph = np.zeros((20, 40), dtype=np.uint8)
    glyph[9:11, :] = 255  # one horizontal stroke across the whole glyph
    risen, top = rise_glyph(glyph, -30, 0.1)
    assert risen.shape == (24, 40)  # 4 more rows (0.1 * 40), no column lost
    assert top == -32  # the middle column stays where it was
    rows = lambda col: np.flatnonzero(risen[:, col] > 128)  # noqa: E731
    # The stroke now rises to the right: 4 px lower on the left than on the right, same ink.
    assert rows(1).mean() - rows(38).mean() == pytest.approx(3.7, abs=0.6)
    assert abs(risen.astype(float).sum() / glyph.astype(float).sum() - 1) < 0.05


def test_rise_off_draws_no_random_numbers(face: FontFace) -> None:
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    render_line("春风明月", face, rng_a, replace_config(CLEAN, rise=(0.3, 0.3)))
    render_line("春风明月", face, rng_b, CLEAN)
    assert rng_a.random() == rng_b.random()
    plain, risen = _clean_and_changed(face, "春风明月天人", 5, rise_prob=1.0, rise=(0.1, 0.1))
    assert not np.array_equal(plain, risen)


def test_punct_center_moves_corner_punctuation_to_the_middle_of_its_em_box(face: FontFace) -> None:
    tight = replace_config(CLEAN, margin_x=(0.0, 0.0), margin_y=(0.0, 0.0))
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    text_mask("。", face, rng_a, tight)  # punct_center_prob 0: no random number drawn for it
    text_mask("。", face, rng_b, replace_config(tight, question_prob=1.0))
    assert rng_a.random() == rng_b.random()

    def placement(config: SynthConfig, text: str) -> tuple[float, int]:
        """Middle row of the last char's ink as a fraction of the em box height (the mask's, with
        no margins), and the blank columns between the two chars' ink, px."""
        mask = np.asarray(text_mask(text, face, np.random.default_rng(0), config))
        inked = np.flatnonzero(mask.max(0) > 128)
        gap = int(np.sum(np.diff(inked) - 1))
        last = mask[:, inked[np.flatnonzero(np.diff(inked) > 1)[-1] + 1]:]
        rows = np.flatnonzero(last.max(1) > 128)
        return (rows[0] + rows[-1]) / 2 / mask.shape[0], gap

    (corner_y, corner_gap) = placement(tight, "月。")
    (centred_y, centred_gap) = placement(replace_config(tight, punct_center_prob=1.0), "月。")
    assert corner_y > 0.7  # the face draws 。 at the bottom left of its em box (32 px font)
    assert abs(centred_y - 0.5) < 0.1 and centred_gap >= corner_gap + 4
    # Other chars stay where the face puts them.
    assert placement(tight, "月天") == placement(replace_config(tight, punct_center_prob=1.0), "月天")


def test_question_prob_turns_full_stops_into_question_marks(tmp_path: Path, corpus_file: Path) -> None:
    noto = Path(__file__).parents[1] / "fonts" / "NotoSansSC-Regular.otf"  # has a ？ glyph
    config = SynthConfig(font_size=(22, 28), test_fraction=0.0, question_prob=1.0)
    gen_images([corpus_file], [noto], tmp_path / "q", 60, seed=1, workers=1, config=config,
               progress=False)
    texts = [label for _, label in read_samples(tmp_path / "q" / "Train" / "sample.txt")]
    assert not any("。" in t for t in texts)
    assert any("？" in t for t in texts)  # the corpus's two lines with a 。 are sampled


def test_halfwidth_punct_prob_writes_ascii_punctuation_in_text_and_label(
        tmp_path: Path, corpus_file: Path) -> None:
    from toolkit.synth.config import halfwidth_punct

    assert halfwidth_punct("“明月”，（春风）。山：水；花！云？‘天’") == '"明月",(春风).山:水;花!云?\'天\''
    noto = Path(__file__).parents[1] / "fonts" / "NotoSansSC-Regular.otf"  # has the ASCII forms
    config = SynthConfig(font_size=(22, 28), test_fraction=0.0, halfwidth_punct_prob=1.0)
    gen_images([corpus_file], [noto], tmp_path / "h", 60, seed=1, workers=1, config=config,
               progress=False)
    texts = [label for _, label in read_samples(tmp_path / "h" / "Train" / "sample.txt")]
    assert not any("，" in t or "。" in t for t in texts)
    assert any("," in t or "." in t for t in texts)  # the corpus's lines with ， or 。 are sampled
    off = replace_config(config, halfwidth_punct_prob=0.0)
    gen_images([corpus_file], [noto], tmp_path / "o", 60, seed=1, workers=1, config=off,
               progress=False)
    plain = [label for _, label in read_samples(tmp_path / "o" / "Train" / "sample.txt")]
    assert any("，" in t or "。" in t for t in plain)
    assert [halfwidth_punct(t) for t in plain] == texts  # the same draws, only the punctuation differs


def test_warp_off_draws_no_random_numbers(face: FontFace) -> None:
    # Configs without the warp (older datasets' gen_config.json) must render the same pixels as
    # before the field existed: with warp_prob 0 the generator is not advanced by it.
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    render_line("春风明月", face, rng_a, replace_config(CLEAN, warp=(0.3, 0.3)))
    render_line("春风明月", face, rng_b, CLEAN)
    assert rng_a.random() == rng_b.random()


def test_downscale_blurs_edges(face: FontFace) -> None:
    sharp, low = _clean_and_changed(face, "春风明月", 0, downscale_prob=1.0, downscale=(0.4, 0.4))
    assert low.shape == sharp.shape
    assert not np.array_equal(low, sharp)


def test_balanced_sampling_lifts_rare_chars_and_keeps_real_text(face: FontFace) -> None:
    units = ["春风明月天人山水花云" * 20, "江河日夜秋雨落长白" * 20, "龙山"]  # 龙 is 1 char in 382
    def share(balance: float) -> tuple[float, list[str]]:
        mix = CorpusMix.from_units(units, min_chars=2, max_chars=4, balance=balance)
        texts = [mix.sample(np.random.default_rng([1, i])) for i in range(3000)]
        return sum("龙" in t for t in texts) / len(texts), texts

    natural, texts = share(0.0)
    balanced, btexts = share(1.0)
    assert natural < 0.02
    # With balance 1 every segment holds a uniformly drawn char of the 20 distinct ones: 龙 ~ 1/20.
    assert 0.03 < balanced < 0.08
    for t in texts + btexts:
        assert any(t in u for u in units), t
        assert 2 <= len(t) <= 4 or t in units


def replace_config(config: SynthConfig, **changes: object) -> SynthConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)



def test_render_line_height_mode_and_width_grows(face: FontFace) -> None:
    config = SynthConfig()
    for seed in range(5):
        short = render_line("春风", face, np.random.default_rng(seed), config)
        long = render_line("春风明月天人山水", face, np.random.default_rng(seed), config)
        assert short.mode == "L" and long.mode == "L"
        assert short.height == 32 and long.height == 32
        assert long.width > 2.5 * short.width


def test_render_line_gives_every_label_its_ctc_time_steps(face: FontFace) -> None:
    # Equal neighbours need a blank between them: 20 of one char need 39 time steps, more than a
    # line condensed to a quarter of its width gives (34 or so without the widening).
    from toolkit import preprocess

    condensed = SynthConfig(stretch=(0.25, 0.25))
    for text in ("风" * 20, "风风，" * 6):
        for seed in range(8):
            image = render_line(text, face, np.random.default_rng(seed), condensed)
            need = preprocess.ctc_min_steps(list(text))
            assert preprocess.time_steps(image.width, image.height) >= need, (text, seed, image.size)


def test_render_line_is_deterministic(face: FontFace) -> None:
    a = render_line("明月，山水。", face, np.random.default_rng(7), SynthConfig())
    b = render_line("明月，山水。", face, np.random.default_rng(7), SynthConfig())
    assert a.tobytes() == b.tobytes()


def test_render_line_corners_are_paper_even_when_rotated(face: FontFace) -> None:
    config = SynthConfig(rotation_prob=1.0, max_rotation=2.0, noise_prob=0.0, ink=(60, 90))
    threshold = (config.ink[1] + config.paper[0]) / 2
    for seed in range(20):
        pixels = np.asarray(render_line("天人山水花云", face, np.random.default_rng(seed), config))
        corners = pixels[[0, 0, -1, -1], [0, -1, 0, -1]]
        assert corners.min() > threshold, (seed, corners)


def test_render_line_keeps_all_ink_of_low_punctuation_and_descenders(face: FontFace) -> None:
    """With no margin and no rotation the crop still holds every inked pixel of ，。 and g y."""
    text = "，gy。春"
    config = SynthConfig(
        font_size=(30, 30), margin_x=(0.0, 0.0), margin_y=(0.0, 0.0), spacing_prob=0.0, rotation_prob=0.0
    )
    mask = text_mask(text, face, np.random.default_rng(0), config)
    font = ImageFont.truetype(str(FONT), 30, layout_engine=ImageFont.Layout.BASIC)
    reference = Image.new("L", (400, 120), 0)
    draw = ImageDraw.Draw(reference)
    x = 50.0
    for ch in text:
        draw.text((x, 60), ch, font=font, fill=255, anchor="ls")
        x += font.getlength(ch)
    assert np.asarray(mask, dtype=np.int64).sum() == np.asarray(reference, dtype=np.int64).sum()


def test_render_line_refuses_a_missing_glyph(face: FontFace) -> None:
    with pytest.raises(ValueError, match=UNCOVERED):
        render_line("春风" + UNCOVERED, face, np.random.default_rng(0), SynthConfig())
    with pytest.raises(ValueError):
        render_line("   ", face, np.random.default_rng(0), SynthConfig())


# -- text selection -------------------------------------------------------------------------------


def test_text_units_min_chars_and_top_chars() -> None:
    lines = ["春风 明月", "风", "春春春龙风风风", "春风春风明"]
    assert text_units(lines, SynthConfig(min_chars=4)) == ["春风 明月", "春春春龙风风风", "春风春风明"]
    # The 2 most frequent chars are 春 and 风: runs of them of >= 3 chars.
    assert text_units(lines, SynthConfig(min_chars=3, top_chars=2)) == ["春春春", "风风风", "春风春风"]


def test_is_test_text_is_a_function_of_the_text() -> None:
    texts = [f"春风{i}" for i in range(2000)]
    share = sum(is_test_text(t, 0.1) for t in texts) / len(texts)
    assert 0.07 < share < 0.13
    assert not any(is_test_text(t, 0.0) for t in texts)
    assert all(is_test_text(t, 1.0) for t in texts)


# -- gen_images -----------------------------------------------------------------------------------


def test_gen_images_writes_the_lists_and_images(generated: tuple[Path, GenSummary]) -> None:
    out, summary = generated
    train = read_samples(out / "Train" / "sample.txt")
    test = read_samples(out / "Test" / "sample.txt")
    assert len(train) == summary.num_train and len(test) == summary.num_test
    assert summary.num_train + summary.num_test + summary.num_failed == 60
    assert summary.num_test > 0 and summary.num_train > 0
    for rows in (train, test):
        indices = [int(Path(rel).stem) for rel, _ in rows]
        assert indices == sorted(indices)
        for rel, label in rows:
            index = int(Path(rel).stem)
            assert rel == f"images/{index // 1000:04d}/{index:08d}.jpg"
            assert label == label.strip() and label
            with Image.open(out / rel) as im:
                assert im.mode == "L" and im.height == 32
    assert b"\r" not in (out / "Train" / "sample.txt").read_bytes()
    written = {rel for rel, _ in train + test}
    on_disk = {str(p.relative_to(out)) for p in (out / "images").rglob("*.jpg")}
    assert written == on_disk


def test_gen_images_train_and_test_texts_are_disjoint(generated: tuple[Path, GenSummary]) -> None:
    out, _ = generated
    train = {label for _, label in read_samples(out / "Train" / "sample.txt")}
    test = {label for _, label in read_samples(out / "Test" / "sample.txt")}
    assert train and test and not train & test
    assert all(is_test_text(t, FAST.test_fraction) for t in test)
    assert not any(is_test_text(t, FAST.test_fraction) for t in train)


def test_gen_images_skips_text_no_font_covers(generated: tuple[Path, GenSummary], face: FontFace) -> None:
    out, summary = generated
    labels = [label for split in ("Train", "Test") for _, label in read_samples(out / split / "sample.txt")]
    assert all(face.covers(label) for label in labels)
    assert not any(UNCOVERED in label or "入" in label or "海" in label for label in labels)
    assert sum(summary.skipped.values()) > 0
    assert f"no font covers char {UNCOVERED} (U+9F99)" in summary.skipped
    assert summary.skipped_examples and len(summary.skipped_examples) <= 5
    assert any(UNCOVERED in t or "入" in t for t in summary.skipped_examples)
    text = summary.format()
    assert "skipped texts" in text and UNCOVERED in text and "train: " in text


def test_gen_images_chinese_txt_preview_and_config(generated: tuple[Path, GenSummary]) -> None:
    out, summary = generated
    labels = [label for split in ("Train", "Test") for _, label in read_samples(out / split / "sample.txt")]
    chars = (out / "chinese.txt").read_text(encoding="utf-8").split("\n")
    assert chars[-1] == ""
    chars = chars[:-1]
    assert chars == sorted(chars, key=ord)
    assert set(chars) == {ch for label in labels for ch in label if not ch.isspace()}
    assert len(chars) == summary.chars_used
    with Image.open(out / "preview.png") as preview:
        assert preview.width > 100 and preview.height > 100
    config = json.loads((out / "gen_config.json").read_text(encoding="utf-8"))
    assert SynthConfig.from_dict(config["config"]) == FAST
    assert config["seed"] == 3 and config["num_images"] == 60
    assert config["counts"]["train"] == summary.num_train


def test_gen_images_same_seed_same_bytes_whatever_workers(tmp_path: Path, corpus_file: Path) -> None:
    one = gen_images(
        [corpus_file], [FONT], tmp_path / "one", 40, seed=11, workers=1, config=FAST, progress=False,
        skip_bad=True,
    )
    two = gen_images(
        [corpus_file], [FONT], tmp_path / "two", 40, seed=11, workers=2, config=FAST, progress=False,
        skip_bad=True,
    )
    files_one, files_two = all_files(tmp_path / "one"), all_files(tmp_path / "two")
    assert files_one.keys() == files_two.keys()
    assert "Train/sample.txt" in files_one and "images/0000/00000039.jpg" in files_one
    for name in files_one:
        assert files_one[name] == files_two[name], name
    assert (one.num_train, one.num_test, one.skipped) == (two.num_train, two.num_test, two.skipped)
    gen_images([corpus_file], [FONT], tmp_path / "other", 40, seed=12, config=FAST, progress=False,
               skip_bad=True)
    files_other = all_files(tmp_path / "other")
    assert files_other["Train/sample.txt"] != files_one["Train/sample.txt"]
    assert files_other["images/0000/00000000.jpg"] != files_one["images/0000/00000000.jpg"]


@pytest.mark.parametrize(("owned", "workers"), [(range(40000), 2), (range(20000, 30000), 1), (range(40), 2),
                                               (range(7, 8), 4)])
def test_chunk_ranges_cover_every_image_once_largest_first(owned: range, workers: int) -> None:
    from toolkit.synth.pool import chunk_ranges

    chunks = chunk_ranges(owned, workers, sizes=(16, 1000))
    assert [i for c in chunks for i in c] == list(owned)
    sizes = [len(c) for c in chunks]
    assert all(s <= 1000 for s in sizes) and all(s >= 16 for s in sizes[:-1])
    assert sizes == sorted(sizes, reverse=True)
    if len(owned) >= 40000:
        assert len(chunks) < 100 and sizes[-2] == 16  # few tasks, a fine-grained end


def test_gen_images_workers_pool_stops_when_the_inputs_are_bad(tmp_path: Path, corpus_file: Path) -> None:
    # The 2-worker pool starts before the corpus and fonts are read; an error found while reading
    # them must still raise (not hang waiting on workers) and leave no worker process behind.
    with pytest.raises(FontError, match="in none of the fonts"):
        gen_images([corpus_file], [FONT], tmp_path / "a", 40, workers=2, config=FAST, progress=False)
    assert multiprocessing.active_children() == []
    assert not (tmp_path / "a").exists()
    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        gen_images([missing], [FONT], tmp_path / "b", 40, workers=2, config=FAST, progress=False)
    assert multiprocessing.active_children() == []


def test_gen_images_png_top_chars_and_existing_output(tmp_path: Path, corpus_file: Path) -> None:
    config = SynthConfig(font_size=(22, 24), image_format="png", top_chars=8, min_chars=2, max_chars=5)
    out = tmp_path / "out"
    summary = gen_images([corpus_file], [FONT], out, 12, seed=0, config=config, progress=False,
                         skip_bad=True)
    ranked = sorted(char_frequencies(CORPUS_LINES).items(), key=lambda kv: (-kv[1], kv[0]))
    top8 = {ch for ch, _ in ranked[:8]}
    labels = [label for split in ("Train", "Test") for _, label in read_samples(out / split / "sample.txt")]
    assert len(labels) == summary.num_written == 12
    assert all(set(label) - {" "} <= top8 for label in labels)
    assert (out / "images" / "0000" / "00000000.png").exists()
    with pytest.raises(FileExistsError, match="overwrite"):
        gen_images([corpus_file], [FONT], out, 12, seed=0, config=config, progress=False,
                   skip_bad=True)
    gen_images([corpus_file], [FONT], out, 5, seed=0, config=config, progress=False, overwrite=True,
               skip_bad=True)
    assert len(list((out / "images").rglob("*.png"))) == 5


def test_gen_images_rejects_bad_inputs(tmp_path: Path, corpus_file: Path) -> None:
    with pytest.raises(ValueError, match="num_images"):
        gen_images([corpus_file], [FONT], tmp_path / "a", 0, progress=False)
    with pytest.raises(ValueError, match="workers"):
        gen_images([corpus_file], [FONT], tmp_path / "a", 5, workers=0, progress=False)
    short = tmp_path / "short.txt"
    short.write_text("春\n风\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"at least 4 chars \(--min-chars\)"):
        gen_images([short], [FONT], tmp_path / "a", 5, progress=False)
    with pytest.raises(FontError):
        gen_images([corpus_file], [tmp_path / "none.otf"], tmp_path / "a", 5, progress=False)
