"""The convolution ladders: conv2d_forward and conv2d_backward, from a 1x1 kernel to everything.

The rungs climb one idea at a time (a 3x3 kernel, channels and a bias,
padding, stride, dilation, a non-square kernel, pointwise, depthwise, groups,
a batch), then the hardest case combines them, and the last rung checks that
float32 stays float32 (training runs in float32). Each case lists the features
it has, so the checker can say "fails exactly when dilation > 1".
"""

from __future__ import annotations

import numpy as np

from ..functional.conv import Conv2dCache, conv2d_backward, conv2d_forward
from ..geometry import pair
from .cases import (
    Case,
    Suspect,
    Trial,
    cache_outputs,
    named_outputs,
    op_gradcheck,
    random_array,
)

__all__ = ["LADDER", "features", "forward_trial", "backward_trial"]


def _case(label, x, w, bias=False, stride=1, padding=0, dilation=1, groups=1, dtype="float64"):
    return Case(label, dict(x=x, w=w, bias=bias, stride=stride, padding=padding,
                            dilation=dilation, groups=groups, dtype=dtype))


LADDER = [
    _case("1x1 kernel, one channel", (1, 1, 3, 3), (1, 1, 1, 1)),
    _case("3x3 kernel, one channel, no padding", (1, 1, 5, 5), (1, 1, 3, 3)),
    _case("several channels and a bias", (1, 3, 5, 5), (2, 3, 3, 3), bias=True),
    _case("padding 1", (1, 2, 5, 5), (3, 2, 3, 3), bias=True, padding=1),
    _case("stride 2", (1, 2, 7, 7), (2, 2, 3, 3), stride=2, padding=1),
    _case("dilation 2 (atrous)", (1, 2, 7, 7), (2, 2, 3, 3), padding=2, dilation=2),
    _case("non-square kernel and input", (1, 2, 6, 8), (2, 2, 2, 3), padding=(1, 0)),
    _case("pointwise: 1x1 across channels", (1, 4, 4, 4), (3, 4, 1, 1), bias=True),
    _case("depthwise: groups = channels", (1, 3, 6, 6), (3, 1, 3, 3), padding=1, groups=3),
    _case("groups 2", (1, 4, 5, 5), (4, 2, 3, 3), bias=True, padding=1, groups=2),
    _case("depthwise at rate 2 (atrous separable's first half)", (1, 3, 7, 7), (3, 1, 3, 3),
          padding=2, dilation=2, groups=3),
    _case("batch 2", (2, 2, 5, 5), (2, 2, 3, 3), bias=True, padding=1),
    _case("hardest: batch 2, stride 2 with dilation 2, groups 2, non-square, padding (2, 1)",
          (2, 4, 9, 8), (6, 2, 3, 2), bias=True, stride=2, padding=(2, 1), dilation=2, groups=2),
    _case("float32 in, float32 out (training runs in float32)", (2, 4, 6, 6), (4, 2, 3, 3),
          bias=True, padding=1, groups=2, dtype="float32"),
]


def features(params) -> dict:
    """The features a learner's code may get wrong, as ``{phrase: bool}``."""
    n, c_in, h, w_in = params["x"]
    c_out, _, kh, kw = params["w"]
    groups = params["groups"]
    return {
        "a kernel larger than 1x1": kh * kw > 1,
        "several input channels": c_in > 1,
        "padding > 0": max(pair(params["padding"])) > 0,
        "stride > 1": max(pair(params["stride"])) > 1,
        "dilation > 1": max(pair(params["dilation"])) > 1,
        "groups > 1": groups > 1,
        "groups > 1 and several output channels per group": groups > 1 and c_out > groups,
        "a bias": params["bias"],
        "batch > 1": n > 1,
        "a non-square kernel or input": kh != kw or h != w_in,
        "float32": params["dtype"] == "float32",
    }


def _geometry(params) -> str:
    return (f"x {params['x']}, w {params['w']}, stride {params['stride']}, padding "
            f"{params['padding']}, dilation {params['dilation']}, groups {params['groups']}, "
            f"{'with' if params['bias'] else 'no'} bias, {params['dtype']}")


