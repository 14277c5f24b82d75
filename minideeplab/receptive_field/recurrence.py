r"""The receptive-field recurrence: exact arithmetic, one layer and one axis at a time.

Follow one output unit back through ``L`` layers (Araujo, Norris and Sim,
"Computing Receptive Fields of Convolutional Neural Networks", Distill 2019).
Layer ``l`` has kernel ``k_l``, stride ``s_l``, padding ``p_l`` and dilation
``d_l``; its taps span the effective kernel ``k_eff = d_l (k_l - 1) + 1``
(:func:`minideeplab.geometry.effective_kernel`). Starting from the input
(``r_0 = 1``, ``j_0 = 1``, ``P_0 = 0``, ``start_0 = 0``)::

    r_l     = r_{l-1} + (k_eff - 1) * j_{l-1}        receptive-field size (pixels)
    j_l     = j_{l-1} * s_l                          jump: input pixels between
                                                     neighbouring units ("effective stride")
    P_l     = P_{l-1} + p_l * j_{l-1}                effective padding
    start_l = start_{l-1} + ((k_eff - 1)/2 - p_l) * j_{l-1}
                                                     centre of the first unit's field

Why ``j_{l-1}`` everywhere: one step on layer ``l``'s input grid is ``j_{l-1}``
input pixels, so a kernel that reaches ``k_eff - 1`` steps further adds that
many jumps to the field. Unit ``i`` of layer ``l`` sees the input pixels
``start_l + i * j_l +- (r_l - 1) / 2``; for the first unit that interval starts
at ``-P_l`` (hence the name: pixels of padding it reaches into), so
``start_l = (r_l - 1)/2 - P_l`` always holds. Pooling layers obey the same
rules (a 2x2 max-pool with stride 2 is ``(2, 2, 0, 1)``). VGG-16 up to pool5
gives ``r = 212``, ``j = 32``, ``P = 90``; a 3x3 at rate ``d`` gives ``2d + 1``.

Three more steps cover DeepLab's graph (the specs of :mod:`minideeplab.geometry`):

* **global pooling** broadcast back to its grid: ``r = inf`` (``inf`` compares
  and adds correctly, so everything after it is global too); the jump,
  effective padding and start are unchanged;
* **bilinear upsampling** by ``f`` (``align_corners=False``): output ``o`` reads
  input coordinate ``(o + 1/2) / f - 1/2`` and interpolates two neighbours, so
  ``r`` grows by one step ``j``, the jump becomes ``j / f`` and the start moves
  by ``(1/(2f) - 1/2) j``;
* the **union** of parallel branches: the smallest window that holds every
  branch's field (``inf`` if any branch is global). The branches must end on
  the same grid (same jump), or they could not be concatenated.

Each axis is computed separately, so a ``(1, 7)`` kernel is fine; a value is
reported as one number when height and width agree and as an ``(h, w)`` pair
when they differ. The state is kept in :class:`~fractions.Fraction` so that
no rounding creeps in (an upsampled start may be ``-1.5``).

This module holds the arithmetic and the row it produces (:class:`RFRow`), and
reads rows back (:func:`receptive_field_box`, :func:`format_table`);
:mod:`.theoretical` walks a list of specs or a model through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..errors import InputError, InputTypeError
from ..geometry import pair

__all__ = [
    "AxisState", "conv_step", "global_pool_step", "upsample_step", "union_step",
    "as_number", "collapse", "per_axis",
    "RFRow", "receptive_field_box", "format_table",
]


# ============================================================================ the state

@dataclass(frozen=True)
class AxisState:
    """The recurrence's state along one axis, in input pixels.

    ``size`` is ``r`` (a Fraction, or ``math.inf`` once global), ``jump`` is
    ``j``, ``padding`` is ``P`` and ``start`` the centre of the first unit's
    field. The defaults are the input image: ``r = 1``, ``j = 1``, ``P = 0``,
    ``start = 0``.
    """

    size: object = Fraction(1)
    jump: Fraction = Fraction(1)
    padding: Fraction = Fraction(0)
    start: Fraction = Fraction(0)


def conv_step(state: AxisState, k: int, s: int, p: int, d: int) -> AxisState:
    """One convolution or pooling layer along one axis (kernel ``k``, stride, padding, dilation)."""
    span = d * (k - 1) + 1
    return AxisState(
        size=state.size + (span - 1) * state.jump,
        jump=state.jump * s,
        padding=state.padding + p * state.jump,
        start=state.start + (Fraction(span - 1, 2) - p) * state.jump,
    )


def global_pool_step(state: AxisState) -> AxisState:
    """Global pooling broadcast back: the field is the whole image, the grid stays."""
    return AxisState(math.inf, state.jump, state.padding, state.start)


def upsample_step(state: AxisState, factor: int) -> AxisState:
    """Bilinear upsampling by an integer ``factor`` (``align_corners=False``) along one axis."""
    # output o reads input coordinate (o + 1/2) / factor - 1/2
    size = state.size + state.jump                      # two bilinear taps, one step apart
    start = state.start + (Fraction(1, 2 * factor) - Fraction(1, 2)) * state.jump
    # keep start = (r - 1)/2 - P, i.e. the field of the first unit begins at -P
    padding = state.padding if size == math.inf else (size - 1) / 2 - start
    return AxisState(size, state.jump / factor, padding, start)


def union_step(entering: AxisState, ends: list[AxisState], name: str) -> AxisState:
    """Where parallel branches meet: the hull of every branch's field on their common grid.

    ``entering`` is the state the branches started from (kept when every branch
    is global), ``ends`` their final states; ``name`` names the
    :class:`~minideeplab.geometry.ParallelSpec` in the error raised when the
    branches end on different grids.
    """
    jumps = {state.jump for state in ends}
    if len(jumps) > 1:
        listing = ", ".join(str(as_number(j)) for j in sorted(jumps))
        raise InputError(
            f"the branches of Parallel {name!r} end on different grids (jumps {listing}); "
            "concatenated branches must share one effective stride"
        )
    finite = [state for state in ends if state.size != math.inf]
    if not finite:
        return AxisState(math.inf, ends[0].jump, entering.padding, entering.start)
    # the hull of every branch's field: [-max P, max (start + (r - 1)/2)]
    first = max(state.padding for state in finite)
    last = max(state.start + (state.size - 1) / 2 for state in finite)
    size = last + first + 1
    start = (last - first) / 2
    if len(finite) < len(ends):
        size = math.inf
    return AxisState(size, ends[0].jump, first, start)


# ========================================================================= reporting

def as_number(value):
    """A Fraction (or inf) as a plain int when whole, else a float: ``Fraction(3, 2) -> 1.5``."""
    if value == math.inf:
        return math.inf
    value = Fraction(value)
    return int(value) if value.denominator == 1 else float(value)


def collapse(values):
    """An ``(h, w)`` pair as one value when the axes agree: ``(a, a) -> a``; ``(a, b)`` stays."""
    return values[0] if values[0] == values[1] else tuple(values)


def per_axis(value) -> tuple:
    """A reported value (one number, or an ``(h, w)`` pair) as an ``(h, w)`` pair.

    Undoes :func:`collapse`. Unlike :func:`minideeplab.geometry.pair` it checks
    nothing: the numbers may be floats or ``inf``.

    >>> per_axis(7), per_axis((13, 7))
    ((7, 7), (13, 7))
    """
    return tuple(value) if isinstance(value, tuple) else (value, value)


@dataclass(frozen=True)
class RFRow:
    """The receptive field after one layer (one row of :func:`~.theoretical.receptive_field`).

    Cumulative values, in input pixels (each an int, a float when fractional,
    ``math.inf`` for a global field, or an ``(h, w)`` pair when the axes differ):

    * ``size``    -- receptive-field size ``r_l``;
    * ``stride``  -- effective stride (jump) ``j_l``: input pixels between
      neighbouring output units (also available as ``.jump``);
    * ``padding`` -- effective padding ``P_l``: the first unit's field starts at
      input pixel ``-P_l``;
    * ``start``   -- centre of the first unit's field; unit ``i`` is centred at
      ``start + i * stride``.

    The layer's own parameters are ``layer_kernel``, ``layer_stride``,
    ``layer_padding`` and ``layer_dilation`` (None where they do not apply).
    ``kind`` is ``"layer"``, ``"global"``, ``"upsample"`` or ``"union"`` (the
    merge of parallel branches).
    """

    name: str
    kind: str
    layer_kernel: object
    layer_stride: object
    layer_padding: object
    layer_dilation: object
    size: object
    stride: object
    padding: object
    start: object

    @property
    def jump(self):
        """Alias of ``stride``: the effective stride in input pixels."""
        return self.stride

    @property
    def effective_kernel(self):
        """The layer's own span ``d (k - 1) + 1`` (None for rows that are not layers)."""
        if self.layer_kernel is None or self.layer_dilation is None:
            return None
        k = pair(self.layer_kernel, "layer_kernel")
        d = pair(self.layer_dilation, "layer_dilation")
        return collapse(tuple(d[i] * (k[i] - 1) + 1 for i in range(2)))


