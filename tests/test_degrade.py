"""Tests of the real-world degradations (``toolkit.synth.degrade``) and the ``real`` preset.

Rendering uses ``tests/data/tiny_cjk.otf`` (see ``tests/data/README.md``), so nothing depends on the
fonts installed on the machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image, features

from toolkit.fonts import FontFace, load_font
from toolkit.synth import AUGMENT_PRESETS, SynthConfig, degrade, gen_images, render_line
from toolkit.synth.render import jpeg_round_trip, text_mask

FONT = Path(__file__).parent / "data" / "tiny_cjk.otf"
TEXT = "春风明月天人山水"

CLEAN = SynthConfig(rotation_prob=0.0, blur_prob=0.0, noise_prob=0.0, gradient_prob=0.0, spacing_prob=0.0,
                    margin_x=(0.1, 0.1), margin_y=(0.05, 0.05), font_size=(32, 32), ink=(0, 0),
                    paper=(230, 230))

EFFECTS = ["neighbour_prob", "underline_prob", "rules_prob", "screen_prob", "perspective_prob",
           "curve_prob", "motion_blur_prob", "texture_prob", "quasicrystal_prob", "colour_prob",
           "jpeg_artifact_prob"]


@pytest.fixture(scope="module")
def face() -> FontFace:
    return load_font(FONT)


def render(face: FontFace, config: SynthConfig, seed: int = 0, text: str = TEXT) -> np.ndarray:
    return np.asarray(render_line(text, face, np.random.default_rng(seed), config))


def test_every_effect_is_off_by_default_and_on_in_the_real_preset() -> None:
    defaults, robust = SynthConfig(), SynthConfig(**AUGMENT_PRESETS["robust"])
    real = SynthConfig(**AUGMENT_PRESETS["real"])
    for name in EFFECTS:
        assert getattr(defaults, name) == 0.0 and getattr(robust, name) == 0.0, name
        assert getattr(real, name) > 0.0, name
    # real extends robust: every robust setting it does not raise is kept.
    for key in AUGMENT_PRESETS["robust"]:
        if key not in ("jpeg_quality", "gradient_prob", "noise_prob"):
            assert getattr(real, key) == getattr(robust, key), key


@pytest.mark.parametrize("effect", EFFECTS)
def test_an_effect_changes_the_image_when_on_and_nothing_when_off(face: FontFace, effect: str) -> None:
    base = render(face, CLEAN, 3)
    # Off: the same pixels, and the generator is left where the clean config leaves it (no draws).
    rng_clean, rng_off = np.random.default_rng(3), np.random.default_rng(3)
    render_line(TEXT, face, rng_clean, CLEAN)
    off = np.asarray(render_line(TEXT, face, rng_off, replace(CLEAN, **{effect: 0.0})))
    assert np.array_equal(off, base)
    assert rng_off.random() == rng_clean.random()
    # On: a different image for every seed tried.
    for seed in range(3):
        on = render(face, replace(CLEAN, **{effect: 1.0}), seed)
        plain = render(face, CLEAN, seed)
        assert on.shape != plain.shape or not np.array_equal(on, plain), (effect, seed)
        assert on.dtype == np.uint8 and on.shape[0] == 32


def test_real_preset_output_is_32_px_uint8_grey_with_readable_contrast(face: FontFace) -> None:
    real = SynthConfig(**AUGMENT_PRESETS["real"])
    for seed in range(40):
        image = render_line(TEXT, face, np.random.default_rng(seed), real)
        pixels = np.asarray(image)
        assert image.mode == "L" and image.height == 32 and pixels.dtype == np.uint8, seed
        assert image.width >= 32, seed
        assert int(pixels.max()) - int(pixels.min()) >= 40, seed


def test_real_preset_is_deterministic_for_a_seed(face: FontFace) -> None:
    real = SynthConfig(**AUGMENT_PRESETS["real"])
    for seed in range(10):
        assert render(face, real, seed).tobytes() == render(face, real, seed).tobytes()
    assert len({render(face, real, seed).tobytes() for seed in range(10)}) == 10


def test_gen_images_with_the_real_preset_same_bytes_for_a_seed(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("春风明月天人\n山水花云江河\n日夜秋雨落长白\n", encoding="utf-8")
    config = replace(SynthConfig(**AUGMENT_PRESETS["real"]), min_chars=3, max_chars=6)
    outs = []
    for name in ("a", "b"):
        gen_images([corpus], [FONT], tmp_path / name, 12, seed=5, workers=1, config=config, progress=False)
        outs.append({p.relative_to(tmp_path / name): p.read_bytes()
                     for p in sorted((tmp_path / name / "images").rglob("*.jpg"))})
    assert len(outs[0]) == 12 and outs[0] == outs[1]
    saved = json.loads((tmp_path / "a" / "gen_config.json").read_text(encoding="utf-8"))["config"]
    assert SynthConfig.from_dict(saved) == config


# The sha256 of 40 render_line images (size and pixels) of the tiny font, for the basic and robust
# presets, rendered before toolkit.synth.degrade existed. Pixels depend on Pillow's FreeType and
# resampling code, so the check runs with the versions the hashes were made with.
GOLDEN_VERSIONS = ("13.0.0", "2.14.3")
GOLDEN = {
    "basic": "b51bd883cc567c19b0cc167b6091f14d445c378c7a00422c56ccf7da9712d1bc",
    "robust": "c5f34acd39e414950c85e5106418d1dee9768cb83a9a1626e70be87971b92b45",
}


@pytest.mark.skipif((PIL.__version__, features.version("freetype2")) != GOLDEN_VERSIONS,
                    reason=f"golden pixels were made with Pillow / FreeType {GOLDEN_VERSIONS}")
@pytest.mark.parametrize("preset", ["basic", "robust"])
def test_basic_and_robust_render_the_same_pixels_as_before_the_degradations(face: FontFace,
                                                                             preset: str) -> None:
    config = SynthConfig(**AUGMENT_PRESETS[preset])
    texts = ["春风明月天", "人山水花云，", "江河日夜秋雨落长白。", "天人 山水"]
    digest = hashlib.sha256()
    for i in range(40):
        image = render_line(texts[i % 4], face, np.random.default_rng([11, i]), config)
        digest.update(f"{image.size}".encode())
        digest.update(image.tobytes())
    assert digest.hexdigest() == GOLDEN[preset]


def test_effect_ranges_do_not_matter_while_their_probabilities_are_zero(face: FontFace) -> None:
    # Any version of Pillow: changing only the degradations' ranges leaves basic's pixels alone.
    basic = SynthConfig()
    ranges = {f.name: getattr(basic, f.name) for f in fields(SynthConfig)}
    moved = {name: (value[1], value[1]) for name, value in ranges.items()
             if name in {"neighbour_gap", "neighbour_visible", "line_width", "screen_size", "perspective",
                         "curve", "motion_blur", "texture", "quasicrystal", "quasicrystal_period",
                         "paper_tint", "ink_saturation", "jpeg_artifact_quality"}}
    assert len(moved) == 13
    for seed in range(5):
        assert np.array_equal(render(face, basic, seed), render(face, replace(basic, **moved), seed))


# -- each effect's own behaviour ---------------------------------------------------------------------


def test_neighbour_lines_put_cut_glyphs_at_the_top_or_bottom_edge(face: FontFace) -> None:
    config = replace(CLEAN, neighbour_prob=1.0)
    plain = render(face, CLEAN)
    def edge_ink(pixels: np.ndarray) -> bool:
        return min(pixels[0].min(), pixels[-1].min()) < 128

    assert not edge_ink(plain)
    hits = [edge_ink(render(face, config, seed)) for seed in range(10)]
    assert sum(hits) >= 7  # a line that ends before the crop (3 in 10) can leave none


def test_neighbour_lines_grow_the_crop_by_at_least_the_visible_part() -> None:
    glyph = np.full((20, 20), 255, dtype=np.uint8)
    def draw(text: str, size: int) -> list[degrade.Placed]:  # 20 px glyphs 22 px apart, top 18 px up
        return [(glyph, 22 * i, -18) for i in range(len(text))]

    config = replace(CLEAN, neighbour_visible=(0.25, 0.25), neighbour_gap=(0.2, 0.2))
    box = (0.0, -30.0, 100.0, 6.0)
    for seed in range(6):
        items, (left, top, right, bottom) = degrade.neighbour_lines("春风", box, 24, draw,
                                                                    np.random.default_rng(seed), config)
        assert (left, right) == (0.0, 100.0)
        assert top < box[1] or bottom > box[3]
        if top < box[1]:  # the line above: its glyphs end 0.25 em (6 px) inside the crop
            assert max(y + c.shape[0] for c, _, y in items if y < 0) - top == pytest.approx(6.0)


def test_underline_is_a_long_ink_row_below_the_text(face: FontFace) -> None:
    on = render(face, replace(CLEAN, underline_prob=1.0, line_width=(0.08, 0.08)))
    ink_rows = (on < 100).mean(axis=1)
    lower = ink_rows[on.shape[0] // 2:]
    assert lower.max() > 0.8  # one row of the lower half is almost all ink
    assert render(face, CLEAN).__lt__(100).mean(axis=1).max() < 0.8


def test_rules_draw_lines_across_the_crop(face: FontFace) -> None:
    for seed in range(5):
        image = render(face, replace(CLEAN, rules_prob=1.0, line_width=(0.08, 0.08)), seed)
        dark = image < 200
        assert dark.mean(axis=1).max() > 0.95 or dark.mean(axis=0).max() > 0.95, seed


def test_table_rules_box_has_four_sides_outside_the_ink() -> None:
    ink = (0.0, -28.0, 80.0, 4.0)
    seen_box = False
    for seed in range(20):
        items, box = degrade.table_rules(ink, ink, 32, np.random.default_rng(seed), CLEAN)
        assert 1 <= len(items) <= 4
        for coverage, x, y in items:
            h, w = coverage.shape
            inside = x < ink[2] and x + w > ink[0] and y < ink[3] and y + h > ink[1]
            # a rule spans the crop, so it crosses the ink box only along its own direction
            assert not inside or (h > w and not ink[0] <= x < ink[2]) or (w > h and not ink[1] <= y < ink[3])
        assert box[0] <= ink[0] and box[1] <= ink[1] and box[2] >= ink[2] and box[3] >= ink[3]
        seen_box |= len(items) == 4
    assert seen_box


def test_paint_clips_items_that_reach_past_the_canvas() -> None:
    item = np.full((4, 4), 200, dtype=np.uint8)
    canvas = degrade.paint([(item, -2, -2), (item, 8, 1), (item, 50, 50)], 0, 0, 10, 5)
    assert canvas.shape == (5, 10)
    assert (canvas[:2, :2] == 200).all() and canvas[2:, :2].max() == 0
    assert (canvas[1:5, 8:10] == 200).all() and canvas[0, 8:].max() == 0


def test_capture_modes() -> None:
    mask = np.zeros((48, 96), dtype=np.uint8)
    mask[12:36, 30:33] = 255  # a 1-screen-pixel vertical stem in a 3x (subpixel) rendering
    image = Image.fromarray(mask)
    hinted = degrade.capture(image, degrade.ScreenLook(12, "hinted", Image.Resampling.NEAREST))
    assert hinted is image
    unhinted = degrade.capture(image, degrade.ScreenLook(12, "unhinted", Image.Resampling.NEAREST))
    assert unhinted.size == (24, 12) and unhinted.mode == "L"
    sub = degrade.capture(image, degrade.ScreenLook(12, "subpixel", Image.Resampling.NEAREST))
    assert sub.size == (32, 16) and sub.mode == "RGB"
    rgb = np.asarray(sub, dtype=np.int32)
    # The stem covers pixel 10's three subpixels; the LCD filter keeps (86 + 77 + 8) / 256 of it in
    # R and B, all of it in G, and spreads the rest into the neighbours' nearest channels (the B of
    # pixel 9, the R of pixel 11), as colour fringes.
    assert list(rgb[8, 10]) == [170, 239, 170]
    assert rgb[8, 9, 2] > rgb[8, 9, 0] and rgb[8, 11, 0] > rgb[8, 11, 2]
    assert rgb[:, :8].max() == 0 and rgb[:, 13:].max() == 0
    assert degrade.ScreenLook(12, "subpixel", Image.Resampling.NEAREST).render_size == 36


def test_screen_lines_are_upsampled_from_a_small_size(face: FontFace) -> None:
    # Nearest upsampling of a 10 px rendering: the line is made of blocks about 2.5 px wide, so far
    # fewer distinct columns than a 32 px rendering has.
    def distinct(pixels: np.ndarray) -> int:  # columns unlike their right neighbour
        return int(np.any(pixels[:, 1:] != pixels[:, :-1], axis=0).sum())

    config = replace(CLEAN, screen_prob=1.0, screen_size=(10, 10))
    for seed in range(12):
        look = degrade.draw_screen(np.random.default_rng(seed), config)
        if look.resample == Image.Resampling.NEAREST:
            small, big = render(face, config, seed), render(face, CLEAN, seed)
            assert distinct(small) / small.shape[1] < 0.7 * distinct(big) / big.shape[1]
            return
    pytest.fail("no nearest resampling drawn in 12 seeds")


def test_perspective_makes_one_side_shorter() -> None:
    mask = Image.fromarray(np.pad(np.full((30, 200), 255, dtype=np.uint8), ((5, 5), (0, 0))))
    config = replace(CLEAN, perspective_prob=1.0, perspective=(0.3, 0.3))
    out = np.asarray(degrade.bend(mask, np.random.default_rng(0), config)) > 128
    heights = out.sum(axis=0)
    assert out.shape[0] == 40 and out.shape[1] < 200  # the far side is foreshortened too
    assert abs(int(heights[2]) - int(heights[-3])) >= 0.25 * 30
    assert max(heights[2], heights[-3]) <= 31


def test_curve_moves_the_baseline_without_cutting_ink() -> None:
    mask = Image.fromarray(np.pad(np.full((30, 200), 255, dtype=np.uint8), ((5, 5), (0, 0))))
    config = replace(CLEAN, curve_prob=1.0, curve=(0.2, 0.2))
    out = np.asarray(degrade.bend(mask, np.random.default_rng(0), config)) > 128
    tops = out.argmax(axis=0)
    assert out.shape == (40 + 2 * 8, 200)
    assert tops.max() - tops.min() >= 4
    assert out[0].sum() == 0 and out[-1].sum() == 0  # nothing reaches the grown canvas' edges
    assert abs(out.sum() / (30 * 200) - 1) < 0.02


def test_motion_blur_spreads_ink_and_keeps_its_total() -> None:
    mask = np.zeros((32, 64), dtype=np.uint8)
    mask[10:22, 30:34] = 255
    config = replace(CLEAN, motion_blur_prob=1.0, motion_blur=(4.0, 4.0))
    out = np.asarray(degrade.motion_blur(Image.fromarray(mask), np.random.default_rng(1), config))
    assert out.shape == mask.shape
    assert (out > 0).sum() > (mask > 0).sum()
    assert abs(int(out.sum(dtype=np.int64)) - int(mask.sum(dtype=np.int64))) < 0.03 * mask.sum()


def test_paper_texture_and_quasicrystal_have_the_drawn_strength() -> None:
    texture = degrade.paper_texture(32, 400, 8.0, np.random.default_rng(0))
    assert texture.shape == (32, 400) and texture.dtype == np.float32
    assert 6.0 < float(texture.std()) < 14.0  # 8 from the fields, plus the fibres
    pattern = degrade.quasicrystal(32, 400, 40.0, 8.0, 6, np.random.default_rng(0))
    assert pattern.shape == (32, 400) and pattern.min() >= -40.0 - 1e-3 and pattern.max() <= 1e-3
    assert float(pattern.std()) > 4.0


def test_compose_in_colour_is_the_luma_of_the_rgb_composition() -> None:
    coverage = np.zeros((4, 6), dtype=np.float32)
    coverage[:, 3:] = 1.0
    blue = (np.ones(3, dtype=np.float32), np.array([0.0, 0.0, 1.0], dtype=np.float32))
    grey = degrade.compose(coverage, 250.0, 90.0, None, blue)
    # Pure blue scaled to luma 90 would need B = 789: clipped to 255, so the ink is B = 255 (luma 29).
    assert grey[0, 0] == pytest.approx(250.0) and grey[0, 5] == pytest.approx(255 * 0.114, abs=0.01)
    yellow_paper = (np.array([1.0, 1.0, 0.7], dtype=np.float32), np.ones(3, dtype=np.float32))
    tinted = degrade.compose(coverage, 250.0, 30.0, None, yellow_paper)
    assert tinted[0, 0] == pytest.approx(250.0 * (0.299 + 0.587 + 0.7 * 0.114), abs=0.01)
    assert tinted[0, 5] == pytest.approx(30.0, abs=0.01)


def test_compose_keeps_every_paper_pixel_lighter_than_the_ink() -> None:
    coverage = np.zeros((8, 8), dtype=np.float32)
    layers = np.full((8, 8), -200.0, dtype=np.float32)  # a pattern darker than the ink
    pixels = degrade.compose(coverage, 200.0, 80.0, layers, None)
    assert pixels.min() == pytest.approx(80.0 + degrade.MIN_CONTRAST)


def test_jpeg_round_trip_adds_artifacts(face: FontFace) -> None:
    line = render_line(TEXT, face, np.random.default_rng(0), CLEAN)
    low, high = (np.asarray(jpeg_round_trip(line, q), dtype=np.float32) for q in (5, 95))
    clean = np.asarray(line, dtype=np.float32)
    assert low.shape == clean.shape
    assert np.abs(low - clean).mean() > 2 * np.abs(high - clean).mean()


def test_text_mask_takes_a_given_size(face: FontFace) -> None:
    small = text_mask(TEXT, face, np.random.default_rng(0), CLEAN, size=12)
    large = text_mask(TEXT, face, np.random.default_rng(0), CLEAN, size=36)
    assert large.width == pytest.approx(3 * small.width, rel=0.1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("neighbour_prob", 1.5), ("neighbour_gap", (0.5, 0.1)), ("neighbour_visible", (0.0, 1.5)),
        ("underline_prob", -0.1), ("rules_prob", 2), ("line_width", (0.0, 0.6)),
        ("screen_prob", 1.1), ("screen_size", (4, 12)), ("screen_size", (10.5, 12)),
        ("perspective_prob", -1), ("perspective", (0.1, 0.6)), ("curve_prob", 1.5), ("curve", (0.2, 0.1)),
        ("motion_blur_prob", 1.5), ("motion_blur", (1.0, 5.0)), ("texture_prob", -0.5),
        ("texture", (-1.0, 3.0)), ("quasicrystal_prob", 3), ("quasicrystal", (0.0, 300.0)),
        ("quasicrystal_period", (0.5, 4.0)), ("colour_prob", 1.01), ("paper_tint", (0.0, 1.5)),
        ("ink_saturation", (0.8, 0.2)), ("jpeg_artifact_prob", 1.5), ("jpeg_artifact_quality", (0, 50)),
    ],
)
def test_synth_config_rejects_bad_degradation_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field) as info:
        SynthConfig(**{field: value})
    assert repr(value) in str(info.value)


def test_cli_gen_images_augment_real(tmp_path: Path, tiny_corpus: Path, tiny_font: Path) -> None:
    from click.testing import CliRunner

    from toolkit.cli import main

    out = tmp_path / "ds"
    result = CliRunner().invoke(main, ["gen-images", "--corpus", str(tiny_corpus), "--font", str(tiny_font),
                                       "--output-dir", str(out), "--num-images", "8", "--min-chars", "2",
                                       "--max-chars", "4", "--augment", "real"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "gen_config.json").read_text(encoding="utf-8"))["config"]
    assert config == SynthConfig.from_dict({**config}).to_dict()
    assert config["texture_prob"] == AUGMENT_PRESETS["real"]["texture_prob"] and config["jitter_prob"] > 0
