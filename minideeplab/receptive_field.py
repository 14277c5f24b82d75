r"""Receptive fields: which input pixels can change one output, and which ones do.

Three questions about a stack of (atrous) convolutions, each with its own tool:

1. **Theoretical receptive field** (:func:`receptive_field`): the window of
   input pixels that *can* influence one output unit. Exact arithmetic on the
   layer geometry, no weights needed.
2. **Effective receptive field** (:func:`effective_receptive_field`): how much
   each input pixel *does* influence it, measured by back-propagating from one
   output unit through the real model (Luo et al., NeurIPS 2016).
3. **Gridding** (:func:`gridding_pattern`, :func:`hdc_check`) and **valid taps**
   (:func:`valid_tap_fraction`): two ways atrous convolution can waste its
   taps -- stacked rates that skip pixels, and rates so large that the taps fall
   on padding.

Theoretical receptive field
---------------------------
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

Each axis is computed separately, so a ``(1, 7)`` kernel is fine; a value is
reported as one number when height and width agree and as an ``(h, w)`` pair
when they differ.

Describing a network: layer specs, modules and ``receptive_field_layers()``
--------------------------------------------------------------------------
:func:`receptive_field` takes a list of *layer specs* or a :class:`Module`.
A layer spec is one of

* a tuple ``(kernel_size, stride, padding, dilation)`` with an optional name as
  a fifth element, e.g. ``(3, 1, 6, 6, "aspp rate 6")`` -- each number an int
  or an ``(h, w)`` pair;
* a dict ``{"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1,
  "name": "conv1"}`` (all but ``kernel_size`` optional);
* a :class:`Layer` (the same four numbers and a name);
* :class:`GlobalPool` -- global average pooling *followed by broadcasting back
  to the grid it came from*, as in ASPP's image-pooling branch. Its field is the
  whole image, represented as ``size = math.inf`` (printed ``global``; ``inf``
  compares and adds correctly, so everything after it is global too). The
  jump, effective padding and start are left unchanged, because the broadcast
  puts the result back on the same grid;
* :class:`Upsample` -- bilinear upsampling by an integer factor or ``(h, w)``
  pair (``align_corners=False``): the jump is divided by the factor, and the
  field grows by one input step ``j`` because an output interpolates two
  neighbours;
* :class:`Parallel` -- branches that read the same input and are concatenated
  (or added). Its rows are every branch's rows (named
  ``"<name>[<branch>] <layer>"``) followed by one ``kind="union"`` row: the
  smallest window that holds every branch's field (for centred branches simply
  the largest one; ``inf`` if any branch is global). The branches must end on
  the same grid (same jump), or they could not be concatenated. An empty branch
  is an identity (a skip connection);
* a :class:`Module`, walked as follows:

  - a module with a method ``receptive_field_layers()`` is replaced by the list
    of specs that the method returns (it may contain any spec above, including
    other modules, which are walked in turn);
  - the library's blocks whose forward is not a chain are known:
    ``SeparableConv2d`` is its depthwise then its pointwise conv, ``ASPP`` is a
    :class:`Parallel` of its branches followed by its projection, and
    ``ASPPPooling`` is a :class:`GlobalPool` and a 1x1 conv;
  - a module with attributes ``kernel_size`` and ``stride`` (``nn.Conv2d``, any
    pooling layer) is one layer; ``padding`` defaults to 0, ``dilation`` to 1;
  - a ``GlobalAvgPool2d`` / ``AdaptiveAvgPool2d`` (by class name) is a
    :class:`GlobalPool`; a module with a ``scale_factor`` (``nn.Upsample``) is
    an :class:`Upsample`;
  - ``nn.Sequential`` and ``nn.ModuleList`` are walked child by child, in order;
  - a module with no children and none of these attributes (``ReLU``,
    ``BatchNorm2d``, ``Dropout``, an ``Upsample`` to a given ``size``) does not
    change the geometry and is skipped. (A resize to a size after a global pool
    is the broadcast that :class:`GlobalPool` already includes; any other
    resize must be written as an :class:`Upsample` by its owner.)
  - any other module with children raises a ``TypeError``: its ``forward`` may
    not be a chain (a residual shortcut, parallel branches, a second input like
    the decoder's), and walking its children in registration order would, for
    example, add a shortcut's stride to the main path. Such a module must
    define ``receptive_field_layers()``.

**The protocol for a model.** ``model.receptive_field_layers()`` takes no
argument and returns a list of layer specs (any mix of the kinds above) in the
order data flows, from the input image to the output. Modules in the list are
named in the rows by their dotted path in the model. For DeepLabV3+ at output
stride 16, with an ASPP of rates ``(6, 12, 18)`` and a decoder that joins the
low-level features at output stride 4 (``stem`` and ``stages`` stand for the
backbone's modules; the ASPP is written out here, but ``self.aspp`` itself
would do, since the ``ASPP`` block is known)::

    from minideeplab.receptive_field import GlobalPool, Parallel, Upsample

    def receptive_field_layers(self):
        aspp = Parallel("aspp", [
            [(1, 1, 0, 1, "1x1")],
            [(3, 1, 6, 6, "3x3 rate 6")],           # rate r: padding r, dilation r
            [(3, 1, 12, 12, "3x3 rate 12")],
            [(3, 1, 18, 18, "3x3 rate 18")],
            [GlobalPool("image pooling"), (1, 1, 0, 1, "1x1")],
        ], branch_names=["1x1", "rate 6", "rate 12", "rate 18", "image pooling"])
        return [
            self.stem, self.stages[0],              # input -> output stride 4 (low-level)
            Parallel("decoder", [
                [],                                 # the low-level features: an identity
                [self.stages[1], self.stages[2],    # output stride 4 -> 16
                 aspp, (1, 1, 0, 1, "aspp projection"), Upsample(4, "upsample x4")],
            ], branch_names=["low-level", "encoder"]),
            (3, 1, 1, 1, "decoder conv 1"), (3, 1, 1, 1, "decoder conv 2"),
            (1, 1, 0, 1, "classifier"), Upsample(4, "upsample to the input"),
        ]

The last row is the model's receptive field: ``inf`` (global) because of the
image-pooling branch. The row ``"decoder[encoder] aspp[rate 18] 3x3 rate 18"``
shows how far the largest atrous branch reaches; the ``union`` rows show where
branches meet.

Effective receptive field
-------------------------
Luo et al. ("Understanding the Effective Receptive Field in Deep Convolutional
Neural Networks", NeurIPS 2016) set the gradient to 1 at one output unit and 0
elsewhere, back-propagate to the input, and look at ``|d y_centre / d x|``.
Its mass is roughly Gaussian and concentrated near the centre: a stack of
``n`` uniform ``k``-tap kernels gives the ``n``-fold convolution of a uniform
distribution, whose variance is ``n (k^2 - 1) / 12`` per axis, so the ERF's
width grows like ``sqrt(n)`` while the theoretical field grows like ``n``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .geometry import pair
from .nn.module import Module, ModuleList

__all__ = [
    "Layer", "GlobalPool", "Upsample", "Parallel", "RFRow",
    "receptive_field", "format_table", "receptive_field_box",
    "effective_receptive_field", "erf_moments", "erf_radius",
    "gridding_pattern", "count_holes", "HDCResult", "hdc_check",
    "valid_tap_map", "valid_tap_fraction",
]


# ============================================================================ layer specs

@dataclass(frozen=True)
class Layer:
    """One convolution or pooling layer: its own kernel, stride, padding, dilation.

    Each is an int or an ``(h, w)`` pair, as in ``nn.Conv2d``.
    """

    kernel_size: object
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    name: str | None = None


@dataclass(frozen=True)
class GlobalPool:
    """Global average pooling broadcast back to the same grid: the field becomes the whole image."""

    name: str = "global pool"


@dataclass(frozen=True)
class Upsample:
    """Bilinear upsampling by an integer ``factor`` or ``(h, w)`` pair (``align_corners=False``).

    Every output interpolates two neighbouring inputs, so the field grows by one
    step of the input grid; the grid becomes ``factor`` times finer, so the jump
    is divided by ``factor``. Output ``o`` sits at input coordinate
    ``(o + 1/2) / factor - 1/2``, which moves the first unit's centre by
    ``(1/(2 factor) - 1/2)`` steps.
    """

    factor: object
    name: str | None = None


@dataclass(frozen=True)
class Parallel:
    """Branches that read the same input and are concatenated (ASPP, a skip connection).

    ``branches`` is a list of branches, each a list of layer specs (or one spec);
    an empty list is the identity. ``branch_names`` label the rows (default
    ``"0"``, ``"1"``, ...).
    """

    name: str
    branches: list
    branch_names: list | None = None


@dataclass(frozen=True)
class RFRow:
    """The receptive field after one layer (one row of :func:`receptive_field`).

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
    merge of a :class:`Parallel`).
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
        return _collapse(tuple(d[i] * (k[i] - 1) + 1 for i in range(2)))


