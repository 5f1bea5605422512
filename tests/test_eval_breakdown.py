"""tools/eval_breakdown.py: the ink-fraction measure and the per-group CER table."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tool(load_tool):
    return load_tool("eval_breakdown")


def test_ink_fraction_is_the_share_of_rows_between_the_first_and_last_ink_row(tool):
    grey = np.full((40, 100), 230, np.uint8)
    assert tool.ink_fraction(grey) == 0.0
    grey[10:30, 20:80:3] = 20  # ink rows 10..29
    assert tool.ink_fraction(grey) == pytest.approx(20 / 40)
    grey[35, 50] = 0  # one more ink pixel further down
    assert tool.ink_fraction(grey) == pytest.approx(26 / 40)


def test_breakdown_groups_by_part_font_ink_and_length(tool):
    rows = [
        {"part": "pango", "font": "Kai", "ink": 0.45, "ref": "一二三四", "errors": 2},
        {"part": "pango", "font": "Hei", "ink": 0.75, "ref": "一二三四五六", "errors": 0},
        {"part": "pillow", "font": "Kai", "ink": 0.9, "ref": "一二三四五六七八九十", "errors": 1},
    ]
    table = {(g, k): (n, cer) for g, k, n, cer in tool.breakdown(rows)}
    assert table[("part", "pango")] == (2, pytest.approx(2 / 10))
    assert table[("part", "pillow")] == (1, pytest.approx(1 / 10))
    assert table[("pango: font", "Kai")] == (1, pytest.approx(0.5))
    assert table[("pango: ink fraction", "0-0.5")] == (1, pytest.approx(0.5))
    assert table[("pango: ink fraction", "0.7-0.8")] == (1, 0.0)
    assert table[("pillow: length", "9-12")] == (1, pytest.approx(0.1))
    assert table[("pango: length", "1-8")] == (2, pytest.approx(0.2))  # 4 and 6 chars
    assert table[("pillow: ink fraction", "0.8-1")] == (1, pytest.approx(0.1))
    order = [k for g, k, _, _ in tool.breakdown(rows) if g == "pango: ink fraction"]
    assert order == ["0-0.5", "0.7-0.8"]
    assert ("pillow: font", "Hei") not in table
    text = tool.format_table(tool.breakdown(rows))
    assert text.splitlines()[0] == "| grouping | group | lines | CER |"
    assert "| pango: font | Kai | 1 | 0.5000 |" in text
