"""The theoretical receptive field of a network: walk its layer specs (or a model) row by row.

:func:`receptive_field` takes a list of *layer specs* or a
:class:`~minideeplab.nn.Module` and applies the recurrence of :mod:`.recurrence`
to each layer in the order data flows. A layer spec is one of

* a tuple ``(kernel_size, stride, padding, dilation)`` with an optional name as
  a fifth element, e.g. ``(3, 1, 6, 6, "aspp rate 6")`` -- each number an int
  or an ``(h, w)`` pair;
* a dict ``{"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1,
  "name": "conv1"}`` (all but ``kernel_size`` optional);
* a :class:`~minideeplab.geometry.LayerSpec` (the same four numbers and a name);
* a :class:`~minideeplab.geometry.GlobalPoolSpec` -- global average pooling
  *followed by broadcasting back to the grid it came from*, as in ASPP's
  image-pooling branch. Its field is the whole image, ``size = math.inf``
  (printed ``global``);
* an :class:`~minideeplab.geometry.UpsampleSpec` -- bilinear upsampling by an
  integer factor or ``(h, w)`` pair;
* a :class:`~minideeplab.geometry.ParallelSpec` -- branches that read the same
  input and are concatenated (or added). Its rows are every branch's rows
  (named ``"<name>[<branch>] <layer>"``) followed by one ``kind="union"`` row:
  the smallest window that holds every branch's field. An empty branch is an
  identity (a skip connection);
* a :class:`~minideeplab.nn.Module`, walked as follows:

  - a module with a method ``layer_specs()`` is replaced by the list of specs
    that the method returns (it may contain any spec above, including other
    modules, which are walked in turn). The library's blocks whose forward is
    not a chain (``SeparableConv2d``, ``ASPP``, ``ASPPPooling``) and the models
    describe themselves this way. (The method's older name
    ``receptive_field_layers()`` is read too.)
  - a module with attributes ``kernel_size`` and ``stride`` (``nn.Conv2d``, any
    pooling layer) is one layer; ``padding`` defaults to 0, ``dilation`` to 1;
  - a ``GlobalAvgPool2d`` / ``AdaptiveAvgPool2d`` (by class name) is a global
    pool; a module with a ``scale_factor`` (``nn.Upsample``) is an upsampling;
  - ``nn.Sequential`` and ``nn.ModuleList`` are walked child by child, in order;
  - a module with no children and none of these attributes (``ReLU``,
    ``BatchNorm2d``, ``Dropout``, an ``nn.Upsample`` to a given ``size``) does
    not change the geometry and is skipped. (A resize to a size after a global
    pool is the broadcast that the global pool already includes; any other
    resize must be written as an ``UpsampleSpec`` by its owner.)
  - any other module with children raises a ``TypeError``: its ``forward`` may
    not be a chain (a residual shortcut, parallel branches, a second input like
    the decoder's), and walking its children in registration order would, for
    example, add a shortcut's stride to the main path. Such a module must
    define ``layer_specs()``.

The old names ``Layer``, ``GlobalPool``, ``Upsample`` and ``Parallel`` of this
package are the same four classes.

**The protocol for a model.** ``model.layer_specs()`` takes no argument and
returns a list of layer specs (any mix of the kinds above) in the order data
flows, from the input image to the output. Modules in the list are named in
the rows by their dotted path in the model; a ``ParallelSpec`` named ``None``
takes the name of the module that returned it. For DeepLabV3+ at output stride
16, with an ASPP of rates ``(6, 12, 18)`` and a decoder that joins the
low-level features at output stride 4 (``stem`` and ``stages`` stand for the
backbone's modules; the ASPP is written out here, but ``self.aspp`` itself
would do, since the ``ASPP`` block describes itself)::

    from minideeplab.geometry import GlobalPoolSpec, ParallelSpec, UpsampleSpec

    def layer_specs(self):
        aspp = ParallelSpec("aspp", [
            [(1, 1, 0, 1, "1x1")],
            [(3, 1, 6, 6, "3x3 rate 6")],           # rate r: padding r, dilation r
            [(3, 1, 12, 12, "3x3 rate 12")],
            [(3, 1, 18, 18, "3x3 rate 18")],
            [GlobalPoolSpec("image pooling"), (1, 1, 0, 1, "1x1")],
        ], branch_names=["1x1", "rate 6", "rate 12", "rate 18", "image pooling"])
        return [
            self.stem, self.stages[0],              # input -> output stride 4 (low-level)
            ParallelSpec("decoder", [
                [],                                 # the low-level features: an identity
                [self.stages[1], self.stages[2],    # output stride 4 -> 16
                 aspp, (1, 1, 0, 1, "aspp projection"), UpsampleSpec(4, "upsample x4")],
            ], branch_names=["low-level", "encoder"]),
            (3, 1, 1, 1, "decoder conv 1"), (3, 1, 1, 1, "decoder conv 2"),
            (1, 1, 0, 1, "classifier"), UpsampleSpec(4, "upsample to the input"),
        ]

The last row is the model's receptive field: ``inf`` (global) because of the
image-pooling branch. The row ``"decoder[encoder] aspp[rate 18] 3x3 rate 18"``
shows how far the largest atrous branch reaches; the ``union`` rows show where
branches meet.
"""