# ======================================================== theoretical receptive field

@dataclass(frozen=True)
class _Axis:
    """The recurrence's state along one axis (exact: Fractions, or inf for a global size)."""

    size: object = Fraction(1)
    jump: Fraction = Fraction(1)
    padding: Fraction = Fraction(0)
    start: Fraction = Fraction(0)


def _conv_axis(state: _Axis, k: int, s: int, p: int, d: int) -> _Axis:
    span = d * (k - 1) + 1
    return _Axis(
        size=state.size + (span - 1) * state.jump,
        jump=state.jump * s,
        padding=state.padding + p * state.jump,
        start=state.start + (Fraction(span - 1, 2) - p) * state.jump,
    )


def _global_axis(state: _Axis) -> _Axis:
    # the broadcast back keeps the grid: only the size changes
    return _Axis(math.inf, state.jump, state.padding, state.start)


def _upsample_axis(state: _Axis, factor: int) -> _Axis:
    # bilinear, align_corners=False: output o reads input coordinate (o + 1/2) / factor - 1/2
    size = state.size + state.jump                      # two bilinear taps, one step apart
    start = state.start + (Fraction(1, 2 * factor) - Fraction(1, 2)) * state.jump
    # keep start = (r - 1)/2 - P, i.e. the field of the first unit begins at -P
    padding = state.padding if size == math.inf else (size - 1) / 2 - start
    return _Axis(size, state.jump / factor, padding, start)


