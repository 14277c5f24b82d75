"""The ladders around the convolutions: BatchNorm (forward, backward), ReLU and global pooling.

BatchNorm's rungs alternate training and eval mode (the two formulas a learner
must tell apart), then add channels, a non-square map, a batch of 4 and values
far from zero; ReLU's add negative inputs and inputs exactly 0; global pooling's
grow the map from 1x1, so a missing ``1 / (H W)`` shows as a constant factor.
"""

from __future__ import annotations

import numpy as np

from ..functional.activation import relu_backward, relu_forward
from ..functional.batchnorm import BatchNorm2dCache, batch_norm2d_backward, batch_norm2d_forward
from ..functional.pooling import global_avg_pool2d_backward, global_avg_pool2d_forward
from .cases import (
    Case,
    Suspect,
    Trial,
    cache_outputs,
    named_outputs,
    op_gradcheck,
    random_array,
)

__all__ = ["BN_LADDER", "bn_features", "bn_forward_trial", "bn_backward_trial",
           "RELU_LADDER", "relu_features", "relu_backward_trial",
           "POOL_LADDER", "pool_features", "pool_backward_trial"]


# ================================================================== batch norm

def _bn(label, x, training, offset=0.0, momentum=0.1, dtype="float64"):
    return Case(label, dict(x=x, training=training, offset=offset, momentum=momentum,
                            dtype=dtype))


BN_LADDER = [
    _bn("one channel, training", (2, 1, 2, 2), True),
    _bn("one channel, eval (running statistics)", (2, 1, 2, 2), False),
    _bn("three channels, training", (2, 3, 3, 3), True),
    _bn("three channels, eval", (2, 3, 3, 3), False),
    _bn("batch 4, non-square map, training", (4, 3, 3, 5), True),
    _bn("batch 4, non-square map, eval", (4, 3, 3, 5), False),
    _bn("hardest: training, values far from zero (mean 50), momentum 0.2", (3, 2, 4, 3), True,
        offset=50.0, momentum=0.2),
    _bn("float32 in, float32 out, training", (2, 3, 4, 4), True, dtype="float32"),
]


def bn_features(params) -> dict:
    n, c, h, w = params["x"]
    return {"training mode": params["training"], "eval mode": not params["training"],
            "several channels": c > 1, "a non-square map": h != w,
            "values far from zero": params["offset"] != 0.0,
            "momentum other than 0.1": params["momentum"] != 0.1,
            "float32": params["dtype"] == "float32"}


def _bn_geometry(params):
    mode = "training" if params["training"] else "eval"
    return (f"x {params['x']} ({mode} mode), momentum {params['momentum']}, eps 1e-5, "
            f"{params['dtype']}")


def _bn_inputs(params, seed):
    rng = np.random.default_rng(seed)
    dtype, c = params["dtype"], params["x"][1]
    x = (params["offset"] + 3.0 * rng.standard_normal(params["x"])).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, c).astype(dtype)
    beta = random_array(rng, (c,), dtype, 0.5)
    running_mean = (params["offset"] + 0.5 * rng.standard_normal(c)).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, c).astype(dtype)
    return x, gamma, beta, running_mean, running_var


def _bn_context(params):
    n, c, h, w = params["x"]
    m = n * h * w
    return {"M = N*H*W, the values per channel": m, "M / (M - 1)": m / (m - 1)}


