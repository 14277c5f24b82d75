"""The pure-arithmetic ladders: a conv's output size, a separable conv's weights, the RF step.

No arrays here, only integers and fractions, compared exactly. The output-size
rungs add padding, a stride that does not divide evenly (the floor), dilation,
and finally different ``(h, w)`` values per axis; the parameter count grows from
1x1 to the paper's examples; the receptive-field step starts at the input (jump
1, where forgetting the jump changes nothing) and then follows layers whose
input grid is coarser (jump 2, 4), finer (after an upsampling) or global.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

from ..geometry import conv_output_size, pair
from ..nn import Conv2d
from ..receptive_field.recurrence import AxisState, conv_step, global_pool_step, upsample_step
from ..summary import count_parameters
from .cases import Case, OutputProblem, Suspect, Trial

__all__ = ["SIZE_LADDER", "size_features", "size_trial",
           "PARAMS_LADDER", "params_features", "params_trial", "separable_conv_parameters",
           "STEP_LADDER", "step_features", "step_trial"]


# ================================================================= output size

def _size(label, size, k, stride=1, padding=0, dilation=1):
    return Case(label, dict(size=size, k=k, stride=stride, padding=padding, dilation=dilation))


SIZE_LADDER = [
    _size("kernel 1, nothing else", 5, 1),
    _size("kernel 3, no padding", 5, 3),
    _size("padding 1 ('same' for a 3x3)", 5, 3, padding=1),
    _size("stride 2 (the division floors)", 8, 3, stride=2, padding=1),
    _size("dilation 2 with padding 2", 7, 3, padding=2, dilation=2),
    _size("dilation 3 without padding", 9, 3, dilation=3),
    _size("stride 2 with dilation 2, odd size", 9, 3, stride=2, padding=1, dilation=2),
    _size("hardest: (h, w) pairs that differ", (6, 9), (1, 3), stride=(1, 2), padding=(0, 1),
          dilation=(1, 2)),
]


def size_features(params) -> dict:
    return {"padding > 0": max(pair(params["padding"])) > 0,
            "stride > 1": max(pair(params["stride"])) > 1,
            "dilation > 1": max(pair(params["dilation"])) > 1,
            "(h, w) pairs": any(isinstance(params[k], tuple) for k in params)}


def _as_pair(result, what):
    try:
        values = tuple(result)
        if len(values) == 2 and all(float(v) == int(v) for v in values):
            return tuple(int(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        pass
    raise OutputProblem(f"{what} must return an (H_out, W_out) pair of ints, got {result!r}")


def size_trial(params, seed) -> Trial:
    """``conv_output_size(input_size, kernel_size, stride=, padding=, dilation=)``."""
    options = {k: params[k] for k in ("stride", "padding", "dilation")}

    def make_args():
        return (params["size"], params["k"]), dict(options)

    def unpack(result, args):
        return {"(H_out, W_out)": _as_pair(result, "conv_output_size")}

    def suspects(args):
        k, (s, p) = pair(params["k"]), (pair(params["stride"]), pair(params["padding"]))
        size, d = pair(params["size"]), pair(params["dilation"])
        no_dilation = conv_output_size(params["size"], params["k"], params["stride"],
                                       params["padding"])
        d_times_k = tuple((size[i] + 2 * p[i] - d[i] * k[i]) // s[i] + 1 for i in range(2))
        return [Suspect("dilation ignored", "the result ignores the dilation: the taps span "
                        "d*(k-1)+1 pixels", {"(H_out, W_out)": no_dilation}),
                Suspect("span d*k", "the result uses a span of d*k pixels: k taps d apart "
                        "span d*(k-1)+1", {"(H_out, W_out)": d_times_k})]

    geometry = (f"input {params['size']}, kernel {params['k']}, stride {params['stride']}, "
                f"padding {params['padding']}, dilation {params['dilation']}")
    return Trial(make_args, conv_output_size, unpack, geometry, suspects=suspects)


# ============================================================ separable params

def separable_conv_parameters(in_channels, out_channels, kernel_size=3) -> int:
    """Weights of a depthwise ``k x k`` conv followed by a pointwise 1x1 (no biases), counted
    on the library's real layers."""
    depthwise = Conv2d(in_channels, in_channels, kernel_size, groups=in_channels, bias=False)
    pointwise = Conv2d(in_channels, out_channels, 1, bias=False)
    return count_parameters(depthwise) + count_parameters(pointwise)


PARAMS_LADDER = [
    Case("one channel, 1x1 kernel", dict(c_in=1, c_out=1, k=1)),
    Case("one channel, 3x3 kernel", dict(c_in=1, c_out=1, k=3)),
    Case("the paper's example: 3 -> 16 channels, 3x3 (75 vs 432)", dict(c_in=3, c_out=16, k=3)),
    Case("32 -> 64 channels, 3x3", dict(c_in=32, c_out=64, k=3)),
    Case("a non-square 1x7 kernel, 8 -> 4 channels", dict(c_in=8, c_out=4, k=(1, 7))),
    Case("hardest: 256 -> 256 channels, 5x5", dict(c_in=256, c_out=256, k=5)),
]


def params_features(params) -> dict:
    k = pair(params["k"])
    return {"a kernel larger than 1x1": k[0] * k[1] > 1,
            "several input channels": params["c_in"] > 1,
            "in_channels != out_channels": params["c_in"] != params["c_out"],
            "a non-square kernel": k[0] != k[1]}


