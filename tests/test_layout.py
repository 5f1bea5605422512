"""Whole-page reading: Otsu ink, skew, line finding (toolkit.layout) and the page layouts of the
recognizer and of demo."""

import numpy as np
import pytest
from click.testing import CliRunner
from page_images import PAGE_LINES, grey, render_page

from toolkit import layout
from toolkit.cli import main

TEXT_LINES = [t for t in PAGE_LINES if t]


def _widths_in_order(page):
    """Each found line's box width, checked to follow the source lines' char counts."""
    return [box.right - box.left for box in page.lines]


def test_otsu_threshold_splits_two_grey_levels():
    img = np.full((20, 20), 200, np.uint8)
    img[5:9, 3:15] = 40
    t = layout.otsu_threshold(img)
    assert 40 <= t < 200
    assert layout.binarize(img).sum() == 4 * 12  # the smaller class is the ink
    assert layout.binarize(255 - img).sum() == 4 * 12  # light text on a dark page too
    assert layout.otsu_threshold(np.full((4, 4), 255, np.uint8)) == 254


@pytest.mark.parametrize("angle", [0.0, 1.5, -1.5])
def test_rotated_page_with_a_blank_line_gives_every_line_in_order(angle):
    page = layout.analyze_page(grey(render_page(PAGE_LINES, rotate=angle)))
    assert page.skew == pytest.approx(angle, abs=0.3)
    assert len(page.lines) == len(TEXT_LINES) == len(page.crops)
    tops = [box.top for box in page.lines]
    assert tops == sorted(tops)
    widths = _widths_in_order(page)
    # Line i has len(TEXT_LINES[i]) chars of one em (28 px) each.
    for width, text in zip(widths, TEXT_LINES, strict=True):
        assert abs(width - 28 * len(text)) < 14, (widths, TEXT_LINES)
    # The blank line shows as a gap about twice the others.
    gaps = [b.top - a.bottom for a, b in zip(page.lines, page.lines[1:], strict=False)]
    assert gaps[1] > 1.8 * gaps[0]


def test_deskewed_lines_are_level_and_crops_hold_only_their_line():
    page = layout.analyze_page(grey(render_page(PAGE_LINES, rotate=1.5)))
    for box, crop in zip(page.lines, page.crops, strict=True):
        assert box.height < 34  # a 28 px line rotated by 1.5 degrees over ~300 px would be ~36
        ink_rows = np.flatnonzero(layout.binarize(crop).any(axis=1))
        # one band of ink, no neighbour's strokes at the crop's edges
        assert ink_rows[-1] - ink_rows[0] + 1 <= box.height + 2
        assert crop.shape[0] > box.height  # a margin above and below


def test_light_text_on_dark_page():
    page = layout.analyze_page(255 - grey(render_page(PAGE_LINES, rotate=1.0)))
    assert len(page.lines) == len(TEXT_LINES)
    assert page.skew == pytest.approx(1.0, abs=0.3)


def test_blank_page_and_single_line():
    blank = layout.analyze_page(np.full((100, 200), 255, np.uint8))
    assert blank.lines == () and blank.skew == 0.0
    one = layout.analyze_page(grey(render_page(TEXT_LINES[:1])))
    assert len(one.lines) == 1


def test_fragment_above_a_line_joins_it_and_specks_are_dropped():
    img = grey(render_page(TEXT_LINES[:2], pitch=48))
    img = img.copy()
    first = layout.find_lines(layout.binarize(img))[0]
    img[first.top - 6:first.top - 3, first.left + 10:first.left + 16] = 0  # an accent-like mark
    img[2:4, 2:4] = 0  # a 2 px speck at the corner, far from any line
    lines = layout.find_lines(layout.binarize(img))
    assert len(lines) == 2
    assert lines[0].top == first.top - 6


def test_skew_arguments_are_checked():
    with pytest.raises(ValueError, match="max_angle"):
        layout.estimate_skew(np.zeros((4, 4), bool), max_angle=60)
    with pytest.raises(ValueError, match="grey"):
        layout.binarize(np.zeros((4, 4, 3), np.uint8))


