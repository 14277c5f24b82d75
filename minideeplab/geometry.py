"""Sizes of convolutions: the arithmetic every other file relies on.

A convolution with kernel size ``k``, stride ``s``, padding ``p`` and dilation
(atrous rate) ``d`` places its ``k`` taps ``d`` pixels apart, so one output
looks at a window of

    effective_kernel = d * (k - 1) + 1            (a 3x3 at rate 2 spans 5x5)

input pixels, and an input of size ``H`` gives

    H_out = (H + 2p - d * (k - 1) - 1) // s + 1

outputs. Every function takes an int or an ``(h, w)`` pair for each argument and
returns an ``(h, w)`` pair, so height and width may differ (e.g. a 1x7 kernel).

Layer specs
-----------
A network's geometry is its layers' kernel, stride, padding and dilation, in
the order data flows. Models describe themselves with four plain records
(no weights, no arrays), and :mod:`minideeplab.receptive_field` walks them:

* :class:`LayerSpec` -- one convolution or pooling layer;
* :class:`GlobalPoolSpec` -- global average pooling broadcast back to its grid;
* :class:`UpsampleSpec` -- bilinear upsampling by an integer factor;
* :class:`ParallelSpec` -- branches that read one input and are concatenated.

They live here, at the bottom of the package, so that a model can describe its
layers without importing the code that analyses them. Checking the numbers is
left to the code that reads a spec, which names the layer in its errors.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from .errors import InputError, InputTypeError

__all__ = [
    "pair",
    "effective_kernel",
    "conv_output_size",
    "same_padding",
    "check_kernel_size",
    "check_rates",
    "LayerSpec",
    "GlobalPoolSpec",
    "UpsampleSpec",
    "ParallelSpec",
]


def pair(value, name: str = "value", minimum: int | None = None) -> tuple[int, int]:
    """Return ``value`` as an ``(h, w)`` pair of Python ints.

    ``pair(3) == (3, 3)`` and ``pair((1, 7)) == (1, 7)``. ``minimum`` (if given)
    is the smallest allowed entry; a ``ValueError`` naming ``name`` is raised
    below it, a ``TypeError`` for anything that is not an int or a pair of ints.
    """
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int \
            and type(value[1]) is int:
        result = value          # the common case first: the checks below are slow (ABCs)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        result = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
        result = (int(value[0]), int(value[1]))
    else:
        raise InputTypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
    if minimum is not None and min(result) < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value!r}")
    return result


def effective_kernel(kernel_size, dilation=1) -> tuple[int, int]:
    """Span of a dilated kernel in input pixels: ``d * (k - 1) + 1`` per axis.

    >>> effective_kernel(3, 2)
    (5, 5)
    >>> effective_kernel((3, 1), (6, 1))
    (13, 1)
    """
    k = pair(kernel_size, "kernel_size", minimum=1)
    d = pair(dilation, "dilation", minimum=1)
    return (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """Output ``(H_out, W_out)`` of a convolution (or pooling) layer.

    ``H_out = (H + 2p - d*(k-1) - 1) // s + 1``. The result may be < 1 when the
    dilated kernel does not fit; callers that need a valid size check it.

    >>> conv_output_size(64, 3, stride=1, padding=6, dilation=6)
    (64, 64)
    >>> conv_output_size((8, 9), 3, stride=2, padding=1)
    (4, 5)
    """
    size = pair(input_size, "input_size", minimum=1)
    span = effective_kernel(kernel_size, dilation)
    s = pair(stride, "stride", minimum=1)
    p = pair(padding, "padding", minimum=0)
    return tuple((size[i] + 2 * p[i] - span[i]) // s[i] + 1 for i in range(2))


def same_padding(kernel_size, dilation=1) -> tuple[int, int]:
    """Padding that keeps the size at stride 1: ``d * (k - 1) / 2`` per axis.

    Only odd effective kernels can be centred, so an even one (e.g. a 2x2 at
    rate 1) raises a ``ValueError``. This is why DeepLab's ASPP uses
    ``padding = rate`` for its 3x3 atrous branches.

    >>> same_padding(3, 12)
    (12, 12)
    """
    span = effective_kernel(kernel_size, dilation)
    if span[0] % 2 == 0 or span[1] % 2 == 0:
        raise InputError(
            f"a kernel of effective size {span} has no centre; 'same' padding needs an odd "
            "effective kernel d*(k-1)+1"
        )
    return ((span[0] - 1) // 2, (span[1] - 1) // 2)


def check_kernel_size(kernel_size, name: str = "kernel_size") -> int:
    """Return a square kernel's side as a Python int >= 1.

    A ``TypeError`` naming ``name`` for anything that is not an int (``True``
    included), a ``ValueError`` below 1.

    >>> check_kernel_size(3)
    3
    """
    if not isinstance(kernel_size, numbers.Integral) or isinstance(kernel_size, bool):
        raise InputTypeError(f"{name} must be an int, got {kernel_size!r}")
    if kernel_size < 1:
        raise InputError(f"{name} must be >= 1, got {kernel_size!r}")
    return int(kernel_size)


def check_rates(rates, name: str = "rates") -> tuple[int, ...]:
    """Return atrous rates (one int, or a non-empty sequence of ints >= 1) as a tuple of ints.

    A ``TypeError`` naming ``name`` for an empty or non-integer sequence, a
    ``ValueError`` for a rate below 1 (rate 1 is a plain convolution).

    >>> check_rates(2), check_rates([1, 2, 5])
    ((2,), (1, 2, 5))
    """
    if isinstance(rates, numbers.Integral):
        rates = (rates,)
    if not isinstance(rates, (tuple, list)) or not rates:
        raise InputTypeError(f"{name} must be a non-empty sequence of ints, got {rates!r}")
    for rate in rates:
        if not isinstance(rate, numbers.Integral) or isinstance(rate, bool):
            raise InputTypeError(f"{name} must hold ints, got {rate!r}")
        if rate < 1:
            raise InputError(f"every rate in {name} must be >= 1, got {rate!r}")
    return tuple(int(rate) for rate in rates)


# ============================================================================ layer specs

@dataclass(frozen=True)
class LayerSpec:
    """One convolution or pooling layer: its own kernel, stride, padding and dilation.

    Each number is an int or an ``(h, w)`` pair, as in ``nn.Conv2d``; a 2x2
    max-pool with stride 2 is ``LayerSpec(2, 2)``. ``name`` labels the layer
    in reports.
    """

    kernel_size: object
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    name: str | None = None


@dataclass(frozen=True)
class GlobalPoolSpec:
    """Global average pooling broadcast back to the grid it came from (ASPP's image pooling).

    Every output then depends on every input pixel; the grid (and so the
    stride) is unchanged, because the broadcast puts the pooled value back on it.
    """

    name: str = "global pool"


@dataclass(frozen=True)
class UpsampleSpec:
    """Bilinear upsampling by an integer ``factor`` or ``(h, w)`` pair (``align_corners=False``).

    The grid becomes ``factor`` times finer. Output ``o`` sits at input
    coordinate ``(o + 1/2) / factor - 1/2`` and interpolates the two inputs
    around it. (Named ``...Spec`` so that it never shadows the layer
    ``nn.Upsample``.)
    """

    factor: object
    name: str | None = None


@dataclass(frozen=True)
class ParallelSpec:
    """Branches that read the same input and are concatenated (or added): ASPP, a skip connection.

    ``branches`` is a list of branches, each a list of specs (or one spec); an
    empty list is the identity. ``branch_names`` label the branches (default
    ``"0"``, ``"1"``, ...). ``name=None`` names the branches after the module
    whose layer description returned them.
    """

    name: str | None
    branches: list
    branch_names: list | None = None
