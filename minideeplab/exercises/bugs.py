"""The bug zoo: classic mistakes, each a complete (broken) implementation of an exercise.

``mdl.exercises.bugs[name]`` is a :class:`Bug`: call it like the function it
breaks, check it (``mdl.exercises.check(bug.exercise, bug)``), gradient-check it,
train with it -- then read ``bug.explanation``. Every bug is written the way a
learner would write the code, with one mistake in it; the tests assert that the
checker rejects every one and says why.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from ..functional import concat as _concat
from ..functional.batchnorm import BatchNorm2dCache
from ..functional.conv import Conv2dCache, conv2d_forward, conv2d_windows, zero_pad
from ..functional.resize import bilinear_taps
from ..geometry import pair
from ..receptive_field.recurrence import AxisState

__all__ = ["Bug", "bugs"]


@dataclass(frozen=True)
class Bug:
    """A deliberately broken implementation; call it like ``exercise``'s function."""

    name: str
    exercise: str
    function: Callable
    explanation: str

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    @property
    def __name__(self):           # so reports and tracebacks name it
        return self.name

    def __repr__(self):
        return (f"<Bug {self.name!r}: a broken {self.exercise}; find the mistake, then read "
                f".explanation>")


# ================================================================ convolution

def _dw_db(dout, cache):
    """The right dW and db (the dX bugs below get only dX wrong)."""
    n = dout.shape[0]
    c_out, c_per_group, kh, kw = cache.w.shape
    g = cache.groups
    windows = conv2d_windows(cache.x_padded, (kh, kw), dout.shape[2:], cache.stride,
                             cache.dilation).reshape(n, g, c_per_group, kh, kw, *dout.shape[2:])
    dout_g = dout.reshape(n, g, c_out // g, *dout.shape[2:])
    dw = np.einsum("ngfij,ngcuvij->gfcuv", dout_g, windows).reshape(cache.w.shape)
    return dw, (dout.sum(axis=(0, 2, 3)) if cache.has_bias else None)


def _crop(dx_padded, cache):
    (ph, pw), (h, w) = cache.padding, cache.x_shape[2:]
    return np.ascontiguousarray(dx_padded[:, :, ph:ph + h, pw:pw + w])


def _dx_by_scatter(dout, cache, row_start, row_step, col_start, col_step):
    """dX by sending dout back through every tap; the four index rules are the caller's."""
    n, _, h_out, w_out = dout.shape
    c_out, c_per_group, kh, kw = cache.w.shape
    g = cache.groups
    dx_padded = np.zeros(cache.x_padded.shape, dtype=dout.dtype)
    dx_g = dx_padded.reshape(n, g, c_per_group, *dx_padded.shape[2:])
    dout_g = dout.reshape(n, g, c_out // g, h_out, w_out)
    w_g = cache.w.reshape(g, c_out // g, c_per_group, kh, kw)
    for u in range(kh):
        for v in range(kw):
            r0, c0 = row_start(u), col_start(v)
            rows = slice(r0, r0 + row_step * (h_out - 1) + 1, row_step)
            cols = slice(c0, c0 + col_step * (w_out - 1) + 1, col_step)
            dx_g[:, :, :, rows, cols] += np.einsum("ngfij,gfc->ngcij", dout_g, w_g[:, :, :, u, v])
    return _crop(dx_padded, cache)


def _conv_backward_no_flip(dout, cache):
    # dX as a transposed convolution: zero-insert dout, pad it, correlate with the kernel
    (sh, sw), (dh, dw_), (kh, kw) = cache.stride, cache.dilation, cache.w.shape[2:]
    n, c_out, h_out, w_out = dout.shape
    hp, wp = cache.x_padded.shape[2:]
    dilated = np.zeros((n, c_out, (h_out - 1) * sh + 1, (w_out - 1) * sw + 1), dout.dtype)
    dilated[:, :, ::sh, ::sw] = dout
    top, left = dh * (kh - 1), dw_ * (kw - 1)
    bottom, right = hp - dilated.shape[2] - top, wp - dilated.shape[3] - left
    padded = np.pad(dilated, ((0, 0), (0, 0), (top, bottom + top), (left, right + left)))
    g = cache.groups
    c_per_group = cache.w.shape[1]
    # swap in and out channels within each group ... but the kernel is not flipped
    kernel = cache.w.reshape(g, c_out // g, c_per_group, kh, kw).transpose(0, 2, 1, 3, 4)
    kernel = np.ascontiguousarray(kernel.reshape(g * c_per_group, c_out // g, kh, kw))
    dx_padded = conv2d_forward(padded, kernel, dilation=(dh, dw_), groups=g)[0]
    return (_crop(dx_padded, cache), *_dw_db(dout, cache))


def _conv_backward_stride_forgotten(dout, cache):
    d_h, d_w = cache.dilation
    dx = _dx_by_scatter(dout, cache, lambda u: u * d_h, 1, lambda v: v * d_w, 1)
    return (dx, *_dw_db(dout, cache))


def _conv_backward_dilation_only_in_dw(dout, cache):
    (s_h, s_w) = cache.stride
    dx = _dx_by_scatter(dout, cache, lambda u: u, s_h, lambda v: v, s_w)
    return (dx, *_dw_db(dout, cache))


def _conv_backward_db_mean(dout, cache):
    (s_h, s_w), (d_h, d_w) = cache.stride, cache.dilation
    dx = _dx_by_scatter(dout, cache, lambda u: u * d_h, s_h, lambda v: v * d_w, s_w)
    dw, _ = _dw_db(dout, cache)
    db = dout.sum(axis=(2, 3)).mean(axis=0) if cache.has_bias else None
    return dx, dw, db


def _conv_backward_dw_transposed(dout, cache):
    (s_h, s_w), (d_h, d_w) = cache.stride, cache.dilation
    dx = _dx_by_scatter(dout, cache, lambda u: u * d_h, s_h, lambda v: v * d_w, s_w)
    n = dout.shape[0]
    c_out, c_per_group, kh, kw = cache.w.shape
    g = cache.groups
    windows = conv2d_windows(cache.x_padded, (kh, kw), dout.shape[2:], cache.stride,
                             cache.dilation).reshape(n, g, c_per_group, kh, kw, *dout.shape[2:])
    dout_g = dout.reshape(n, g, c_out // g, *dout.shape[2:])
    dw = np.einsum("ngfij,ngcuvij->gcfuv", dout_g, windows).reshape(cache.w.shape)
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw, db


def _conv_forward(x, w, b, stride, padding, dilation, groups, group_of, tap_offset):
    """A learner's forward; ``group_of(f)`` and ``tap_offset(d)`` are where the bugs live."""
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    n, c_in, h, width = x.shape
    c_out, c_per_group, kh, kw = w.shape
    h_out = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    x_padded = zero_pad(x, padding)
    off_h, off_w = tap_offset(dilation[0]), tap_offset(dilation[1])
    reading = np.pad(x_padded, ((0, 0), (0, 0), (0, off_h), (0, off_w)))[:, :, off_h:, off_w:]
    windows = conv2d_windows(np.ascontiguousarray(reading), (kh, kw), (h_out, w_out), stride,
                             dilation)
    out = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    for f in range(c_out):
        g = group_of(f, c_out, groups)
        channels = windows[:, g * c_per_group:(g + 1) * c_per_group]
        out[:, f] = np.einsum("ncuvij,cuv->nij", channels, w[f])
        if b is not None:
            out[:, f] += b[f]
    cache = Conv2dCache(x, w, b is not None, stride, padding, dilation, groups, out.shape)
    return out, cache


def _conv_forward_groups_mix(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_forward(x, w, b, stride, padding, dilation, groups,
                         group_of=lambda f, c_out, groups: f % groups,
                         tap_offset=lambda d: 0)


def _conv_forward_dilated_offset(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    # "d - 1 zeros per tap": tap u read at (u + 1) * d - 1 instead of u * d
    return _conv_forward(x, w, b, stride, padding, dilation, groups,
                         group_of=lambda f, c_out, groups: f // (c_out // groups),
                         tap_offset=lambda d: d - 1)


def _conv_output_size_no_dilation(input_size, kernel_size, stride=1, padding=0, dilation=1):
    size, k, s, p = pair(input_size), pair(kernel_size), pair(stride), pair(padding)
    return tuple((size[i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2))


# =========================================================== the other layers

def _bn_backward_no_mean_terms(dout, cache):
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * cache.x_hat).sum(axis=(0, 2, 3))
    dx = (cache.gamma * cache.inv_std)[None, :, None, None] * dout
    return dx, dgamma, dbeta


def _bn_backward_dgamma_mean(dout, cache):
    m = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * cache.x_hat).mean(axis=(0, 2, 3))
    scale = (cache.gamma * cache.inv_std)[None, :, None, None]
    if not cache.training:
        return scale * dout, dgamma, dbeta
    dx = scale * (dout - dbeta[None, :, None, None] / m
                  - cache.x_hat * dgamma[None, :, None, None] / m)
    return dx, dgamma, dbeta


def _bn_forward_running_in_training(x, gamma, beta, running_mean, running_var, training,
                                    momentum=0.1, eps=1e-5):
    if training:
        m = x.shape[0] * x.shape[2] * x.shape[3]
        running_mean *= 1 - momentum
        running_mean += momentum * x.mean(axis=(0, 2, 3))
        running_var *= 1 - momentum
        running_var += momentum * x.var(axis=(0, 2, 3)) * m / (m - 1)
    inv_std = (1 / np.sqrt(running_var + eps)).astype(x.dtype)
    x_hat = (x - running_mean[None, :, None, None]) * inv_std[None, :, None, None]
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    return out, BatchNorm2dCache(x, running_mean.copy(), inv_std, gamma.copy(), bool(training))


def _relu_backward_mask_from_dout(dout, cache):
    return np.maximum(dout, 0)


def _pool_backward_no_division(dout, cache):
    return np.broadcast_to(dout, cache.x_shape).copy()


def _resize_scatter(dout, rows, cols, x_shape, accumulate):
    n, c, h, w = x_shape
    along_h = np.zeros((n, c, h, dout.shape[3]), dtype=dout.dtype)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    (i0, i1, a0, a1), (j0, j1, b0, b1) = rows, cols
    if accumulate:
        np.add.at(along_h, (slice(None), slice(None), i0), a0[:, None] * dout)
        np.add.at(along_h, (slice(None), slice(None), i1), a1[:, None] * dout)
        np.add.at(dx, (Ellipsis, j0), b0 * along_h)
        np.add.at(dx, (Ellipsis, j1), b1 * along_h)
    else:
        along_h[:, :, i0] += a0[:, None] * dout       # repeated rows add only once
        along_h[:, :, i1] += a1[:, None] * dout
        dx[..., j0] += b0 * along_h
        dx[..., j1] += b1 * along_h
    return dx


def _resize_backward_align_ignored(dout, cache):
    n, c, h, w = cache.x_shape
    h_out, w_out = dout.shape[2:]
    rows = bilinear_taps(h, h_out, align_corners=False, dtype=dout.dtype)
    cols = bilinear_taps(w, w_out, align_corners=False, dtype=dout.dtype)
    return _resize_scatter(dout, rows, cols, cache.x_shape, accumulate=True)


def _resize_backward_fancy_add(dout, cache):
    return _resize_scatter(dout, cache.rows, cache.cols, cache.x_shape, accumulate=False)


def _loss_backward_mean_over_all(dloss, cache):
    dlogits = cache.probs.copy()
    labels = cache.target[:, None]
    np.put_along_axis(dlogits, labels, np.take_along_axis(dlogits, labels, axis=1) - 1, axis=1)
    all_pixels = cache.target.size
    return dlogits * (float(dloss) * cache.pixel_weight / all_pixels)[:, None]


def _concat_backward_sizes_as_offsets(dout, cache):
    return np.split(dout, cache.sizes[:-1], axis=cache.axis)


def _aspp_backward_overwrite(dout, cache):
    grad_stacked = cache.project_backward(dout)
    grads = _concat.concat_backward(grad_stacked, cache.concat)
    for backward, grad in zip(cache.branch_backwards, grads, strict=True):
        dx = backward(grad)
    return dx


def _conv_step_forgets_jump(state, k, s, p, d):
    span = d * (k - 1) + 1
    return AxisState(size=state.size + (span - 1), jump=state.jump * s,
                     padding=state.padding + p * state.jump,
                     start=state.start + (Fraction(span - 1, 2) - p) * state.jump)


# ==================================================================== the zoo

_ZOO = [
    Bug("conv2d_backward_no_flip", "conv2d_backward", _conv_backward_no_flip,
        "dX was written as a transposed convolution -- zero-insert dout, pad it, correlate it "
        "with the kernel, channels swapped -- but the kernel was not flipped. A 1x1 kernel "
        "cannot tell (that is why the first rung passed); any larger kernel sends every "
        "gradient to the mirror-image tap. Scattering with the forward's own indices never "
        "needs a flip; the correlation form needs w[..., ::-1, ::-1]."),
    Bug("conv2d_backward_stride_forgotten", "conv2d_backward", _conv_backward_stride_forgotten,
        "dX scattered dout[i, j] back to rows u*d + i instead of i*s + u*d: the stride was "
        "forgotten in dX (dW used it). At stride 1 the two agree, so the bug hides until a "
        "strided layer, e.g. the backbone's downsampling."),
    Bug("conv2d_backward_dilation_only_in_dw", "conv2d_backward",
        _conv_backward_dilation_only_in_dw,
        "dW read the taps d pixels apart, dX sent them back 1 pixel apart: dilation applied to "
        "dW but not to dX. Every non-atrous layer is right, so training a plain CNN would not "
        "show it; every atrous layer of DeepLab gets the wrong input gradient."),
    Bug("conv2d_backward_db_mean", "conv2d_backward", _conv_backward_db_mean,
        "db was summed over H and W, then AVERAGED over the batch: the wrong reduction over "
        "one axis. The loss already averages over images and pixels, so the parameters' "
        "gradients must sum over n, i and j; with a batch of N, db is N times too small."),
    Bug("conv2d_backward_dw_transposed", "conv2d_backward", _conv_backward_dw_transposed,
        "dW was computed with its axes as (C_in, C_out, kH, kW) and then reshaped to w's "
        "shape (C_out, C_in, kH, kW): the reshape hides the transposition when C_in == C_out "
        "and scrambles the weights otherwise. Reshape never transposes: put f first."),
    Bug("conv2d_forward_groups_mix", "conv2d_forward", _conv_forward_groups_mix,
        "Output channel f took its group as f % groups instead of f // (C_out // groups), so "
        "consecutive output channels alternate between groups and read the wrong input "
        "channels. Depthwise convs (one output per group) are unaffected, which is why only "
        "the grouped cases with several outputs per group fail."),
    Bug("conv2d_forward_dilated_offset", "conv2d_forward", _conv_forward_dilated_offset,
        "'A dilated kernel puts d - 1 zeros per tap': tap u was read at (u + 1)*d - 1 instead "
        "of u*d, as if the holes came before each tap. At rate 1 the offset is 0; at rate 2 "
        "the whole window slides one pixel: padding off by one at a dilated kernel, so the "
        "map is shifted and its last row and column read zeros past the padding."),
    Bug("conv_output_size_no_dilation", "conv_output_size", _conv_output_size_no_dilation,
        "The size formula used k where the dilated kernel spans d*(k-1)+1 pixels: a 3x3 at "
        "rate 2 seems to fit where it does not. Every plain conv is right; every atrous one "
        "comes out too large."),
    Bug("batch_norm2d_backward_no_mean_terms", "batch_norm2d_backward",
        _bn_backward_no_mean_terms,
        "dx = gamma / sigma * dout is the EVAL formula. In training, mu and sigma are the "
        "batch's own and depend on every x of the channel, which adds the terms "
        "-mean(dout) and -x_hat * mean(dout * x_hat). Eval cases pass, training ones fail."),
    Bug("batch_norm2d_backward_dgamma_mean", "batch_norm2d_backward", _bn_backward_dgamma_mean,
        "dgamma = mean(dout * x_hat) over (N, H, W): a mean where the sum belongs (dbeta was "
        "summed). The mean terms of dx then divide it by M = N*H*W a second time, so dx is "
        "wrong too in training -- but dgamma alone is off by exactly 1 / M, the clue to the "
        "one mistake behind both."),
    Bug("batch_norm2d_forward_running_stats_in_training", "batch_norm2d_forward",
        _bn_forward_running_in_training,
        "In training mode the batch was normalised with the RUNNING statistics (it updated "
        "them first, correctly). The output is then not normalised at all early in training "
        "(running_var starts at 1), and the backward's mean terms no longer match the forward."),
    Bug("relu_backward_mask_from_dout", "relu_backward", _relu_backward_mask_from_dout,
        "max(dout, 0): the ReLU was applied to the gradient instead of masking it by where the "
        "INPUT was positive. Negative gradients vanish everywhere and positive ones pass "
        "through dead units."),
    Bug("global_avg_pool2d_backward_no_division", "global_avg_pool2d_backward",
        _pool_backward_no_division,
        "dout was copied to every pixel without dividing by H*W: the mean's derivative is "
        "1/(H*W) per pixel. A 1x1 map cannot tell; a 4x4 one gets a 16 times larger gradient."),
    Bug("bilinear_resize_backward_align_corners_ignored", "bilinear_resize_backward",
        _resize_backward_align_ignored,
        "The backward recomputed its taps from the shapes with align_corners=False (torch's "
        "default) instead of using the forward's taps from the cache: align_corners mixed "
        "up. Every align_corners=True resize gets the gradient of a different resize."),
    Bug("bilinear_resize_backward_fancy_add", "bilinear_resize_backward",
        _resize_backward_fancy_add,
        "dx[..., idx] += v with repeated entries in idx adds only ONCE per pixel (NumPy "
        "buffers the fancy-indexed write), so pixels read by several outputs lose gradient. "
        "np.add.at accumulates every contribution."),
    Bug("softmax_cross_entropy_backward_mean_over_all", "softmax_cross_entropy_backward",
        _loss_backward_mean_over_all,
        "The gradient was divided by all N*H*W pixels instead of the ones that count: the "
        "cross-entropy averaged over ignored pixels. Without ignored pixels it is right; with "
        "VOC-style borders the gradient shrinks by the ignored fraction."),
    Bug("concat_backward_sizes_as_offsets", "concat_backward", _concat_backward_sizes_as_offsets,
        "np.split wants cut POSITIONS, and cache.sizes[:-1] are lengths. With two inputs the "
        "first length is the first position, so it works; with three the cuts land in the "
        "wrong place. Positions are the running sum, np.cumsum(sizes)[:-1]."),
    Bug("aspp_backward_overwrite", "aspp_backward", _aspp_backward_overwrite,
        "dx = backward(grad) inside the loop OVERWRITES: only the last branch (image pooling) "
        "reaches x. x fed every branch, so its gradient is the sum. The network still trains "
        "-- through one branch -- which is why this bug survives in real code."),
    Bug("conv_step_forgets_jump", "conv_step", _conv_step_forgets_jump,
        "The receptive field grew by k_eff - 1 pixels per layer, as if every layer worked on "
        "the input grid. After a stride-2 layer one step is 2 input pixels: the growth is "
        "(k_eff - 1) * jump. Without it, deep layers' fields are far too small."),
]

#: name -> Bug, read-only.
bugs = types.MappingProxyType({bug.name: bug for bug in _ZOO})