def test_recognizer_reads_a_page_line_by_line(tiny_model):
    from toolkit.predict import Recognizer

    recognizer = Recognizer.from_weights(tiny_model)
    page_img = grey(render_page(PAGE_LINES, rotate=1.5))
    line_img = grey(render_page(TEXT_LINES[:1]))
    page, auto_page, auto_line, as_line = (
        recognizer.read_images([page_img], "page")[0],
        *recognizer.read_images([page_img, line_img], "auto"),
        recognizer.read_images([line_img], "line")[0])
    assert page.layout == auto_page.layout == "page" and len(page.lines) == len(TEXT_LINES)
    assert page.skew == pytest.approx(1.5, abs=0.3)
    assert all(line.box is not None for line in page.lines)
    assert page.text == "\n".join(line.text for line in page.lines) == auto_page.text
    # A page's lines read as the crops would be read on their own.
    crops = layout.analyze_page(page_img).crops
    assert [r.text for r in recognizer.read_lines(crops)] == [line.text for line in page.lines]
    # auto reads a one-line image whole, exactly as the line layout and recognize() do.
    assert auto_line.layout == as_line.layout == "line" and auto_line.lines[0].box is None
    assert auto_line.lines[0].text == as_line.lines[0].text
    assert auto_line.lines[0].confidence == pytest.approx(as_line.lines[0].confidence, abs=1e-4)
    (text, conf), = recognizer.recognize([line_img])
    assert (as_line.text, as_line.confidence) == (text, pytest.approx(conf))
    assert "".join(c for c, _ in as_line.chars) == as_line.text
    with pytest.raises(ValueError, match="layout must be one of"):
        recognizer.read_images([line_img], "columns")


def test_demo_layout_page_prints_a_row_per_line(tmp_path, tiny_model):
    page_path = tmp_path / "page.png"
    render_page(PAGE_LINES, rotate=1.5).save(page_path)
    line_path = tmp_path / "line.png"
    render_page(TEXT_LINES[:1]).save(line_path)
    runner = CliRunner()
    r = runner.invoke(main, ["demo", "--image-path", str(page_path), "--image-path", str(line_path),
                             "--weights-path", str(tiny_model)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = [line.split("\t") for line in r.output.splitlines() if "\t" in line]
    assert [p for p, _, _ in rows] == [str(page_path)] * len(TEXT_LINES) + [str(line_path)]
    r = runner.invoke(main, ["demo", "--image-path", str(page_path), "--layout", "line",
                             "--weights-path", str(tiny_model)], catch_exceptions=False)
    assert r.exit_code == 0 and len([x for x in r.output.splitlines() if "\t" in x]) == 1


def test_bundled_model_reads_a_skewed_page(tmp_path):
    """A page of Song ci lines in the bundled Noto Sans SC, rotated by 1.5 degrees, read line by
    line by the bundled model."""
    from toolkit.metrics import Scores
    from toolkit.paths import FONTS_DIR, bundled_model_dir
    from toolkit.predict import Recognizer

    if bundled_model_dir() is None or not (FONTS_DIR / "NotoSansSC-Regular.otf").exists():
        pytest.skip("no bundled model or bundled Noto Sans SC font")
    lines = ["明月几时有，把酒问青天。", "不知天上宫阙，今夕是何年。", "",
             "我欲乘风归去，又恐琼楼玉宇，", "高处不胜寒。"]
    image = render_page(lines, FONTS_DIR / "NotoSansSC-Regular.otf", size=30, pitch=50,
                        rotate=1.5)
    reading = Recognizer.from_weights(bundled_model_dir()).read_images([grey(image)], "auto")[0]
    assert reading.layout == "page" and len(reading.lines) == 4
    scores = Scores()
    for gt, line in zip([t for t in lines if t], reading.lines, strict=True):
        scores.add(gt, line.text)
    assert scores.cer <= 0.05, reading.text


def test_each_char_keeps_the_top_probability_of_its_run():
    from toolkit.ctc import collapse_path, collapse_path_chars

    blank = 3
    best = np.array([[0, 0, blank, 1, 1, 0, blank], [blank, blank, blank, blank, 0, 0, 0]])
    top = np.array([[0.5, 0.9, 0.99, 0.7, 0.6, 0.8, 1.0], [0.9, 0.7, 0.8, 0.6, 0.2, 0.3, 0.4]])
    (ids, probs, conf), (empty, none, blank_conf) = collapse_path_chars(best, top, [7, 4], blank)
    assert ids == [0, 1, 0] and probs == pytest.approx([0.9, 0.7, 0.8])
    assert conf == pytest.approx(0.8)
    # An empty reading has confidence 0 (not the blanks' own probability: 0.75 here).
    assert empty == [] and none == [] and blank_conf == 0.0
    assert collapse_path(best, top, [7, 4], blank) == [(ids, conf), ([], blank_conf)]