def _union_axis(entering: _Axis, ends: list[_Axis], name: str) -> _Axis:
    jumps = {state.jump for state in ends}
    if len(jumps) > 1:
        listing = ", ".join(str(_number(j)) for j in sorted(jumps))
        raise ValueError(
            f"the branches of Parallel {name!r} end on different grids (jumps {listing}); "
            "concatenated branches must share one effective stride"
        )
    finite = [state for state in ends if state.size != math.inf]
    if not finite:
        return _Axis(math.inf, ends[0].jump, entering.padding, entering.start)
    # the hull of every branch's field: [-max P, max (start + (r - 1)/2)]
    first = max(state.padding for state in finite)
    last = max(state.start + (state.size - 1) / 2 for state in finite)
    size = last + first + 1
    start = (last - first) / 2
    if len(finite) < len(ends):
        size = math.inf
    return _Axis(size, ends[0].jump, first, start)


def _number(value):
    """A Fraction (or inf) as a plain int when whole, else a float."""
    if value == math.inf:
        return math.inf
    value = Fraction(value)
    return int(value) if value.denominator == 1 else float(value)


def _collapse(values):
    """``(a, a) -> a``; ``(a, b)`` stays a pair."""
    return values[0] if values[0] == values[1] else tuple(values)


def _is_int_or_pair(value) -> bool:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return True
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value))


def _is_layer_tuple(spec) -> bool:
    return (isinstance(spec, tuple) and len(spec) in (4, 5)
            and all(_is_int_or_pair(v) for v in spec[:4])
            and (len(spec) == 4 or isinstance(spec[4], str)))


_DICT_KEYS = {"kernel_size", "stride", "padding", "dilation", "name"}


def _to_layer(spec, default_name: str) -> Layer:
    """Read a tuple, dict or Layer as a Layer with checked ``(h, w)`` pairs."""
    if isinstance(spec, Layer):
        layer = spec
    elif isinstance(spec, dict):
        unknown = set(spec) - _DICT_KEYS
        if unknown:
            raise ValueError(f"layer dict {spec!r} has unknown keys {sorted(unknown)}; "
                             f"allowed: {sorted(_DICT_KEYS)}")
        if "kernel_size" not in spec:
            raise ValueError(f"layer dict {spec!r} needs a 'kernel_size'")
        layer = Layer(**spec)
    else:
        layer = Layer(*spec)
    name = layer.name if layer.name is not None else default_name
    try:
        return Layer(pair(layer.kernel_size, "kernel_size", minimum=1),
                     pair(layer.stride, "stride", minimum=1),
                     pair(layer.padding, "padding", minimum=0),
                     pair(layer.dilation, "dilation", minimum=1), name)
    except (TypeError, ValueError) as error:
        raise type(error)(f"layer {name!r}: {error}") from None


