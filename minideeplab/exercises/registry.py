"""The exercises: their names, tasks, signatures, shapes and ladders, in the order of the notebooks.

Every signature is the library's own, so a learner's function is a drop-in for
:func:`minideeplab.use_implementation`. A backward exercise receives the cache of
the library's reference forward (the dataclass :func:`show` lists), so it can be
done alone; a forward exercise must return that same cache, so the library's
backward can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import functional as F_package
from ..errors import InputError
from ..functional.activation import ReluCache
from ..functional.batchnorm import BatchNorm2dCache
from ..functional.concat import ConcatCache
from ..functional.conv import Conv2dCache
from ..functional.fanout import ASPPCache
from ..functional.loss import SoftmaxCrossEntropyCache
from ..functional.pooling import GlobalAvgPoolCache
from ..functional.resize import BilinearCache
from ..receptive_field.recurrence import AxisState
from . import cases_arith, cases_conv, cases_graph, cases_norm

__all__ = ["Exercise", "EXERCISES", "get", "TOPICS"]

#: The exercise notebooks, one per topic (in notebooks/exercises/).
TOPICS = {
    "atrous": "01_atrous_convolution.ipynb",
    "separable": "02_depthwise_separable.ipynb",
    "batchnorm": "03_batchnorm_relu.ipynb",
    "resize": "04_resize_and_loss.ipynb",
    "aspp": "05_aspp_decoder.ipynb",
    "receptive": "06_receptive_fields.ipynb",
}


@dataclass(frozen=True)
class Exercise:
    """One exercise: what to write, and the ladder that checks it."""

    name: str
    topics: tuple           # keys of TOPICS: the notebooks that ask for it
    summary: str            # one line for list()
    signature: str
    task: str               # what to write, the formula or the rule
    shapes: str
    cache: type | None      # the dataclass a backward receives / a forward returns
    ladder: list
    features: object        # params -> {feature: bool}
    build: object           # (params, seed) -> Trial

    @property
    def swappable(self) -> bool:
        """Whether ``mdl.use_implementation`` can install it (an op the layers call)."""
        return hasattr(F_package, self.name) and self.name.endswith(("_forward", "_backward"))


_CONV_SHAPES = ("x (N, C_in, H, W); w (C_out, C_in // groups, kH, kW); b (C_out,) or None; "
                "out (N, C_out, H_out, W_out), H_out = (H + 2p - d*(kH-1) - 1) // s + 1. "
                "stride, padding, dilation: an int or an (h, w) pair "
                "(minideeplab.geometry.pair turns either into a pair).")

_LIST = [
    Exercise(
        "conv_output_size", ("atrous",), "the output size of a (dilated, strided) convolution",
        "conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1) -> "
        "(H_out, W_out)",
        "Return the output (H_out, W_out) of a convolution. The k taps sit d pixels apart, so "
        "they span the effective kernel d*(k-1)+1 pixels; padding adds p pixels on each side; "
        "the window moves s pixels per output and must fit entirely.",
        "every argument is an int or an (h, w) pair; return a pair of ints even for int input",
        None, cases_arith.SIZE_LADDER, cases_arith.size_features, cases_arith.size_trial),
    Exercise(
        "conv2d_forward", ("atrous", "separable"),
        "2-D convolution: strided, padded, atrous, grouped, depthwise, pointwise",
        "conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> "
        "(out, cache)",
        "out[n, f, i, j] = b[f] + sum over c, u, v of x_pad[n, g*C_g + c, i*s + u*d, "
        "j*s + v*d] * w[f, c, u, v], where x_pad is x with p zeros on each side, g = f // "
        "(C_out // groups) is output channel f's group and C_g = C_in // groups (groups = 1: "
        "every output reads every input channel; groups = C_in: depthwise). It is a "
        "correlation: the kernel is not flipped. Return the cache the library's "
        "conv2d_backward reads: Conv2dCache(x, w, b is not None, stride, padding, "
        "dilation, groups, out.shape) with stride, padding and dilation as pairs (it keeps "
        "x unpadded; cache.x_padded gives the padded input).",
        _CONV_SHAPES, Conv2dCache, cases_conv.LADDER, cases_conv.features,
        cases_conv.forward_trial),
    Exercise(
        "conv2d_backward", ("atrous", "separable"),
        "the gradients of a convolution: dx (a transposed convolution), dw, db",
        "conv2d_backward(dout, cache) -> (dx, dw, db)",
        "Given dout = dL/d(out) and the forward's cache, return dx, dw and db. Read the "
        "forward sum backwards: dw[f, c, u, v] = sum over n, i, j of dout[n, f, i, j] * "
        "x_pad[n, g*C_g + c, i*s + u*d, j*s + v*d]; every term also sends dout[n, f, i, j] * "
        "w[f, c, u, v] back to dx_pad at the pixel it read; crop the padding off dx_pad; "
        "db[f] sums dout[:, f] (None when cache.has_bias is False).",
        "dout (N, C_out, H_out, W_out); dx like x (cache.x_shape); dw like w; db (C_out,) or "
        "None. cache.stride, .padding, .dilation are (h, w) pairs.",
        Conv2dCache, cases_conv.LADDER, cases_conv.features, cases_conv.backward_trial),
    Exercise(
        "separable_conv_parameters", ("separable",),
        "the weights of a depthwise separable convolution (vs a standard one)",
        "separable_conv_parameters(in_channels, out_channels, kernel_size=3) -> int",
        "Count the weights of a depthwise kH x kW convolution (groups = in_channels) followed "
        "by a pointwise 1x1 convolution to out_channels, both without bias. The checker counts "
        "them on the library's real Conv2d layers.",
        "kernel_size is an int or an (h, w) pair", None, cases_arith.PARAMS_LADDER,
        cases_arith.params_features, cases_arith.params_trial),
    Exercise(
        "batch_norm2d_forward", ("batchnorm",), "BatchNorm: normalise per channel (training and "
        "eval), update the running statistics",
        "batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training, "
        "momentum=0.1, eps=1e-5) -> (out, cache)",
        "Per channel c: training mode takes mu and the BIASED variance over (N, H, W) of this "
        "batch and moves the running statistics in place, running_mean = (1 - momentum) * "
        "running_mean + momentum * mu, running_var likewise with the UNBIASED variance "
        "(times M / (M - 1), M = N*H*W); eval mode uses running_mean and running_var and "
        "changes nothing. x_hat = (x - mu) / sqrt(var + eps); out = gamma * x_hat + beta. "
        "Return BatchNorm2dCache(x, mu, inv_std, gamma, training), inv_std = "
        "1 / sqrt(var + eps) (cache.x_hat then gives the normalised input).",
        "x, out (N, C, H, W); gamma, beta, running_mean, running_var (C,)",
        BatchNorm2dCache, cases_norm.BN_LADDER, cases_norm.bn_features,
        cases_norm.bn_forward_trial),
    Exercise(
        "batch_norm2d_backward", ("batchnorm",), "BatchNorm's gradients, training and eval",
        "batch_norm2d_backward(dout, cache) -> (dx, dgamma, dbeta)",
        "dbeta = sum of dout and dgamma = sum of dout * x_hat, over (N, H, W). In eval mode "
        "the statistics are constants: dx = gamma * inv_std * dout. In training mode mu and "
        "var depend on every x of the channel, which adds two terms (derive them, or see "
        "functional/batchnorm.py's docstring once you are done).",
        "dout, dx (N, C, H, W); dgamma, dbeta (C,)", BatchNorm2dCache, cases_norm.BN_LADDER,
        cases_norm.bn_features, cases_norm.bn_backward_trial),
    Exercise(
        "relu_backward", ("batchnorm",), "ReLU's gradient", "relu_backward(dout, cache) -> dx",
        "The gradient passes where the input was positive and is 0 elsewhere (also at "
        "exactly 0, as in torch). cache.positive is the mask x > 0.",
        "dout, dx: any shape (x's)", ReluCache, cases_norm.RELU_LADDER,
        cases_norm.relu_features, cases_norm.relu_backward_trial),
    Exercise(
        "bilinear_resize_forward", ("resize",), "bilinear resize, both align_corners rules",
        "bilinear_resize_forward(x, size, align_corners=False) -> (out, cache)",
        "Per axis, output index i reads the source coordinate src = (i + 0.5) * L_in / L_out "
        "- 0.5 clamped below at 0 (align_corners=False), or src = i * (L_in - 1) / (L_out - 1) "
        "(True; 0 when L_out == 1); i0 = floor(src), i1 = min(i0 + 1, L_in - 1), lam = src - "
        "i0, weights (1 - lam, lam). Mix the 4 neighbours with the products of the row and "
        "column weights. Return BilinearCache(x.shape, rows, cols, out.shape, x.dtype) with "
        "rows = (index0, index1, weight0, weight1) of the height axis, cols of the width.",
        "x (N, C, H, W); size = (H_out, W_out); out (N, C, H_out, W_out)", BilinearCache,
        cases_graph.RESIZE_LADDER, cases_graph.resize_features,
        cases_graph.resize_forward_trial),
    Exercise(
        "bilinear_resize_backward", ("resize",), "the gradient of bilinear resize: scatter back",
        "bilinear_resize_backward(dout, cache) -> dx",
        "Send every output pixel's gradient back to its 4 source pixels with the forward's "
        "weights (cache.rows and cache.cols hold (index0, index1, weight0, weight1) per axis). "
        "Several outputs share source pixels: their contributions add up.",
        "dout (N, C, H_out, W_out); dx (N, C, H, W) = cache.x_shape", BilinearCache,
        cases_graph.RESIZE_LADDER, cases_graph.resize_features,
        cases_graph.resize_backward_trial),
    Exercise(
        "softmax_cross_entropy_backward", ("resize",),
        "the gradient of the per-pixel cross-entropy, with ignored pixels",
        "softmax_cross_entropy_backward(dloss, cache) -> dlogits",
        "The loss is the (weighted) mean over the pixels that count of -log softmax(z)[y]. "
        "Its gradient per pixel is softmax(z) - one_hot(y), scaled by the pixel's weight "
        "(cache.pixel_weight: 0 for ignored pixels) over cache.total_weight, times dloss (a "
        "number). When every pixel is ignored (total_weight 0) the gradient is 0.",
        "dloss a number (or a 0-d array); cache.probs, dlogits (N, C, H, W); cache.target "
        "(N, H, W)", SoftmaxCrossEntropyCache, cases_graph.LOSS_LADDER,
        cases_graph.loss_features, cases_graph.loss_backward_trial),
    Exercise(
        "global_avg_pool2d_backward", ("aspp",), "the gradient of global average pooling",
        "global_avg_pool2d_backward(dout, cache) -> dx",
        "out[n, c] is the mean of x[n, c] over its H*W pixels: spread dout back evenly.",
        "dout (N, C, 1, 1); dx (N, C, H, W) = cache.x_shape", GlobalAvgPoolCache,
        cases_norm.POOL_LADDER, cases_norm.pool_features, cases_norm.pool_backward_trial),
    Exercise(
        "concat_backward", ("aspp",), "the gradient of a concatenation: a split",
        "concat_backward(dout, cache) -> [dx_0, dx_1, ...]",
        "Each input's gradient is its own slice of dout along cache.axis; cache.sizes are the "
        "inputs' lengths along it. Return a list, one array per input, in input order.",
        "dout like the concatenation; dx_i like input i", ConcatCache, cases_graph.CONCAT_LADDER,
        cases_graph.concat_features, cases_graph.concat_backward_trial),
    Exercise(
        "aspp_backward", ("aspp",), "ASPP's backward: project back, split, SUM the fan-out",
        "aspp_backward(dout, cache) -> dx",
        "ASPP computes out = project(concat([branch(x) for branch in branches])). Go back: "
        "d_stacked = cache.project_backward(dout); split it with "
        "F.concat_backward(d_stacked, cache.concat); call each of cache.branch_backwards once "
        "with its slice. x fed every branch, so dx is the sum of what they return.",
        "dout (N, C_out, H, W); dx (N, C_in, H, W). Each callable in the cache may be called "
        "once (it consumes its layer's cache)", ASPPCache, cases_graph.ASPP_LADDER,
        cases_graph.aspp_features, cases_graph.aspp_backward_trial),
    Exercise(
        "conv_step", ("receptive",), "the receptive-field recurrence through one layer",
        "conv_step(state, k, s, p, d) -> AxisState",
        "state holds size r, jump j, padding P and start of the layer's input (in input "
        "pixels; the image is AxisState() = (1, 1, 0, 0)). With k_eff = d*(k-1)+1: "
        "r' = r + (k_eff - 1) * j; j' = j * s; P' = P + p * j; start' = start + "
        "((k_eff - 1)/2 - p) * j. Return AxisState(size=r', jump=j', padding=P', "
        "start=start') (minideeplab.receptive_field.recurrence; use Fraction(k_eff - 1, 2)).",
        "one axis; k, s, p, d ints; the state's numbers are Fractions (or inf once global)",
        AxisState, cases_arith.STEP_LADDER, cases_arith.step_features, cases_arith.step_trial),
]

#: name -> Exercise, in the order of the notebooks.
EXERCISES = {exercise.name: exercise for exercise in _LIST}


def get(name) -> Exercise:
    """The exercise called ``name``; an unknown name raises an error listing the names."""
    if not isinstance(name, str) or name not in EXERCISES:
        raise InputError(f"unknown exercise {name!r}; the exercises are: "
                         f"{', '.join(EXERCISES)}")
    return EXERCISES[name]