from __future__ import annotations

import dataclasses
import numbers

from ..errors import InputError, InputTypeError
from ..geometry import GlobalPoolSpec, LayerSpec, ParallelSpec, UpsampleSpec, pair
from ..nn.module import Module, ModuleList
from .recurrence import (
    AxisState,
    RFRow,
    as_number,
    collapse,
    conv_step,
    global_pool_step,
    union_step,
    upsample_step,
)

__all__ = ["receptive_field"]

# the methods a module may define to describe its own layers, read in this order
_PROTOCOL_METHODS = ("layer_specs", "receptive_field_layers")


# ====================================================================== reading specs

def _is_int_or_pair(value) -> bool:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return True
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value))


def _is_layer_tuple(spec) -> bool:
    """True for a ``(kernel_size, stride, padding, dilation[, name])`` tuple of ints or pairs."""
    return (isinstance(spec, tuple) and len(spec) in (4, 5)
            and all(_is_int_or_pair(v) for v in spec[:4])
            and (len(spec) == 4 or isinstance(spec[4], str)))


_DICT_KEYS = {"kernel_size", "stride", "padding", "dilation", "name"}


def _to_layer(spec, default_name: str) -> LayerSpec:
    """Read a tuple, dict or LayerSpec as a LayerSpec with checked ``(h, w)`` pairs."""
    if isinstance(spec, LayerSpec):
        layer = spec
    elif isinstance(spec, dict):
        unknown = set(spec) - _DICT_KEYS
        if unknown:
            raise InputError(f"layer dict {spec!r} has unknown keys {sorted(unknown)}; "
                             f"allowed: {sorted(_DICT_KEYS)}")
        if "kernel_size" not in spec:
            raise InputError(f"layer dict {spec!r} needs a 'kernel_size'")
        layer = LayerSpec(**spec)
    else:
        layer = LayerSpec(*spec)
    name = layer.name if layer.name is not None else default_name
    try:
        return LayerSpec(pair(layer.kernel_size, "kernel_size", minimum=1),
                         pair(layer.stride, "stride", minimum=1),
                         pair(layer.padding, "padding", minimum=0),
                         pair(layer.dilation, "dilation", minimum=1), name)
    except (TypeError, ValueError) as error:
        raise type(error)(f"layer {name!r}: {error}") from None


def _upsample_factors(factor, name: str) -> tuple[int, int]:
    """An upsampling factor (an int, or an (h, w) pair; whole floats allowed) as two ints >= 2."""
    values = factor if isinstance(factor, (tuple, list)) else (factor, factor)
    if len(values) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                   and float(v).is_integer() and v >= 2 for v in values):
        raise InputError(f"{name}: the upsampling factor must be an int >= 2 or an (h, w) pair "
                         f"of them, got {factor!r}")
    return int(values[0]), int(values[1])


def _own_layer_specs(module):
    """The bound ``layer_specs()`` (or older ``receptive_field_layers()``) method, or None."""
    for method in _PROTOCOL_METHODS:
        described = getattr(module, method, None)
        if callable(described):
            return described
    return None


# =========================================================================== the walk