def _inputs(params, seed):
    rng = np.random.default_rng(seed)
    x = random_array(rng, params["x"], params["dtype"])
    w = random_array(rng, params["w"], params["dtype"])
    b = random_array(rng, (params["w"][0],), params["dtype"]) if params["bias"] else None
    options = {k: params[k] for k in ("stride", "padding", "dilation", "groups")}
    return x, w, b, options


def _context(params, out_shape) -> dict:
    n = params["x"][0]
    kh, kw = params["w"][2:]
    return {"N, the batch size": n, "H_out*W_out": out_shape[2] * out_shape[3],
            "kH*kW": kh * kw, "N*H_out*W_out": n * out_shape[2] * out_shape[3]}


def _flipped(w):
    return np.ascontiguousarray(w[:, :, ::-1, ::-1])


def forward_trial(params, seed) -> Trial:
    """``conv2d_forward(x, w, b, stride=, padding=, dilation=, groups=)`` on this case."""
    x, w, b, options = _inputs(params, seed)
    out_shape = conv2d_forward(x, w, b, **options)[0].shape
    dout = random_array(np.random.default_rng(seed + 1), out_shape, params["dtype"])

    def make_args():
        return (x.copy(), w.copy(), None if b is None else b.copy()), dict(options)

    def unpack(result, args):
        outputs = named_outputs(result, ("out", "cache"), "conv2d_forward")
        return {"out": outputs["out"],
                **cache_outputs(outputs["cache"], dout.copy, conv2d_backward,
                                ("dx", "dw", "db"), Conv2dCache)}

    def suspects(args):
        flipped = conv2d_forward(x, _flipped(w), b, **options)[0]
        return [Suspect("kernel flipped",
                        "out equals a true convolution (the kernel flipped in both axes); "
                        "the layers correlate: out[i, j] reads x[i*s + u*d, j*s + v*d] "
                        "* w[u, v]", {"out": flipped})]

    return Trial(make_args, conv2d_forward, unpack, _geometry(params), suspects=suspects,
                 context=_context(params, out_shape), float32=params["dtype"] == "float32")


def backward_trial(params, seed) -> Trial:
    """``conv2d_backward(dout, cache)`` with the cache of the library's forward on this case."""
    x, w, b, options = _inputs(params, seed)
    out_shape = conv2d_forward(x, w, b, **options)[0].shape
    dout = random_array(np.random.default_rng(seed + 1), out_shape, params["dtype"])

    def make_args():
        _, cache = conv2d_forward(x.copy(), w.copy(), None if b is None else b.copy(), **options)
        return (dout.copy(), cache), {}

    def unpack(result, args):
        return named_outputs(result, ("dx", "dw", "db"), "conv2d_backward")

    def suspects(args):
        # not flipping dX's kernel = the right formula applied to the flipped kernel
        _, cache = conv2d_forward(x, _flipped(w), b, **options)
        dx_unflipped = conv2d_backward(dout, cache)[0]
        found = [Suspect("kernel not flipped",
                         "dx equals the gradient computed with the kernel NOT flipped: dX is "
                         "a convolution of dout with the kernel flipped in both axes",
                         {"dx": dx_unflipped})]
        c_out, c_per_group = w.shape[:2]
        if options["groups"] == 1 and c_out == c_per_group and c_out > 1:
            _, cache = conv2d_forward(x, np.ascontiguousarray(w.transpose(1, 0, 2, 3)), b,
                                      **options)
            found.append(Suspect("kernel channels not swapped",
                                 "dx equals the gradient with the kernel's channels not "
                                 "swapped: dx[c] sums dout[f] * w[f, c], over f",
                                 {"dx": conv2d_backward(dout, cache)[0]}))
        return found

    inputs = [x, w, b]
    wrt = (0, 1, 2) if b is not None else (0, 1)
    gradcheck = None if params["dtype"] == "float32" else op_gradcheck(
        conv2d_forward, inputs, wrt, options, seed)
    return Trial(make_args, conv2d_backward, unpack, _geometry(params), gradcheck=gradcheck,
                 suspects=suspects, context=_context(params, out_shape),
                 float32=params["dtype"] == "float32")
