"""The ladders of the graph's glue: bilinear resize, the loss, concatenation and ASPP's fan-out.

Resize rungs alternate ``align_corners`` (the two source-coordinate rules) while
the sizes grow from 1x1 to non-square up- and downsampling. The loss adds
ignored pixels, an all-ignored batch, an upstream factor and class weights.
Concatenation adds inputs of different sizes and another axis. ASPP's backward
starts with one branch (where overwriting and summing agree), adds branches,
and ends with a real :class:`minideeplab.nn.ASPP` block.
"""

from __future__ import annotations

import numpy as np

from ..functional.concat import concat_backward, concat_forward
from ..functional.fanout import ASPPCache, aspp_backward
from ..functional.loss import (
    IGNORE_INDEX,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from ..functional.resize import BilinearCache, bilinear_resize_backward, bilinear_resize_forward
from ..gradcheck import numerical_vjp, rel_error
from ..nn import ASPP, BatchNorm2d
from .cases import (
    Case,
    OutputProblem,
    Suspect,
    Trial,
    cache_outputs,
    named_outputs,
    op_gradcheck,
    random_array,
)

__all__ = ["RESIZE_LADDER", "resize_features", "resize_forward_trial", "resize_backward_trial",
           "LOSS_LADDER", "loss_features", "loss_backward_trial",
           "CONCAT_LADDER", "concat_features", "concat_backward_trial",
           "ASPP_LADDER", "aspp_features", "aspp_backward_trial"]


# ====================================================================== resize

def _rs(label, x, size, align_corners, dtype="float64"):
    return Case(label, dict(x=x, size=size, align_corners=align_corners, dtype=dtype))


RESIZE_LADDER = [
    _rs("1x1 -> 1x1 (nothing to interpolate)", (1, 1, 1, 1), (1, 1), False),
    _rs("2x2 -> 4x4, align_corners=False", (1, 1, 2, 2), (4, 4), False),
    _rs("2x2 -> 4x4, align_corners=True", (1, 1, 2, 2), (4, 4), True),
    _rs("4x4 -> 2x2 (downsampling), align_corners=False", (1, 1, 4, 4), (2, 2), False),
    _rs("4x4 -> 2x2 (downsampling), align_corners=True", (1, 1, 4, 4), (2, 2), True),
    _rs("non-square 3x5 -> 7x4, align_corners=False", (1, 1, 3, 5), (7, 4), False),
    _rs("non-square 3x5 -> 7x4, align_corners=True", (1, 1, 3, 5), (7, 4), True),
    _rs("3x4 -> 1x1 (align_corners=True reads pixel 0)", (1, 1, 3, 4), (1, 1), True),
    _rs("batch 2, 3 channels, 5x3 -> 9x8, align_corners=False", (2, 3, 5, 3), (9, 8), False),
    _rs("hardest: batch 2, 3 channels, 5x3 -> 9x8, align_corners=True", (2, 3, 5, 3), (9, 8),
        True),
    _rs("float32 in, float32 out", (2, 2, 3, 3), (5, 7), False, dtype="float32"),
]


def resize_features(params) -> dict:
    h, w = params["x"][2:]
    h_out, w_out = params["size"]
    return {"align_corners=True": params["align_corners"],
            "align_corners=False": not params["align_corners"],
            "upsampling": h_out > h or w_out > w, "downsampling": h_out < h or w_out < w,
            "a non-square map": h != w or h_out != w_out,
            "several channels or images": params["x"][0] * params["x"][1] > 1,
            "float32": params["dtype"] == "float32"}


def _rs_geometry(params):
    return (f"x {params['x']} -> size {params['size']}, align_corners="
            f"{params['align_corners']}, {params['dtype']}")


def _rs_case(params, seed):
    """``(x, size, align_corners, dout)`` of a resize case: the inputs and an upstream gradient."""
    x = random_array(np.random.default_rng(seed), params["x"], params["dtype"])
    size = params["size"]
    dout = random_array(np.random.default_rng(seed + 1), x.shape[:2] + tuple(size),
                        params["dtype"])
    return x, size, params["align_corners"], dout


def resize_forward_trial(params, seed) -> Trial:
    """``bilinear_resize_forward(x, size, align_corners=)`` on this case."""
    x, size, align, dout = _rs_case(params, seed)

    def make_args():
        return (x.copy(), size), {"align_corners": align}

    def unpack(result, args):
        outputs = named_outputs(result, ("out", "cache"), "bilinear_resize_forward")
        return {"out": outputs["out"],
                **cache_outputs(outputs["cache"], dout.copy, bilinear_resize_backward, ("dx",),
                                BilinearCache)}

    def suspects(args):
        other = bilinear_resize_forward(x, size, not align)[0]
        return [Suspect("align_corners swapped",
                        f"out equals the resize with align_corners={not align}: the two "
                        "rules put the source coordinate in different places",
                        {"out": other})]

    return Trial(make_args, bilinear_resize_forward, unpack, _rs_geometry(params),
                 suspects=suspects, float32=params["dtype"] == "float32")


def _scatter_without_accumulating(dout, cache):
    """What ``a[idx] += v`` computes when idx repeats: the last write wins, nothing adds up."""
    n, c, h, w = cache.x_shape
    (i0, i1, a0, a1), (j0, j1, b0, b1) = cache.rows, cache.cols
    along_h = np.zeros((n, c, h, dout.shape[3]), dtype=dout.dtype)
    along_h[:, :, i0] += a0[:, None] * dout
    along_h[:, :, i1] += a1[:, None] * dout
    dx = np.zeros(cache.x_shape, dtype=dout.dtype)
    dx[..., j0] += b0 * along_h
    dx[..., j1] += b1 * along_h
    return dx


def resize_backward_trial(params, seed) -> Trial:
    """``bilinear_resize_backward(dout, cache)`` with the cache of the library's forward."""
    x, size, align, dout = _rs_case(params, seed)

    def make_args():
        return (dout.copy(), bilinear_resize_forward(x.copy(), size, align)[1]), {}

    def unpack(result, args):
        return named_outputs(result, ("dx",), "bilinear_resize_backward")

    def suspects(args):
        cache = args[1]
        other = bilinear_resize_backward(dout, bilinear_resize_forward(x, size, not align)[1])
        return [Suspect("repeated indices added once",
                        "dx equals a scatter where a pixel that several outputs read gets only "
                        "ONE of their gradients: NumPy's a[idx] += v adds once per repeated "
                        "index", {"dx": _scatter_without_accumulating(dout, cache)}),
                Suspect("align_corners swapped",
                        f"dx equals the gradient of the resize with align_corners={not align}: "
                        "scatter with the taps of the forward pass (cache.rows, cache.cols), "
                        "which already know the rule", {"dx": other})]

    gradcheck = None if params["dtype"] == "float32" else op_gradcheck(
        bilinear_resize_forward, [x, size, align], (0,), seed=seed)
    return Trial(make_args, bilinear_resize_backward, unpack, _rs_geometry(params),
                 gradcheck=gradcheck, suspects=suspects, float32=params["dtype"] == "float32")


# ======================================================================== loss

def _ce(label, logits, ignored=0.0, dloss=1.0, weights=False, scale=1.0, dtype="float64"):
    return Case(label, dict(logits=logits, ignored=ignored, dloss=dloss, weights=weights,
                            scale=scale, dtype=dtype))


LOSS_LADDER = [
    _ce("one pixel, two classes", (1, 2, 1, 1)),
    _ce("three classes, a 2x2 map", (1, 3, 2, 2)),
    _ce("batch 2, four classes, non-square map", (2, 4, 3, 2)),
    _ce("some pixels ignored (label 255)", (2, 3, 3, 3), ignored=0.3),
    _ce("every pixel ignored (the gradient is 0, not NaN)", (1, 3, 2, 2), ignored=1.0),
    _ce("dloss = 2.5 (an upstream factor)", (1, 3, 2, 3), dloss=2.5),
    _ce("class weights", (2, 3, 2, 2), weights=True),
    _ce("hardest: ignored pixels, class weights, dloss 0.5, logits up to +-30", (2, 4, 3, 3),
        ignored=0.3, dloss=0.5, weights=True, scale=10.0),
    _ce("float32 in, float32 out", (2, 3, 3, 3), ignored=0.2, dtype="float32"),
]


def loss_features(params) -> dict:
    return {"some pixels ignored": 0 < params["ignored"] < 1.0,
            "every pixel ignored": params["ignored"] >= 1.0,
            "dloss != 1": params["dloss"] != 1.0, "class weights": params["weights"],
            "large logits": params["scale"] > 1.0, "batch > 1": params["logits"][0] > 1,
            "float32": params["dtype"] == "float32"}


def _ce_inputs(params, seed):
    rng = np.random.default_rng(seed)
    n, c, h, w = params["logits"]
    logits = random_array(rng, (n, c, h, w), params["dtype"], params["scale"])
    target = rng.integers(0, c, size=(n, h, w))
    if params["ignored"] >= 1.0:
        target[...] = IGNORE_INDEX
    elif params["ignored"] > 0:
        ignored = rng.random((n, h, w)) < params["ignored"]
        ignored.flat[0], ignored.flat[-1] = True, False     # at least one of each
        target[ignored] = IGNORE_INDEX
    weight = rng.uniform(0.5, 2.0, c).astype(params["dtype"]) if params["weights"] else None
    return logits, target, weight


def loss_backward_trial(params, seed) -> Trial:
    """``softmax_cross_entropy_backward(dloss, cache)`` with the cache of the library's forward."""
    logits, target, weight = _ce_inputs(params, seed)
    dloss = params["dloss"]
    valid = int((target != IGNORE_INDEX).sum())

    def make_args():
        _, cache = softmax_cross_entropy_forward(logits.copy(), target.copy(), IGNORE_INDEX,
                                                 None if weight is None else weight.copy())
        return (dloss, cache), {}

    def unpack(result, args):
        return named_outputs(result, ("dlogits",), "softmax_cross_entropy_backward")

    n, c, h, w = params["logits"]
    context = {"valid pixels / all pixels": valid / target.size, "N*H*W, all pixels": target.size,
               "dloss": dloss, "C, the number of classes": c}
    if valid:
        context["the number of valid pixels"] = valid
    gradcheck = None if params["dtype"] == "float32" else op_gradcheck(
        softmax_cross_entropy_forward, [logits, target, IGNORE_INDEX, weight], (0,), seed=seed)
    geometry = (f"logits {params['logits']}, {target.size - valid} of {target.size} pixels "
                f"ignored, dloss {dloss}, {'with' if weight is not None else 'no'} class "
                f"weights, {params['dtype']}")
    return Trial(make_args, softmax_cross_entropy_backward, unpack, geometry,
                 gradcheck=gradcheck, context=context, float32=params["dtype"] == "float32")


# ================================================================== concatenate

CONCAT_LADDER = [
    Case("one input", dict(sizes=(2,), axis=1, n=1, dtype="float64")),
    Case("two inputs, equal channels", dict(sizes=(2, 2), axis=1, n=1, dtype="float64")),
    Case("three inputs of 1, 3 and 2 channels", dict(sizes=(1, 3, 2), axis=1, n=1,
                                                     dtype="float64")),
    Case("along axis 2 (the height)", dict(sizes=(2, 3), axis=2, n=1, dtype="float64")),
    Case("batch 2, four inputs", dict(sizes=(3, 1, 2, 2), axis=1, n=2, dtype="float64")),
    Case("float32 in, float32 out", dict(sizes=(2, 1), axis=1, n=2, dtype="float32")),
]


def concat_features(params) -> dict:
    sizes = params["sizes"]
    return {"3 or more inputs": len(sizes) >= 3, "inputs of different sizes": len(set(sizes)) > 1,
            "an axis other than 1": params["axis"] != 1, "batch > 1": params["n"] > 1,
            "float32": params["dtype"] == "float32"}


def concat_backward_trial(params, seed) -> Trial:
    """``concat_backward(dout, cache)`` with the cache of the library's forward."""
    rng = np.random.default_rng(seed)
    axis = params["axis"]
    shapes = []
    for size in params["sizes"]:
        shape = [params["n"], 2, 3, 2]
        shape[axis] = size
        shapes.append(tuple(shape))
    xs = [random_array(rng, shape, params["dtype"]) for shape in shapes]
    out = concat_forward(xs, axis)[0]
    dout = random_array(np.random.default_rng(seed + 1), out.shape, params["dtype"])
    count = len(xs)

    def make_args():
        return (dout.copy(), concat_forward([x.copy() for x in xs], axis)[1]), {}

    def unpack(result, args):
        if not isinstance(result, (list, tuple)) or len(result) != count:
            got = f"{len(result)} arrays" if isinstance(result, (list, tuple)) \
                else type(result).__name__
            raise OutputProblem(f"concat_backward must return a list of {count} arrays (one "
                                f"per input), got {got}")
        return {f"dx[{i}]": grad for i, grad in enumerate(result)}

    def gradcheck(fn):
        def forward(*arrays):
            return concat_forward(list(arrays), axis)

        return op_gradcheck(forward, xs, tuple(range(count)), seed=seed)(
            lambda d, cache: tuple(fn(d, cache)))

    geometry = (f"{count} input(s) of shapes {', '.join(str(s) for s in shapes)}, axis {axis}, "
                f"{params['dtype']}")
    return Trial(make_args, concat_backward, unpack, geometry,
                 gradcheck=None if params["dtype"] == "float32" else gradcheck,
                 float32=params["dtype"] == "float32")


# ======================================================================== ASPP

ASPP_LADDER = [
    Case("one branch (nothing to sum yet)", dict(widths=(2,), n=1, real=False, dtype="float64")),
    Case("two branches", dict(widths=(2, 2), n=1, real=False, dtype="float64")),
    Case("four branches of different widths", dict(widths=(1, 2, 3, 2), n=1, real=False,
                                                   dtype="float64")),
    Case("batch 2, five branches", dict(widths=(2, 1, 1, 2, 3), n=2, real=False,
                                        dtype="float64")),
    Case("hardest: a real nn.ASPP block (rates 1 and 2, separable, training mode)",
         dict(widths=(2, 2, 2, 2), n=3, real=True, dtype="float64")),
    Case("float32 in, float32 out", dict(widths=(2, 1, 2), n=2, real=False, dtype="float32")),
]


def aspp_features(params) -> dict:
    widths = params["widths"]
    return {"several branches": len(widths) > 1, "branches of different widths":
            len(set(widths)) > 1, "a real ASPP block": params["real"],
            "float32": params["dtype"] == "float32"}


class _Once:
    """A layer's backward as the cache holds it: it may be called once per forward pass."""

    def __init__(self, fn, name):
        self.fn, self.name, self.used = fn, name, False

    def __call__(self, grad):
        if self.used:
            raise RuntimeError(f"{self.name} was called twice: each backward consumes its "
                               "layer's cache, so call each one exactly once")
        self.used = True
        return self.fn(grad)


def _linear_branches(params, seed):
    """Per-pixel linear maps as branches (a 1x1 conv without bias) and a linear projection."""
    rng = np.random.default_rng(seed)
    dtype, c_in, c_out = params["dtype"], 3, 2
    x = random_array(rng, (params["n"], c_in, 3, 4), dtype)
    maps = [random_array(rng, (width, c_in), dtype) for width in params["widths"]]
    project = random_array(rng, (c_out, sum(params["widths"])), dtype)

    def forward(x):
        outputs = [np.einsum("oc,nchw->nohw", m, x) for m in maps]
        stacked, concat_cache = concat_forward(outputs, 1)
        return np.einsum("po,nohw->nphw", project, stacked), concat_cache

    def make_cache(x):
        _, concat_cache = forward(x)
        branches = [_Once(lambda g, m=m: np.einsum("oc,nohw->nchw", m, g), f"branch {i}")
                    for i, m in enumerate(maps)]
        return ASPPCache(_Once(lambda g: np.einsum("po,nphw->nohw", project, g), "project"),
                         concat_cache, branches)

    return x, forward, make_cache


def _real_block(params, seed):
    rng = np.random.default_rng(seed)
    block = ASPP(3, 2, (1, 2), separable=True, dropout=0.0, rng=rng).astype(np.float64)
    for bn in (m for m in block.modules() if isinstance(m, BatchNorm2d)):
        # random gamma and beta, so no branch is exactly scale-invariant
        bn.weight.data[...] = rng.uniform(0.5, 1.5, bn.weight.data.shape)
        bn.bias.data[...] = rng.normal(0.0, 0.5, bn.bias.data.shape)
    x = random_array(rng, (params["n"], 3, 5, 4))

    def forward(x):
        return block(x), None

    def make_cache(x):
        block(x)
        return ASPPCache(block.project.backward, block._pop_cache(),
                         [branch.backward for branch in block.branches])

    return x, forward, make_cache


def aspp_backward_trial(params, seed) -> Trial:
    """``aspp_backward(dout, cache)``: the block's backward, given its layers' backwards."""
    x, forward, make_cache = (_real_block if params["real"] else _linear_branches)(params, seed)
    out = forward(x.copy())[0]
    dout = random_array(np.random.default_rng(seed + 1), out.shape, params["dtype"])

    def make_args():
        return (dout.copy(), make_cache(x.copy())), {}

    def unpack(result, args):
        return named_outputs(result, ("dx",), "aspp_backward")

    def suspects(args):
        if len(params["widths"]) < 2:
            return []
        cache = make_cache(x.copy())
        grads = concat_backward(cache.project_backward(dout), cache.concat)
        alone = [backward(grad) for backward, grad in zip(cache.branch_backwards, grads,
                                                          strict=True)]
        last = len(alone) - 1
        return [Suspect("only one branch",
                        f"dx equals branch {i}'s gradient alone"
                        + (" (the last branch: the loop overwrote dx instead of adding to it)"
                           if i == last else "") + "; x fed every branch, so dx is the SUM",
                        {"dx": g}) for i, g in enumerate(alone)]

    def gradcheck(fn):
        grad_out = random_array(np.random.default_rng(seed + 2), out.shape, params["dtype"])
        analytic = fn(grad_out, make_cache(x.copy()))
        numeric = numerical_vjp(lambda z: forward(z)[0], x.copy(), grad_out)
        return rel_error(analytic, numeric)

    widths = ", ".join(str(w) for w in params["widths"])
    kind = "a real nn.ASPP(3, 2, rates=(1, 2))" if params["real"] else "linear 1x1 branches"
    geometry = (f"x {x.shape}, {len(params['widths'])} branches ({kind}) of widths {widths}, "
                f"dout {out.shape}, {params['dtype']}")
    return Trial(make_args, aspp_backward, unpack, geometry,
                 gradcheck=None if params["dtype"] == "float32" else gradcheck,
                 suspects=suspects, context={"B, the number of branches":
                                             len(params["widths"])},
                 float32=params["dtype"] == "float32")