def params_trial(params, seed) -> Trial:
    """``separable_conv_parameters(in_channels, out_channels, kernel_size)``."""
    c_in, c_out, k = params["c_in"], params["c_out"], params["k"]
    kh, kw = pair(k)

    def make_args():
        return (c_in, c_out, k), {}

    def unpack(result, args):
        if isinstance(result, bool) or not isinstance(result, numbers.Integral):
            raise OutputProblem(f"separable_conv_parameters must return an int, got {result!r}")
        return {"weights": int(result)}

    def suspects(args):
        return [Suspect("standard count", "the result counts a STANDARD conv, C_in*C_out*kH*kW",
                        {"weights": c_in * c_out * kh * kw}),
                Suspect("full depthwise", "the depthwise conv was counted as C_in*C_in*kH*kW: "
                        "with groups = C_in each filter sees one channel, C_in*kH*kW in all",
                        {"weights": c_in * c_in * kh * kw + c_in * c_out})]

    geometry = f"in_channels {c_in}, out_channels {c_out}, kernel_size {k}"
    return Trial(make_args, separable_conv_parameters, unpack, geometry, suspects=suspects)


# ============================================================== the RF step

_AFTER_STRIDE_2 = conv_step(AxisState(), 3, 2, 1, 1)
_AFTER_STRIDE_4 = conv_step(_AFTER_STRIDE_2, 3, 2, 1, 1)
_AFTER_UPSAMPLING = upsample_step(_AFTER_STRIDE_2, 4)
_AFTER_GLOBAL = global_pool_step(_AFTER_STRIDE_4)

STEP_LADDER = [
    Case("from the input: a 1x1 layer", dict(state=AxisState(), layer=(1, 1, 0, 1))),
    Case("from the input: 3x3, padding 1", dict(state=AxisState(), layer=(3, 1, 1, 1))),
    Case("from the input: 3x3 at rate 2, padding 2", dict(state=AxisState(), layer=(3, 1, 2, 2))),
    Case("from the input: 3x3, stride 2", dict(state=AxisState(), layer=(3, 2, 1, 1))),
    Case("after a stride-2 layer (jump 2): 3x3, padding 1",
         dict(state=_AFTER_STRIDE_2, layer=(3, 1, 1, 1))),
    Case("after jump 4: 3x3 at rate 3, padding 3, stride 2",
         dict(state=_AFTER_STRIDE_4, layer=(3, 2, 3, 3))),
    Case("after an x4 upsampling (jump 1/2, fractional start): 5x5, padding 2",
         dict(state=_AFTER_UPSAMPLING, layer=(5, 1, 2, 1))),
    Case("hardest: after global pooling (size inf), 3x3 at rate 2",
         dict(state=_AFTER_GLOBAL, layer=(3, 1, 2, 2))),
]


def step_features(params) -> dict:
    k, s, p, d = params["layer"]
    state = params["state"]
    return {"an incoming jump other than 1": state.jump != 1, "dilation > 1": d > 1,
            "stride > 1": s > 1, "padding > 0": p > 0,
            "a fractional jump": Fraction(state.jump).denominator != 1,
            "a global (infinite) field": state.size == math.inf}


FIELDS = ("size", "jump", "padding", "start")


def step_trial(params, seed) -> Trial:
    """``conv_step(state, k, s, p, d)`` for one layer along one axis."""
    state, layer = params["state"], params["layer"]

    def make_args():
        return (state, *layer), {}

    def unpack(result, args):
        missing = [name for name in FIELDS if not hasattr(result, name)]
        if missing:
            raise OutputProblem(f"conv_step must return an AxisState (fields size, jump, "
                                f"padding, start), got {type(result).__name__} without "
                                f"{', '.join(missing)}")
        return {name: getattr(result, name) for name in FIELDS}

    def suspects(args):
        k, s, p, d = layer
        span = d * (k - 1) + 1
        right = conv_step(state, *layer)
        return [Suspect("jump forgotten", "size grew by k_eff - 1 input pixels: each step on "
                        "this layer's input grid is jump input pixels, so it grows by "
                        "(k_eff - 1) * jump", {"size": state.size + (span - 1)}),
                Suspect("dilation forgotten", "size grew as if the kernel had no dilation: "
                        "the taps span k_eff = d*(k-1)+1", {"size": state.size
                                                            + (k - 1) * state.jump}),
                Suspect("start without jump", "start moved by ((k_eff-1)/2 - p) pixels: "
                        "multiply by the incoming jump",
                        {"start": state.start + (Fraction(span - 1, 2) - p)}) if
                right.start != state.start + (Fraction(span - 1, 2) - p) else None]

    def geometry_value(value):
        return "inf" if value == math.inf else str(value)

    k, s, p, d = layer
    geometry = (f"state (size {geometry_value(state.size)}, jump {state.jump}, padding "
                f"{state.padding}, start {state.start}), layer k={k} s={s} p={p} d={d}")
    return Trial(make_args, conv_step, unpack, geometry,
                 suspects=lambda args: [x for x in suspects(args) if x is not None],
                 context={"the incoming jump": state.jump} if state.jump not in (0, 1) else {})