class _Walker:
    """Turns specs into rows, carrying the per-axis state from layer to layer.

    Row names: a module's row is named by its dotted path in the model and its
    class (``"aspp.project.0 (Conv2d)"``); a tuple's by its own name or
    ``"layer <n>"``, after the path of the module whose ``layer_specs()``
    returned it. Rows inside a parallel spec start with ``"<parallel>[<branch>] "``.
    """

    def __init__(self, module_paths: dict):
        self.module_paths = module_paths     # id(module) -> dotted path, for row names
        self.rows: list[RFRow] = []

    # ---------------------------------------------------------------- emitting rows
    def _emit(self, name, kind, state, layer: LayerSpec | None = None, layer_stride=None):
        if layer is not None:
            own = (collapse(layer.kernel_size), collapse(layer.stride),
                   collapse(layer.padding), collapse(layer.dilation))
        else:
            own = (None, layer_stride, None, None)
        self.rows.append(RFRow(
            name, kind, *own,
            size=collapse(tuple(as_number(a.size) for a in state)),
            stride=collapse(tuple(as_number(a.jump) for a in state)),
            padding=collapse(tuple(as_number(a.padding) for a in state)),
            start=collapse(tuple(as_number(a.start) for a in state)),
        ))

    # ------------------------------------------------------------------- the walk
    def walk(self, specs, state, prefix: str = "", owner: str = "", owner_name: str = ""):
        """Apply ``specs`` in order to ``state`` (a pair of AxisState); return the new state.

        ``prefix`` names the parallel branch we are in; ``owner`` is the path
        (with a trailing ``/``) of the module whose ``layer_specs()`` produced
        ``specs``, for naming tuples, and ``owner_name`` its path or class, for
        naming an unnamed parallel spec.
        """
        for index, spec in enumerate(specs):
            state = self.step(spec, state, prefix, f"{owner}layer {index + 1}", owner,
                              owner_name)
        return state

    def step(self, spec, state, prefix: str, default_name: str, owner: str = "",
             owner_name: str = ""):
        if isinstance(spec, ParallelSpec):
            return self.parallel(spec, state, prefix, owner, owner_name)
        if isinstance(spec, GlobalPoolSpec):
            state = tuple(global_pool_step(a) for a in state)
            self._emit(prefix + owner + spec.name, "global", state)
            return state
        if isinstance(spec, UpsampleSpec):
            name = spec.name if spec.name is not None else f"upsample x{spec.factor}"
            factors = _upsample_factors(spec.factor, f"Upsample {name!r}")
            state = tuple(upsample_step(state[i], factors[i]) for i in range(2))
            self._emit(prefix + owner + name, "upsample", state,
                       layer_stride=collapse((1 / factors[0], 1 / factors[1])))
            return state
        if isinstance(spec, (LayerSpec, dict)) or _is_layer_tuple(spec):
            layer = _to_layer(spec, default_name)
            if layer.name != default_name:            # its own name: add the owner's path
                layer = dataclasses.replace(layer, name=owner + layer.name)
            state = tuple(conv_step(state[i], layer.kernel_size[i], layer.stride[i],
                                    layer.padding[i], layer.dilation[i]) for i in range(2))
            self._emit(prefix + layer.name, "layer", state, layer)
            return state
        if isinstance(spec, Module):
            return self.module(spec, state, prefix)
        if isinstance(spec, (list, tuple)):
            raise InputTypeError(
                f"layer spec {spec!r} is not a (kernel_size, stride, padding, dilation[, name]) "
                "tuple of ints or (h, w) pairs"
            )
        raise InputTypeError(
            f"cannot read a receptive field from a {type(spec).__name__}: expected a layer tuple, "
            "dict, LayerSpec, GlobalPoolSpec, UpsampleSpec, ParallelSpec or Module")

    def module(self, module, state, prefix):
        cls = type(module).__name__
        path = self.module_paths.get(id(module), "")
        label = f"{path} ({cls})" if path else cls
        described = _own_layer_specs(module)
        if described is not None:
            specs = described()
            if not isinstance(specs, (list, tuple)):
                raise InputTypeError(f"{cls}.{described.__name__}() must return a list of layer "
                                     f"specs, got {type(specs).__name__}")
            return self.walk(specs, state, prefix, f"{path}/" if path else "", path or cls)
        if cls in ("GlobalAvgPool2d", "AdaptiveAvgPool2d"):
            return self.step(GlobalPoolSpec(label), state, prefix, label)
        if hasattr(module, "kernel_size") and hasattr(module, "stride"):
            layer = LayerSpec(module.kernel_size, module.stride, getattr(module, "padding", 0),
                              getattr(module, "dilation", 1), label)
            return self.step(layer, state, prefix, label)
        if getattr(module, "scale_factor", None) is not None:
            return self.step(UpsampleSpec(module.scale_factor, label), state, prefix, label)
        if isinstance(module, ModuleList):       # Sequential is a ModuleList
            return self.walk(list(module), state, prefix, f"{path}/" if path else "")
        if not list(module.children()):
            return state                          # ReLU, BatchNorm, Dropout: no geometry
        raise InputTypeError(
            f"cannot walk {cls}{' at ' + repr(path) if path else ''}: it has child modules but "
            "is not nn.Sequential and has no layer_specs() method (or receptive_field_layers(), "
            "its older name). Its forward may not be a chain (residual shortcuts, parallel "
            "branches, a second input), so define layer_specs() returning its layers in "
            "data-flow order (see the minideeplab.receptive_field.theoretical docstring)"
        )

    def parallel(self, spec: ParallelSpec, state, prefix: str, owner: str = "",
                 owner_name: str = ""):
        label = spec.name if spec.name is not None else (owner_name or "parallel")
        if not isinstance(spec.branches, (list, tuple)) or not spec.branches:
            raise InputError(f"Parallel {label!r} needs a non-empty list of branches")
        names = spec.branch_names
        if names is None:
            names = [str(i) for i in range(len(spec.branches))]
        if len(names) != len(spec.branches):
            raise InputError(f"Parallel {label!r}: {len(names)} branch_names for "
                             f"{len(spec.branches)} branches")
        # a named spec carries its owner's path; an unnamed one is the owner itself
        name = owner + spec.name if spec.name is not None else label
        ends = []
        for branch, branch_name in zip(spec.branches, names, strict=True):
            if isinstance(branch, list) or (isinstance(branch, tuple)
                                            and not _is_layer_tuple(branch)):
                branch_specs = list(branch)
            else:
                branch_specs = [branch]                    # one spec on its own
            ends.append(self.walk(branch_specs, state, f"{prefix}{name}[{branch_name}] "))
        merged = tuple(union_step(state[i], [end[i] for end in ends], name) for i in range(2))
        self._emit(f"{prefix}{name}: union of {len(ends)} branches", "union", merged)
        return merged