def _upsample_factors(factor, name: str) -> tuple[int, int]:
    """An Upsample factor (an int, or an (h, w) pair; whole floats allowed) as two ints >= 2."""
    values = factor if isinstance(factor, (tuple, list)) else (factor, factor)
    if len(values) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                   and float(v).is_integer() and v >= 2 for v in values):
        raise ValueError(f"{name}: the upsampling factor must be an int >= 2 or an (h, w) pair "
                         f"of them, got {factor!r}")
    return int(values[0]), int(values[1])


def _block_layers(module, path: str = ""):
    """Layer specs for the library's blocks whose forward is not a plain chain.

    A module's own ``receptive_field_layers()`` takes precedence; these cover
    the blocks of :mod:`minideeplab.nn.blocks` so that they can be walked as
    they are. Returns None for any other module.
    """
    from .nn import blocks

    if isinstance(module, blocks.SeparableConv2d):
        return [module.depthwise, module.pointwise]          # BN and ReLU have no geometry
    if isinstance(module, blocks.ASPPPooling):
        return [module.pool, module.conv]   # global pool, 1x1, then broadcast back (GlobalPool)
    if isinstance(module, blocks.ASPP):
        names = ["1x1", *(f"rate {rate}" for rate in module.rates), "image pooling"]
        if len(names) != len(module.branches):
            names = None
        return [Parallel(path or "ASPP", [[branch] for branch in module.branches], names),
                module.project]
    return None