def bn_forward_trial(params, seed) -> Trial:
    """``batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training, ...)``."""
    inputs = _bn_inputs(params, seed)
    options = {"momentum": params["momentum"], "eps": 1e-5}
    training = params["training"]
    out_shape = params["x"]
    dout = random_array(np.random.default_rng(seed + 1), out_shape, params["dtype"])

    def make_args():
        return tuple(a.copy() for a in inputs) + (training,), dict(options)

    def unpack(result, args):
        outputs = named_outputs(result, ("out", "cache"), "batch_norm2d_forward")
        return {"out": outputs["out"], "running_mean": args[3], "running_var": args[4],
                **cache_outputs(outputs["cache"], dout.copy, batch_norm2d_backward,
                                ("dx", "dgamma", "dbeta"), BatchNorm2dCache)}

    def suspects(args):
        if not training:
            return []
        x, gamma, beta, running_mean, running_var = (a.copy() for a in inputs)
        with_running = batch_norm2d_forward(x, gamma, beta, running_mean.copy(),
                                            running_var.copy(), False, **options)[0]
        updated_mean, updated_var = running_mean.copy(), running_var.copy()
        batch_norm2d_forward(x, gamma, beta, updated_mean, updated_var, True, **options)
        with_updated = batch_norm2d_forward(x, gamma, beta, updated_mean, updated_var, False,
                                            **options)[0]
        m = x.shape[0] * x.shape[2] * x.shape[3]
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        unbiased = x.var(axis=(0, 2, 3), keepdims=True) * m / (m - 1)
        x_hat = (x - mean) / np.sqrt(unbiased + 1e-5)
        with_unbiased = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
        momentum = options["momentum"]
        biased_update = (1 - momentum) * running_var + momentum * x.var(axis=(0, 2, 3))
        return [
            Suspect("running statistics in training",
                    "out equals the normalisation with the RUNNING statistics: in training "
                    "mode BatchNorm normalises with the batch's own mean and variance",
                    {"out": with_running}),
            Suspect("running statistics in training",
                    "out equals the normalisation with the RUNNING statistics (after their "
                    "update): in training mode BatchNorm normalises with the batch's own mean "
                    "and variance", {"out": with_updated}),
            Suspect("unbiased variance to normalise",
                    "out equals the normalisation with the unbiased variance (divided by "
                    "M - 1): normalise with the biased one (divide by M)",
                    {"out": with_unbiased}),
            Suspect("biased running variance",
                    "running_var was updated with the biased variance: the running "
                    "estimate uses the unbiased one, var * M / (M - 1), as torch does",
                    {"running_var": biased_update}),
        ]

    return Trial(make_args, batch_norm2d_forward, unpack, _bn_geometry(params),
                 suspects=suspects, context=_bn_context(params),
                 float32=params["dtype"] == "float32")


def bn_backward_trial(params, seed) -> Trial:
    """``batch_norm2d_backward(dout, cache)`` with the cache of the library's forward."""
    inputs = _bn_inputs(params, seed)
    options = {"momentum": params["momentum"], "eps": 1e-5}
    training = params["training"]
    dout = random_array(np.random.default_rng(seed + 1), params["x"], params["dtype"])

    def make_args():
        _, cache = batch_norm2d_forward(*(a.copy() for a in inputs), training, **options)
        return (dout.copy(), cache), {}

    def unpack(result, args):
        return named_outputs(result, ("dx", "dgamma", "dbeta"), "batch_norm2d_backward")

    def suspects(args):
        if not training:
            return []
        cache = args[1]
        scale = (cache.gamma * cache.inv_std)[None, :, None, None]
        return [Suspect("eval formula in training",
                        "dx equals gamma / sigma * dout, the eval-mode formula: in training "
                        "the batch mean and variance depend on x, which adds two terms",
                        {"dx": scale * dout})]

    gradcheck = None if params["dtype"] == "float32" else op_gradcheck(
        batch_norm2d_forward, list(inputs) + [training], (0, 1, 2), options, seed)
    return Trial(make_args, batch_norm2d_backward, unpack, _bn_geometry(params),
                 gradcheck=gradcheck, suspects=suspects, context=_bn_context(params),
                 float32=params["dtype"] == "float32")


# ======================================================================== relu

