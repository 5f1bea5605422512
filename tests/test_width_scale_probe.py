"""tools/width_scale_probe.py: the horizontal resize of a line and the parsing of --scales."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def probe(load_tool):
    return load_tool("width_scale_probe")


def test_scale_width_resizes_only_the_width(probe):
    line = np.zeros((10, 40), np.uint8)
    line[:, 20:] = 255
    assert probe.scale_width(line, 1) is line
    wide = probe.scale_width(line, 1.3)
    assert wide.shape == (10, 52) and wide.dtype == np.uint8
    assert wide[:, :20].max() == 0 and wide[:, 32:].min() == 255  # the edge moves with the scale
    assert probe.scale_width(line, 0.01).shape == (10, 1)
    with pytest.raises(ValueError, match="positive"):
        probe.scale_width(line, 0)
    with pytest.raises(ValueError, match="grey"):
        probe.scale_width(line[:, :, None], 1.2)


def test_parse_scales_puts_the_reference_first_and_names_a_bad_value(probe):
    assert probe.parse_scales("0.9,1.15,1") == [1.0, 0.9, 1.15]
    with pytest.raises(ValueError, match="'wide' is not a number"):
        probe.parse_scales("0.9,wide")
    with pytest.raises(ValueError, match="'-1' is not positive"):
        probe.parse_scales("-1")