def receptive_field_box(row: RFRow, output_index=(0, 0)):
    """Input pixels ``(top, left, bottom, right)`` (inclusive) seen by one output unit.

    Unit ``(i, j)`` is centred at ``start + (i, j) * jump`` and its field spans
    ``(size - 1) / 2`` pixels either side. The box may reach outside the image
    (into padding); for a global field it is infinite.
    """
    if not isinstance(row, RFRow):
        raise InputTypeError(f"row must be an RFRow, got {type(row).__name__}")
    index = pair(output_index, "output_index", minimum=0)
    size, jump, start = (per_axis(v) for v in (row.size, row.stride, row.start))
    centre = [start[a] + index[a] * jump[a] for a in range(2)]
    half = [(size[a] - 1) / 2 for a in range(2)]
    return (centre[0] - half[0], centre[1] - half[1], centre[0] + half[0], centre[1] + half[1])


# ============================================================================== table

def _format_value(value, as_fraction: bool = False) -> str:
    """One table cell: ``-`` for None, ``3x1`` for a pair, ``global`` for inf.

    ``as_fraction`` prints strides below 1 (an upsampling layer's own stride)
    as ``1/4``.
    """
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return "x".join(_format_value(v, as_fraction) for v in value)
    if value == math.inf:
        return "global"
    if isinstance(value, float):
        if as_fraction and 0 < value < 1:
            fraction = Fraction(value).limit_denominator(1024)
            return f"{fraction.numerator}/{fraction.denominator}"
        return f"{value:g}"
    return str(value)


def format_table(rows) -> str:
    """A printable table of :func:`~.theoretical.receptive_field` rows.

    Columns: the layer's name, its own kernel, stride, padding and dilation,
    then the cumulative RF size, jump, effective padding and first centre.
    """
    rows = list(rows)
    if not all(isinstance(row, RFRow) for row in rows):
        raise InputTypeError("rows must be RFRow records returned by receptive_field()")
    header = ("layer", "kernel", "stride", "pad", "dilation", "RF size", "jump", "eff. pad",
              "start")
    body = [(row.name, _format_value(row.layer_kernel),
             _format_value(row.layer_stride, as_fraction=True),
             *(_format_value(v) for v in (row.layer_padding, row.layer_dilation, row.size)),
             _format_value(row.stride, as_fraction=True),
             *(_format_value(v) for v in (row.padding, row.start))) for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells):
        return "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                         for i, cell in enumerate(cells))

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])