class _Walker:
    """Turns specs into rows, carrying the per-axis state from layer to layer.

    Row names: a module's row is named by its dotted path in the model and its
    class (``"aspp.project.0 (Conv2d)"``); a tuple's by its own name or
    ``"layer <n>"``, after the path of the module whose
    ``receptive_field_layers()`` returned it. Rows inside a Parallel start with
    ``"<parallel>[<branch>] "``.
    """

    def __init__(self, module_paths: dict):
        self.module_paths = module_paths     # id(module) -> dotted path, for row names
        self.rows: list[RFRow] = []

    # ---------------------------------------------------------------- emitting rows
    def _emit(self, name, kind, state, layer: Layer | None = None, layer_stride=None):
        if layer is not None:
            own = (_collapse(layer.kernel_size), _collapse(layer.stride),
                   _collapse(layer.padding), _collapse(layer.dilation))
        else:
            own = (None, layer_stride, None, None)
        self.rows.append(RFRow(
            name, kind, *own,
            size=_collapse(tuple(_number(a.size) for a in state)),
            stride=_collapse(tuple(_number(a.jump) for a in state)),
            padding=_collapse(tuple(_number(a.padding) for a in state)),
            start=_collapse(tuple(_number(a.start) for a in state)),
        ))

    # ------------------------------------------------------------------- the walk
    def walk(self, specs, state, prefix: str = "", owner: str = ""):
        """Apply ``specs`` in order to ``state`` (a pair of _Axis); return the new state.

        ``prefix`` names the Parallel branch we are in; ``owner`` the module whose
        ``receptive_field_layers()`` produced ``specs`` (for naming tuples).
        """
        for index, spec in enumerate(specs):
            state = self.step(spec, state, prefix, f"{owner}layer {index + 1}", owner)
        return state

    def step(self, spec, state, prefix: str, default_name: str, owner: str = ""):
        if isinstance(spec, Parallel):
            return self.parallel(spec, state, prefix, owner)
        if isinstance(spec, GlobalPool):
            state = tuple(_global_axis(a) for a in state)
            self._emit(prefix + owner + spec.name, "global", state)
            return state
        if isinstance(spec, Upsample):
            name = spec.name if spec.name is not None else f"upsample x{spec.factor}"
            factors = _upsample_factors(spec.factor, f"Upsample {name!r}")
            state = tuple(_upsample_axis(state[i], factors[i]) for i in range(2))
            self._emit(prefix + owner + name, "upsample", state,
                       layer_stride=_collapse((1 / factors[0], 1 / factors[1])))
            return state
        if isinstance(spec, (Layer, dict)) or _is_layer_tuple(spec):
            layer = _to_layer(spec, default_name)
            if layer.name != default_name:            # its own name: add the owner's path
                layer = dataclasses.replace(layer, name=owner + layer.name)
            state = tuple(_conv_axis(state[i], layer.kernel_size[i], layer.stride[i],
                                     layer.padding[i], layer.dilation[i]) for i in range(2))
            self._emit(prefix + layer.name, "layer", state, layer)
            return state
        if isinstance(spec, Module):
            return self.module(spec, state, prefix)
        if isinstance(spec, (list, tuple)):
            raise TypeError(
                f"layer spec {spec!r} is not a (kernel_size, stride, padding, dilation[, name]) "
                "tuple of ints or (h, w) pairs"
            )
        raise TypeError(f"cannot read a receptive field from a {type(spec).__name__}: expected a "
                        "layer tuple, dict, Layer, GlobalPool, Upsample, Parallel or Module")

    def module(self, module, state, prefix):
        cls = type(module).__name__
        path = self.module_paths.get(id(module), "")
        label = f"{path} ({cls})" if path else cls
        owner = f"{path}/" if path else ""
        if callable(getattr(module, "receptive_field_layers", None)):
            specs = module.receptive_field_layers()
            if not isinstance(specs, (list, tuple)):
                raise TypeError(f"{cls}.receptive_field_layers() must return a list of layer "
                                f"specs, got {type(specs).__name__}")
            return self.walk(specs, state, prefix, owner)
        specs = _block_layers(module, path)
        if specs is not None:         # its modules are named by their own paths: no owner
            return self.walk(specs, state, prefix)
        if cls in ("GlobalAvgPool2d", "AdaptiveAvgPool2d"):
            return self.step(GlobalPool(label), state, prefix, label)
        if hasattr(module, "kernel_size") and hasattr(module, "stride"):
            layer = Layer(module.kernel_size, module.stride, getattr(module, "padding", 0),
                          getattr(module, "dilation", 1), label)
            return self.step(layer, state, prefix, label)
        if getattr(module, "scale_factor", None) is not None:
            return self.step(Upsample(module.scale_factor, label), state, prefix, label)
        if isinstance(module, ModuleList):       # Sequential is a ModuleList
            return self.walk(list(module), state, prefix, owner)
        if not list(module.children()):
            return state                          # ReLU, BatchNorm, Dropout: no geometry
        raise TypeError(
            f"cannot walk {cls}{' at ' + repr(path) if path else ''}: it has child modules but "
            "is not nn.Sequential and has no receptive_field_layers() method. Its forward may "
            "not be a chain (residual shortcuts, parallel branches, a second input), so define "
            "receptive_field_layers() returning its layers in data-flow order (see the "
            "minideeplab.receptive_field docstring)"
        )

    def parallel(self, spec: Parallel, state, prefix: str, owner: str = ""):
        if not isinstance(spec.branches, (list, tuple)) or not spec.branches:
            raise ValueError(f"Parallel {spec.name!r} needs a non-empty list of branches")
        names = spec.branch_names
        if names is None:
            names = [str(i) for i in range(len(spec.branches))]
        if len(names) != len(spec.branches):
            raise ValueError(f"Parallel {spec.name!r}: {len(names)} branch_names for "
                             f"{len(spec.branches)} branches")
        name = owner + spec.name
        ends = []
        for branch, branch_name in zip(spec.branches, names, strict=True):
            if isinstance(branch, list) or (isinstance(branch, tuple)
                                            and not _is_layer_tuple(branch)):
                branch_specs = list(branch)
            else:
                branch_specs = [branch]                    # one spec on its own
            ends.append(self.walk(branch_specs, state, f"{prefix}{name}[{branch_name}] "))
        merged = tuple(_union_axis(state[i], [end[i] for end in ends], name) for i in range(2))
        self._emit(f"{prefix}{name}: union of {len(ends)} branches", "union", merged)
        return merged