RELU_LADDER = [
    Case("all inputs positive", dict(x=(1, 1, 2, 2), kind="positive", dtype="float64")),
    Case("mixed signs", dict(x=(1, 2, 3, 3), kind="mixed", dtype="float64")),
    Case("some inputs exactly 0 (the gradient there is 0, as in torch)",
         dict(x=(1, 1, 4, 4), kind="zeros", dtype="float64")),
    Case("batch 2, non-square", dict(x=(2, 3, 2, 5), kind="mixed", dtype="float64")),
    Case("float32 in, float32 out", dict(x=(2, 2, 3, 3), kind="mixed", dtype="float32")),
]


def relu_features(params) -> dict:
    return {"negative inputs": params["kind"] != "positive",
            "inputs exactly 0": params["kind"] == "zeros",
            "float32": params["dtype"] == "float32"}


def relu_backward_trial(params, seed) -> Trial:
    """``relu_backward(dout, cache)`` with the cache of the library's forward."""
    rng = np.random.default_rng(seed)
    x = random_array(rng, params["x"], params["dtype"])
    if params["kind"] == "positive":
        x = np.abs(x) + x.dtype.type(0.1)
    elif params["kind"] == "zeros":
        x[rng.random(x.shape) < 0.4] = 0
    dout = random_array(np.random.default_rng(seed + 1), params["x"], params["dtype"])

    def make_args():
        return (dout.copy(), relu_forward(x.copy())[1]), {}

    def unpack(result, args):
        return named_outputs(result, ("dx",), "relu_backward")

    def suspects(args):
        return [Suspect("relu of dout", "dx equals max(dout, 0): the mask comes from the "
                        "INPUT x (cache.positive), not from the sign of dout",
                        {"dx": np.maximum(dout, 0)}),
                Suspect("x >= 0", "dx passes the gradient where x == 0: the derivative "
                        "there is taken as 0 (x > 0, as in torch)",
                        {"dx": np.where(x >= 0, dout, 0)})]

    # relu has no derivative at exactly 0: finite differences there say 1/2
    gradcheck = None if params["kind"] == "zeros" or params["dtype"] == "float32" \
        else op_gradcheck(relu_forward, [x], (0,), seed=seed)
    return Trial(make_args, relu_backward, unpack,
                 f"x {params['x']} ({params['kind']} values), {params['dtype']}",
                 gradcheck=gradcheck, suspects=suspects,
                 float32=params["dtype"] == "float32")


# ============================================================ global pooling

POOL_LADDER = [
    Case("a 1x1 map", dict(x=(1, 1, 1, 1), dtype="float64")),
    Case("a 3x3 map", dict(x=(1, 1, 3, 3), dtype="float64")),
    Case("several channels, non-square map", dict(x=(1, 3, 4, 5), dtype="float64")),
    Case("batch 2", dict(x=(2, 3, 3, 2), dtype="float64")),
    Case("float32 in, float32 out", dict(x=(2, 2, 3, 3), dtype="float32")),
]


def pool_features(params) -> dict:
    n, c, h, w = params["x"]
    return {"H*W > 1": h * w > 1, "several channels": c > 1, "batch > 1": n > 1,
            "a non-square map": h != w, "float32": params["dtype"] == "float32"}


def pool_backward_trial(params, seed) -> Trial:
    """``global_avg_pool2d_backward(dout, cache)`` with the cache of the library's forward."""
    rng = np.random.default_rng(seed)
    x = random_array(rng, params["x"], params["dtype"])
    n, c, h, w = params["x"]
    dout = random_array(np.random.default_rng(seed + 1), (n, c, 1, 1), params["dtype"])

    def make_args():
        return (dout.copy(), global_avg_pool2d_forward(x.copy())[1]), {}

    def unpack(result, args):
        return named_outputs(result, ("dx",), "global_avg_pool2d_backward")

    gradcheck = None if params["dtype"] == "float32" else op_gradcheck(
        global_avg_pool2d_forward, [x], (0,), seed=seed)
    return Trial(make_args, global_avg_pool2d_backward, unpack,
                 f"x {params['x']}, dout {(n, c, 1, 1)}, {params['dtype']}",
                 gradcheck=gradcheck, context={"H*W": h * w},
                 float32=params["dtype"] == "float32")
