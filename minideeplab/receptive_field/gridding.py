"""Gridding and the HDC rule: stacked atrous rates that leave input pixels unread.

One ``k``-tap kernel at rate ``r`` reads the offsets ``0, r, ..., (k-1) r``.
Stacking dilated layers composes their reads, so some input pixels inside the
field may be reached by no path at all -- "gridding" (Wang et al.,
"Understanding Convolution for Semantic Segmentation", WACV 2018). Three rates
of 2 read only even offsets; the rates ``(1, 2, 5)`` read every pixel.

* :func:`gridding_pattern` counts the paths from each input pixel to one output;
* :func:`count_holes` counts the unread pixels inside the span;
* :func:`hdc_check` applies Wang et al.'s hybrid dilated convolution (HDC)
  rule, the ``M_i`` recurrence and "no common factor", and reports the holes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..geometry import check_kernel_size, check_rates

__all__ = ["gridding_pattern", "count_holes", "HDCResult", "hdc_check"]


def gridding_pattern(rates, kernel_size: int = 3, ndim: int = 2) -> np.ndarray:
    """Number of paths from each input pixel to one output through stacked dilated convs.

    One ``k``-tap kernel at rate ``r`` reads the offsets ``0, r, ..., (k-1) r``:
    a 1-D indicator ``taps_r``. Stacking layers composes their reads, so the
    number of paths from input offset ``m`` to the output is the convolution
    ``taps_{r_1} * taps_{r_2} * ... * taps_{r_n}``. A zero inside the span is a
    **hole**: that pixel cannot influence the output at all ("gridding", Wang et
    al., WACV 2018). In 2-D the ``k x k`` taps are the product of two 1-D tap
    sets, so the pattern is the outer product of the 1-D pattern with itself.

    Returns an int array of length (per axis) ``sum_i r_i (k - 1) + 1``; the
    output sits over its middle entry. ``ndim`` is 1 or 2.

    >>> gridding_pattern((2, 2), ndim=1)       # odd offsets are never read
    array([1, 0, 2, 0, 3, 0, 2, 0, 1])
    """
    rates = check_rates(rates)
    kernel_size = check_kernel_size(kernel_size)
    if ndim not in (1, 2):
        raise InputError(f"ndim must be 1 or 2, got {ndim!r}")
    pattern = np.ones(1, dtype=np.int64)
    for rate in rates:
        taps = np.zeros(rate * (kernel_size - 1) + 1, dtype=np.int64)
        taps[::rate] = 1
        pattern = np.convolve(pattern, taps)
    return np.outer(pattern, pattern) if ndim == 2 else pattern


def count_holes(pattern) -> int:
    """Zero entries inside the bounding box of the non-zero entries of ``pattern``.

    For a :func:`gridding_pattern` these are input pixels within the field's span
    that no path reaches.
    """
    pattern = np.asarray(pattern)
    if pattern.ndim not in (1, 2):
        raise InputError(f"pattern must be 1-D or 2-D, got shape {pattern.shape}")
    reached = pattern != 0
    if not reached.any():
        raise InputError("pattern has no non-zero entry")
    box = []
    for axis in range(pattern.ndim):
        # which indices along this axis have any reached entry: the span's first and last
        other_axes = tuple(a for a in range(pattern.ndim) if a != axis)
        indices = np.flatnonzero(reached.any(axis=other_axes) if other_axes else reached)
        box.append(slice(indices[0], indices[-1] + 1))
    return int(np.count_nonzero(~reached[tuple(box)]))


@dataclass(frozen=True)
class HDCResult:
    """Verdict of :func:`hdc_check` on a group of dilation rates.

    ``max_gaps`` holds ``M_1 .. M_n`` (``M_n = r_n``); ``gap_rule`` is the design
    goal ``M_2 <= K``; ``common_factor`` is the gcd of the rates and
    ``factor_rule`` says it is 1; ``passes`` is both rules. ``holes`` is the
    direct count of unreachable pixels in the 1-D :func:`gridding_pattern`, the
    ground truth the rules predict.
    """

    rates: tuple
    kernel_size: int
    max_gaps: tuple
    gap_rule: bool
    common_factor: int
    factor_rule: bool
    passes: bool
    holes: int
    reasons: tuple = field(default=())

    def __str__(self):
        verdict = "passes" if self.passes else "fails"
        gaps = ", ".join(f"M_{i + 1}={m}" for i, m in enumerate(self.max_gaps))
        text = f"rates {self.rates}: HDC {verdict} ({gaps}; holes in 1-D: {self.holes})"
        return text + "".join(f"\n  - {reason}" for reason in self.reasons)


def hdc_check(rates, kernel_size: int = 3) -> HDCResult:
    """Wang et al.'s hybrid dilated convolution (HDC) rule for a group of rates.

    ``M_i`` is the largest distance between two neighbouring non-zero taps that
    layer ``i`` can still fill (Wang et al., "Understanding Convolution for
    Semantic Segmentation", WACV 2018)::

        M_n = r_n
        M_i = max(M_{i+1} - 2 r_i,  M_{i+1} - 2 (M_{i+1} - r_i),  r_i)

    The design goal is ``M_2 <= K`` (the kernel size): then the first layer --
    a plain convolution when ``r_1 = 1``, as in the paper's groups such as
    ``(1, 2, 5)`` -- fills every gap. A second rule: the rates must not share a
    common factor > 1 (like ``(2, 4, 8)``), or every tap sits on a multiple of
    that factor and the pixels between are never read.

    >>> hdc_check((1, 2, 5)).passes, hdc_check((2, 2, 2)).passes
    (True, False)
    """
    rates = check_rates(rates)
    kernel_size = check_kernel_size(kernel_size)
    if len(rates) < 2:
        raise InputError(f"hdc_check needs a group of at least two rates, got {rates}")
    gaps = [rates[-1]]
    for rate in reversed(rates[:-1]):
        above = gaps[0]
        gaps.insert(0, max(above - 2 * rate, above - 2 * (above - rate), rate))
    common_factor = math.gcd(*rates)
    gap_rule = gaps[1] <= kernel_size
    factor_rule = common_factor == 1
    reasons = []
    if not gap_rule:
        reasons.append(f"M_2 = {gaps[1]} > K = {kernel_size}: gaps too wide for the first layer")
    if not factor_rule:
        reasons.append(f"the rates share the factor {common_factor}: only offsets that are "
                       f"multiples of {common_factor} are ever read")
    return HDCResult(rates, kernel_size, tuple(gaps), gap_rule, common_factor, factor_rule,
                     gap_rule and factor_rule,
                     count_holes(gridding_pattern(rates, kernel_size, ndim=1)), tuple(reasons))
