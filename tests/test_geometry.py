"""The size arithmetic of convolutions, checked on examples and as properties."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minideeplab import functional as F
from minideeplab.geometry import (
    GlobalPoolSpec,
    LayerSpec,
    ParallelSpec,
    UpsampleSpec,
    check_kernel_size,
    check_rates,
    conv_output_size,
    effective_kernel,
    pair,
    same_padding,
)


def test_effective_kernel_examples():
    assert effective_kernel(3, 1) == (3, 3)
    assert effective_kernel(3, 2) == (5, 5)       # a 3x3 at rate 2 spans 5x5
    assert effective_kernel(3, 12) == (25, 25)
    assert effective_kernel((3, 1), (6, 1)) == (13, 1)


def test_output_size_examples():
    assert conv_output_size(64, 3, 1, 1, 1) == (64, 64)
    assert conv_output_size(64, 3, 1, 6, 6) == (64, 64)     # ASPP: padding = rate keeps size
    assert conv_output_size(8, 3, 2, 1) == (4, 4)
    assert conv_output_size((8, 9), 3, 2, 1) == (4, 5)
    assert conv_output_size(5, 3, 1, 0, 2) == (1, 1)


def test_same_padding():
    assert same_padding(3, 1) == (1, 1)
    assert same_padding(3, 12) == (12, 12)
    assert same_padding((1, 3), (1, 4)) == (0, 4)
    with pytest.raises(ValueError, match="centre"):
        same_padding(2, 1)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                        ((1, 2, 3), TypeError), ("3", TypeError)])
def test_bad_arguments_name_the_argument(bad, error):
    with pytest.raises(error, match="dilation"):
        effective_kernel(3, bad)


def test_pair():
    assert pair(3) == (3, 3)
    assert pair((1, 7)) == (1, 7)
    with pytest.raises(TypeError, match="stride"):
        pair(True, "stride")


@given(h=st.integers(1, 20), w=st.integers(1, 20), kh=st.integers(1, 4), kw=st.integers(1, 4),
       s=st.integers(1, 3), p=st.integers(0, 3), dh=st.integers(1, 4), dw=st.integers(1, 4))
def test_same_padding_keeps_size(h, w, kh, kw, s, p, dh, dw):
    # odd kernels can always be centred; 'same' padding then keeps the size at stride 1
    k = (2 * (kh // 2) + 1, 2 * (kw // 2) + 1)
    assert conv_output_size((h, w), k, 1, same_padding(k, (dh, dw)), (dh, dw)) == (h, w)


@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12),
       kh=st.integers(1, 4), kw=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 3),
       dh=st.integers(1, 3), dw=st.integers(1, 3))
def test_conv_output_shape_equals_formula(n, c, h, w, kh, kw, s, p, dh, dw):
    expected = conv_output_size((h, w), (kh, kw), s, p, (dh, dw))
    x = np.zeros((n, c, h, w))
    weight = np.zeros((2, c, kh, kw))
    if min(expected) < 1:
        with pytest.raises(ValueError, match="output size"):
            F.conv2d_forward(x, weight, stride=s, padding=p, dilation=(dh, dw))
        return
    with __import__("minideeplab").use_backend("numpy"):
        out, _ = F.conv2d_forward(x, weight, stride=s, padding=p, dilation=(dh, dw))
    assert out.shape == (n, 2, *expected)
    # the formula by hand
    assert expected[0] == (h + 2 * p - dh * (kh - 1) - 1) // s + 1


# ---------------------------------------------------------------- rates, kernel sizes, specs

def test_check_rates_and_kernel_size_return_plain_ints():
    assert check_rates(2) == (2,)
    assert check_rates([1, np.int64(2), 5]) == (1, 2, 5)
    assert check_kernel_size(np.int32(3)) == 3
    assert type(check_kernel_size(np.int32(3))) is int


@pytest.mark.parametrize("bad, error", [((), TypeError), ((1, 2.0), TypeError),
                                        ((1, True), TypeError), ((2, 0), ValueError),
                                        ("2", TypeError)])
def test_check_rates_names_the_argument(bad, error):
    with pytest.raises(error, match="aspp_rates"):
        check_rates(bad, "aspp_rates")


@pytest.mark.parametrize("bad, error", [(0, ValueError), (True, TypeError), (3.0, TypeError)])
def test_check_kernel_size_names_the_argument(bad, error):
    with pytest.raises(error, match="kernel_size"):
        check_kernel_size(bad)


def test_layer_specs_are_plain_frozen_records():
    spec = LayerSpec(3, stride=2, padding=1, name="conv1")
    assert (spec.kernel_size, spec.stride, spec.padding, spec.dilation) == (3, 2, 1, 1)
    with pytest.raises(AttributeError):
        spec.stride = 1                                  # frozen: a description, not a state
    assert UpsampleSpec(4).name is None and GlobalPoolSpec().name == "global pool"
    assert ParallelSpec(None, [[], [spec]]).branch_names is None
