"""How atrous convolution wastes taps: gridding and the HDC rule, taps that land on padding."""

import numpy as np
import pytest

from minideeplab import receptive_field as rf

# ------------------------------------------------------------------------ gridding

def test_stacking_equal_rates_leaves_holes_and_hdc_rates_do_not():
    assert rf.count_holes(rf.gridding_pattern((2, 2, 2), ndim=1)) == 6     # every odd offset
    assert rf.count_holes(rf.gridding_pattern((2, 2, 2))) == 13 ** 2 - 7 ** 2
    assert rf.count_holes(rf.gridding_pattern((1, 2, 5))) == 0


def test_gridding_pattern_counts_every_path():
    pattern = rf.gridding_pattern((1, 2, 5))
    assert pattern.shape == (17, 17)                  # 1 + 2*(1 + 2 + 5)
    assert pattern.sum() == 9 ** 3                    # 9 taps per layer, 3 layers
    assert np.array_equal(rf.gridding_pattern((2,), ndim=1), [1, 0, 1, 0, 1])


def test_hdc_rule():
    good = rf.hdc_check((1, 2, 5))
    assert good.passes and good.max_gaps == (1, 2, 5) and good.holes == 0
    same = rf.hdc_check((2, 2, 2))
    assert not same.passes and same.common_factor == 2 and same.holes > 0
    doubling = rf.hdc_check((2, 4, 8))
    assert not doubling.passes and not doubling.gap_rule and doubling.max_gaps[1] == 4
    with pytest.raises(ValueError, match="at least two"):
        rf.hdc_check((2,))


# ----------------------------------------------------------------------- valid taps

def test_rate_1_uses_every_tap_away_from_the_border():
    taps = rf.valid_tap_map(1, 16)
    assert np.all(taps[1:-1, 1:-1] == 1.0)
    assert taps[0, 0] == pytest.approx(4 / 9)        # a corner: 2x2 of the 3x3 taps inside


def test_valid_taps_fall_to_one_ninth_as_the_rate_reaches_the_map_size():
    fractions = [rf.valid_tap_fraction(rate, 65) for rate in range(1, 80)]
    assert np.all(np.diff(fractions) <= 0)                      # never increases with the rate
    assert rf.valid_tap_fraction(65, 65) == pytest.approx(1 / 9)
    assert rf.valid_tap_fraction(100, 16) == pytest.approx(1 / 9)
    assert rf.valid_tap_fraction(60, 65) < 0.15
    with pytest.raises(ValueError, match="rate"):
        rf.valid_tap_fraction(0, 65)
