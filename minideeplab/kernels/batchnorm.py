"""Numba twins of BatchNorm2d's hot loops (see :mod:`minideeplab.functional.batchnorm`).

Same signatures and the same numbers as the NumPy reference. Every loop nest
runs one channel per parallel iteration: a channel owns its statistics, its
slice of ``out`` / ``x_hat`` / ``dx`` and its entries of ``dgamma`` / ``dbeta``,
so no two iterations ever write the same memory.

Sums are accumulated in float64 even for float32 inputs (a long running sum in
float32 loses digits; NumPy avoids that with pairwise summation).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["channel_stats", "normalize", "backward"]


@njit(cache=True, parallel=True)
def _channel_stats(x, mean, var):
    """for c in channels (parallel):
        mean[c] = sum_{n,h,w} x[n,c,h,w] / M
        var[c]  = sum_{n,h,w} (x[n,c,h,w] - mean[c])^2 / M      (two passes: no cancellation)
    """
    n_batch, channels, height, width = x.shape
    count = n_batch * height * width
    for c in prange(channels):
        total = 0.0
        for n in range(n_batch):
            for i in range(height):
                for j in range(width):
                    total += x[n, c, i, j]
        channel_mean = total / count
        squares = 0.0
        for n in range(n_batch):
            for i in range(height):
                for j in range(width):
                    centred = x[n, c, i, j] - channel_mean
                    squares += centred * centred
        mean[c] = channel_mean
        var[c] = squares / count


@njit(cache=True, parallel=True)
def _normalize(x, mean, inv_std, gamma, beta, out, x_hat):
    """for c (parallel), n, h, w:
        x_hat[n,c,h,w] = (x[n,c,h,w] - mean[c]) * inv_std[c]
        out[n,c,h,w]   = gamma[c] * x_hat[n,c,h,w] + beta[c]
    """
    n_batch, channels, height, width = x.shape
    for c in prange(channels):
        for n in range(n_batch):
            for i in range(height):
                for j in range(width):
                    normalised = (x[n, c, i, j] - mean[c]) * inv_std[c]
                    x_hat[n, c, i, j] = normalised
                    out[n, c, i, j] = gamma[c] * x_hat[n, c, i, j] + beta[c]


@njit(cache=True, parallel=True)
def _backward(dout, x_hat, gamma, inv_std, training, dx, dgamma, dbeta):
    """for c (parallel):
        dbeta[c]  = sum dout[:, c];   dgamma[c] = sum dout[:, c] * x_hat[:, c]
        dx[:, c]  = gamma[c] inv_std[c] (dout - dbeta[c]/M - x_hat dgamma[c]/M)   (training)
        dx[:, c]  = gamma[c] inv_std[c] dout                                      (eval)
    """
    n_batch, channels, height, width = dout.shape
    count = n_batch * height * width
    for c in prange(channels):
        sum_dout = 0.0
        sum_dout_x_hat = 0.0
        for n in range(n_batch):
            for i in range(height):
                for j in range(width):
                    sum_dout += dout[n, c, i, j]
                    sum_dout_x_hat += dout[n, c, i, j] * x_hat[n, c, i, j]
        dbeta[c] = sum_dout
        dgamma[c] = sum_dout_x_hat
        scale = gamma[c] * inv_std[c]
        if training:
            mean_dout = sum_dout / count
            mean_dout_x_hat = sum_dout_x_hat / count
            for n in range(n_batch):
                for i in range(height):
                    for j in range(width):
                        dx[n, c, i, j] = scale * (dout[n, c, i, j] - mean_dout
                                                  - x_hat[n, c, i, j] * mean_dout_x_hat)
        else:
            for n in range(n_batch):
                for i in range(height):
                    for j in range(width):
                        dx[n, c, i, j] = scale * dout[n, c, i, j]


def channel_stats(x):
    """Per-channel mean and biased variance of ``x`` (N, C, H, W): two (C,) arrays."""
    mean = np.empty(x.shape[1], dtype=x.dtype)
    var = np.empty(x.shape[1], dtype=x.dtype)
    _channel_stats(x, mean, var)
    return mean, var


def normalize(x, mean, inv_std, gamma, beta):
    """``(out, x_hat)`` with ``x_hat = (x - mean) * inv_std`` and ``out = gamma * x_hat + beta``."""
    out = np.empty_like(x)
    x_hat = np.empty_like(x)
    _normalize(x, mean, inv_std, gamma, beta, out, x_hat)
    return out, x_hat


def backward(dout, x_hat, gamma, inv_std, training):
    """``(dx, dgamma, dbeta)`` of BatchNorm2d, for training or eval statistics."""
    dx = np.empty_like(dout)
    dgamma = np.empty(dout.shape[1], dtype=dout.dtype)
    dbeta = np.empty(dout.shape[1], dtype=dout.dtype)
    _backward(dout, x_hat, gamma, inv_std, bool(training), dx, dgamma, dbeta)
    return dx, dgamma, dbeta
