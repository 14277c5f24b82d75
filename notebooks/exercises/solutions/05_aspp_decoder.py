"""Reference solutions for notebooks/exercises/05_aspp_decoder.ipynb (one function per cell)."""

import numpy as np

from minideeplab import functional as F


def global_avg_pool2d_backward(dout, cache):
    n, c, h, w = cache.x_shape
    # every pixel contributed 1/(H*W) of the mean
    return np.broadcast_to(dout / cache.dtype.type(h * w), cache.x_shape).copy()


def concat_backward(dout, cache):
    cuts = np.cumsum(cache.sizes)[:-1]         # where each input ends and the next begins
    return [np.ascontiguousarray(part) for part in np.split(dout, cuts, axis=cache.axis)]


def aspp_backward(dout, cache):
    grad_stacked = cache.project_backward(dout)
    grad_branches = F.concat_backward(grad_stacked, cache.concat)
    dx = 0
    for backward, grad in zip(cache.branch_backwards, grad_branches, strict=True):
        dx = dx + backward(grad)               # x fed every branch: add, never overwrite
    return dx