def receptive_field(layers) -> list[RFRow]:
    """The theoretical receptive field after every layer of a network.

    ``layers`` is a list of layer specs -- ``(kernel_size, stride, padding,
    dilation)`` tuples with an optional name, dicts, ``LayerSpec``,
    ``GlobalPoolSpec``, ``UpsampleSpec``, ``ParallelSpec`` or modules -- or a
    :class:`~minideeplab.nn.Module` (see the module docstring for how modules
    are walked and the ``layer_specs()`` protocol).

    Returns one :class:`~.recurrence.RFRow` per layer (no row for the input),
    with the cumulative ``size``, ``stride`` (jump), ``padding`` and ``start``.

    >>> rows = receptive_field([(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4)])
    >>> [row.size for row in rows]          # 3, then + 2*2, then + 2*4
    [3, 7, 15]
    """
    if isinstance(layers, Module):
        paths = {id(m): name for name, m in layers.named_modules()}
        specs = [layers]
    elif isinstance(layers, (list, tuple)):
        if _is_layer_tuple(layers):
            raise InputTypeError(f"layers must be a list of layer tuples; wrap the single layer "
                                 f"{layers!r} in a list")
        paths, specs = {}, list(layers)
    else:
        raise InputTypeError(f"layers must be a list of layer specs or a Module, "
                             f"got {type(layers).__name__}")
    paths = {key: value for key, value in paths.items() if value}   # the root has no path
    walker = _Walker(paths)
    walker.walk(specs, (AxisState(), AxisState()))
    if not walker.rows:
        raise InputError("layers has no layer with a geometry (no convolution or pooling found)")
    return walker.rows