def receptive_field(layers) -> list[RFRow]:
    """The theoretical receptive field after every layer of a network.

    ``layers`` is a list of layer specs -- ``(kernel_size, stride, padding,
    dilation)`` tuples with an optional name, dicts, :class:`Layer`,
    :class:`GlobalPool`, :class:`Upsample`, :class:`Parallel` or modules -- or a
    :class:`~minideeplab.nn.Module` (see the module docstring for how modules
    are walked and the ``receptive_field_layers()`` protocol).

    Returns one :class:`RFRow` per layer (no row for the input), with the
    cumulative ``size``, ``stride`` (jump), ``padding`` and ``start``.

    >>> rows = receptive_field([(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4)])
    >>> [row.size for row in rows]          # 3, then + 2*2, then + 2*4
    [3, 7, 15]
    """
    if isinstance(layers, Module):
        paths = {id(m): name for name, m in layers.named_modules()}
        specs = [layers]
    elif isinstance(layers, (list, tuple)):
        if _is_layer_tuple(layers):
            raise TypeError(f"layers must be a list of layer tuples; wrap the single layer "
                            f"{layers!r} in a list")
        paths, specs = {}, list(layers)
    else:
        raise TypeError(f"layers must be a list of layer specs or a Module, "
                        f"got {type(layers).__name__}")
    paths = {key: value for key, value in paths.items() if value}   # the root has no path
    walker = _Walker(paths)
    walker.walk(specs, (_Axis(), _Axis()))
    if not walker.rows:
        raise ValueError("layers has no layer with a geometry (no convolution or pooling found)")
    return walker.rows


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
    """A printable table of :func:`receptive_field` rows.

    Columns: the layer's name, its own kernel, stride, padding and dilation,
    then the cumulative RF size, jump, effective padding and first centre.
    """
    rows = list(rows)
    if not all(isinstance(row, RFRow) for row in rows):
        raise TypeError("rows must be RFRow records returned by receptive_field()")
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


def receptive_field_box(row: RFRow, output_index=(0, 0)):
    """Input pixels ``(top, left, bottom, right)`` (inclusive) seen by one output unit.

    Unit ``(i, j)`` is centred at ``start + (i, j) * jump`` and its field spans
    ``(size - 1) / 2`` pixels either side. The box may reach outside the image
    (into padding); for a global field it is infinite.
    """
    if not isinstance(row, RFRow):
        raise TypeError(f"row must be an RFRow, got {type(row).__name__}")
    index = pair(output_index, "output_index", minimum=0)
    size, jump, start = (_pair_of(v) for v in (row.size, row.stride, row.start))
    centre = [start[a] + index[a] * jump[a] for a in range(2)]
    half = [(size[a] - 1) / 2 for a in range(2)]
    return (centre[0] - half[0], centre[1] - half[1], centre[0] + half[0], centre[1] + half[1])


def _pair_of(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


# ========================================================== effective receptive field

def effective_receptive_field(model, input_shape, n_samples: int = 8, seed: int = 0,
                              output_index=None, channel: int | None = None) -> np.ndarray:
    r"""Luo et al.'s effective receptive field of one output unit, as an (H, W) map summing to 1.

    For ``n_samples`` random inputs ``x ~ N(0, 1)`` of shape ``input_shape`` =
    ``(C, H, W)``, run ``y = model(x)``, set the upstream gradient to 1 at the
    output unit ``output_index`` = ``(i, j)`` (default: the centre of the output
    map) -- in every output channel, or only in ``channel`` -- and 0 elsewhere,
    and back-propagate with ``dx = model.backward(grad)``. Then

    .. math::  ERF[h, w] \propto \frac{1}{N} \sum_n \sum_c
               \left| \frac{\partial y_{centre}}{\partial x[n, c, h, w]} \right|

    normalised to sum 1.

    **Measured in eval mode.** In training mode BatchNorm normalises with the
    statistics of the whole batch and of every pixel, so the centre output
    depends a little on *every* input pixel of every sample: the gradient would
    be non-zero everywhere and hide the locality we want to see. Eval mode
    (running statistics, no dropout) makes every sample an independent function
    of its own pixels, which also lets the ``n_samples`` inputs run as one batch.
    The model's modes and parameter gradients are restored afterwards.

    ``model`` is any callable with a ``backward(grad_out)`` method, e.g. an
    :class:`~minideeplab.nn.Module`, whose output is (N, C_out, H_out, W_out).
    """
    if not callable(model) or not callable(getattr(model, "backward", None)):
        raise TypeError(f"model must be callable and have a backward(grad_out) method, "
                        f"got {type(model).__name__}")
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(v, numbers.Integral) and v >= 1 for v in input_shape)):
        raise ValueError(f"input_shape must be (C, H, W) with positive ints, got {input_shape!r}")
    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")

    modules = list(model.modules()) if isinstance(model, Module) else []
    saved_modes = [module.training for module in modules]
    parameters = model.parameters() if isinstance(model, Module) else []
    saved_grads = [parameter.grad.copy() for parameter in parameters]
    dtype = model.dtype if isinstance(model, Module) else np.float64
    if hasattr(model, "eval"):
        model.eval()
    try:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n_samples, *input_shape)).astype(dtype)
        y = model(x)
        if not isinstance(y, np.ndarray) or y.ndim != 4:
            raise ValueError(f"the model's output must be an (N, C, H, W) array, "
                             f"got {getattr(y, 'shape', type(y).__name__)}")
        _, c_out, h_out, w_out = y.shape
        if output_index is None:
            output_index = (h_out // 2, w_out // 2)
        i, j = pair(output_index, "output_index", minimum=0)
        if i >= h_out or j >= w_out:
            raise ValueError(f"output_index {(i, j)} is outside the output map {(h_out, w_out)}")
        grad = np.zeros_like(y)
        if channel is None:
            grad[:, :, i, j] = 1.0
        else:
            if not isinstance(channel, numbers.Integral) or not 0 <= channel < c_out:
                raise ValueError(f"channel must be an int in [0, {c_out}), got {channel!r}")
            grad[:, channel, i, j] = 1.0
        dx = model.backward(grad)
        if not isinstance(dx, np.ndarray) or dx.shape != x.shape:
            raise TypeError(f"model.backward must return the input gradient, an array of shape "
                            f"{x.shape}; got {getattr(dx, 'shape', type(dx).__name__)}")
    finally:
        for module, mode in zip(modules, saved_modes, strict=True):
            module.training = mode
        for parameter, grad_before in zip(parameters, saved_grads, strict=True):
            parameter.grad = grad_before
    erf = np.abs(np.asarray(dx, dtype=np.float64)).sum(axis=1).mean(axis=0)
    total = erf.sum()
    if total == 0.0:
        raise RuntimeError("the gradient of the chosen output is zero at every input pixel "
                           "(every path blocked, e.g. all ReLUs dead); no ERF to normalise")
    return erf / total


def _check_erf(erf) -> np.ndarray:
    erf = np.asarray(erf, dtype=np.float64)
    if erf.ndim != 2:
        raise ValueError(f"erf must be an (H, W) array, got shape {erf.shape}")
    if np.any(erf < 0) or erf.sum() <= 0:
        raise ValueError("erf must be non-negative with a positive sum")
    return erf / erf.sum()


def erf_moments(erf):
    """Centre of mass ``(cy, cx)`` and variance ``(var_y, var_x)`` of an ERF, per axis.

    The ERF is read as a probability distribution over pixels; its marginals
    along rows and columns give ``mean = sum_h h p(h)`` and
    ``var = sum_h (h - mean)^2 p(h)``. For ``n`` stacked uniform ``k``-tap
    kernels ``var = n (k^2 - 1) / 12`` exactly.
    """
    erf = _check_erf(erf)
    centres, variances = [], []
    for axis in range(2):
        marginal = erf.sum(axis=1 - axis)
        positions = np.arange(marginal.size, dtype=np.float64)
        mean = float(np.sum(positions * marginal))
        centres.append(mean)
        variances.append(float(np.sum((positions - mean) ** 2 * marginal)))
    return tuple(centres), tuple(variances)


def erf_radius(erf, share: float = 0.9, centre=None, metric: str = "box") -> float:
    """Smallest radius around ``centre`` that holds ``share`` of the ERF's mass.

    ``metric="box"`` (default) measures the Chebyshev distance
    ``max(|h - cy|, |w - cx|)``, so the square of side ``2 radius + 1`` holds the
    share -- directly comparable with the (square) theoretical field of side
    ``r``. ``metric="disc"`` uses the Euclidean distance. ``centre`` defaults to
    the ERF's centre of mass.
    """
    erf = _check_erf(erf)
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    if metric not in ("box", "disc"):
        raise ValueError(f"metric must be 'box' or 'disc', got {metric!r}")
    if centre is None:
        centre, _ = erf_moments(erf)
    rows, cols = np.indices(erf.shape, dtype=np.float64)
    dy, dx = np.abs(rows - centre[0]), np.abs(cols - centre[1])
    distance = np.maximum(dy, dx) if metric == "box" else np.hypot(dy, dx)
    order = np.argsort(distance, axis=None, kind="stable")
    cumulative = np.cumsum(erf.reshape(-1)[order])
    # a small tolerance: a share of exactly 1.0 must not fail on rounding
    position = int(np.searchsorted(cumulative, share - 1e-12))
    position = min(position, cumulative.size - 1)
    return float(distance.reshape(-1)[order][position])


# ============================================================================= gridding

def _check_rates(rates, name: str = "rates") -> tuple[int, ...]:
    if isinstance(rates, numbers.Integral):
        rates = (rates,)
    if not isinstance(rates, (tuple, list)) or not rates:
        raise TypeError(f"{name} must be a non-empty sequence of ints, got {rates!r}")
    for rate in rates:
        if not isinstance(rate, numbers.Integral) or isinstance(rate, bool):
            raise TypeError(f"{name} must hold ints, got {rate!r}")
        if rate < 1:
            raise ValueError(f"every rate in {name} must be >= 1, got {rate!r}")
    return tuple(int(rate) for rate in rates)


def _check_kernel_size(kernel_size) -> int:
    if not isinstance(kernel_size, numbers.Integral) or isinstance(kernel_size, bool):
        raise TypeError(f"kernel_size must be an int, got {kernel_size!r}")
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size!r}")
    return int(kernel_size)


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
    rates = _check_rates(rates)
    kernel_size = _check_kernel_size(kernel_size)
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim!r}")
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
        raise ValueError(f"pattern must be 1-D or 2-D, got shape {pattern.shape}")
    reached = pattern != 0
    if not reached.any():
        raise ValueError("pattern has no non-zero entry")
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
    rates = _check_rates(rates)
    kernel_size = _check_kernel_size(kernel_size)
    if len(rates) < 2:
        raise ValueError(f"hdc_check needs a group of at least two rates, got {rates}")
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


# =========================================================================== valid taps

def _valid_taps_1d(rate: int, size: int, kernel_size: int) -> np.ndarray:
    """Per output position: how many of the k taps land inside [0, size)."""
    offsets = (np.arange(kernel_size) - (kernel_size - 1) // 2) * rate
    positions = np.arange(size)[:, None] + offsets[None, :]
    return np.count_nonzero((positions >= 0) & (positions < size), axis=1)


def valid_tap_map(rate: int, map_size, kernel_size: int = 3) -> np.ndarray:
    """Fraction of a ``k x k`` atrous kernel's taps that land inside the map, per position.

    With stride 1 and 'same' padding ``p = rate (k - 1) / 2``, output ``(i, j)``
    reads ``(i + u rate, j + v rate)`` for ``u, v in -(k-1)/2 .. (k-1)/2``. Taps
    outside ``[0, H) x [0, W)`` multiply padding zeros: wasted weights. A tap is
    valid when both coordinates are inside, so the count is a product of one
    count per axis. Returns an (H, W) array of fractions in ``[1/k^2, 1]``.
    """
    if not isinstance(rate, numbers.Integral) or isinstance(rate, bool) or rate < 1:
        raise ValueError(f"rate must be an int >= 1, got {rate!r}")
    kernel_size = _check_kernel_size(kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so that 'same' padding centres it, "
                         f"got {kernel_size}")
    height, width = pair(map_size, "map_size", minimum=1)
    rows = _valid_taps_1d(int(rate), height, kernel_size)
    cols = _valid_taps_1d(int(rate), width, kernel_size)
    return np.outer(rows, cols) / kernel_size ** 2


def valid_tap_fraction(rate: int, map_size, kernel_size: int = 3) -> float:
    """Mean of :func:`valid_tap_map` over all positions: the share of weights that see data.

    The DeepLabV3 argument (Chen et al., 2017, Fig. 4) for adding image pooling
    to ASPP: as the rate approaches the map size, fewer taps land on the map;
    once ``rate >= map_size`` only the centre tap does, and a 3x3 atrous
    convolution degenerates to a 1x1 (fraction ``1/9``).
    """
    return float(valid_tap_map(rate, map_size, kernel_size).mean())
