"""Numba twins of BatchNorm2d's hot loops (see :mod:`minideeplab.functional.batchnorm`).

Same signatures and the same numbers as the NumPy reference. Every loop nest
runs over channels, and each thread takes a slice of them
(``_threads.parallel_for``): a channel owns its statistics, its part of
``out`` / ``dx`` and its entries of ``dgamma`` / ``dbeta``, so no two threads
ever write the same memory. A training batch is normalised in one call per
channel: its statistics, then its output, while the channel's values are
still in the cache.

The kernels see each ``(n, c)`` image plane as one flat row of ``L = H*W``
values (``x.reshape(N, C, L)``, a view). Two habits make the loops fast:

* **Sums may be added in any order** (``fastmath={"reassoc"}`` on the
  functions that sum). ``total += x[k]`` is a chain of dependent additions
  that the compiler may not reorder (floating-point addition is not
  associative), so it would run one addition at a time. Allowed to
  reassociate, LLVM keeps several partial sums in the lanes of SIMD registers
  and adds them at the end: the same sum up to rounding, 1.8x faster here.
  The sums are float64 even for float32 inputs (a long float32 sum loses
  digits; NumPy avoids that with pairwise summation).
* **Per-channel numbers are read into local variables before the inner loop.**
  Inside the loop ``mean[c]`` would be reloaded after every store to ``out``
  (the compiler cannot prove the two arrays do not overlap), which also
  blocks SIMD.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for

__all__ = ["normalize_batch", "normalize", "backward"]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _channel_sum(x, c):
    """``sum_{n,k} x[n, c, k]`` in float64, added in SIMD lanes."""
    total = 0.0
    for n in range(x.shape[0]):
        row = x[n, c]
        for k in range(x.shape[2]):
            total += row[k]
    return total


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _channel_squares(x, c, centre):
    """``sum_{n,k} (x[n, c, k] - centre)^2`` in float64, added in SIMD lanes."""
    total = 0.0
    for n in range(x.shape[0]):
        row = x[n, c]
        for k in range(x.shape[2]):
            centred = row[k] - centre
            total += centred * centred
    return total


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _normalize_batch(first, stop, x, gamma, beta, eps, out, mean, var, inv_std):
    """Training: ``x``, ``out`` (N, C, L). Two passes for the statistics (no
    cancellation in the variance), a third writes ``out``::

        for c in range(first, stop):                             # this thread's channels
            mean[c]    = sum_{n,k} x[n,c,k] / M                   (M = N*L)
            var[c]     = sum_{n,k} (x[n,c,k] - mean[c])^2 / M
            inv_std[c] = 1 / sqrt(var[c] + eps)
            out[n,c,k] = gamma[c] * (x[n,c,k] - mean[c]) * inv_std[c] + beta[c]
    """
    count = x.shape[0] * x.shape[2]
    one = x.dtype.type(1)
    for c in range(first, stop):
        channel_mean = _channel_sum(x, c) / count
        mean[c] = channel_mean
        var[c] = _channel_squares(x, c, channel_mean) / count
        # in x's dtype, as the reference computes it: 1 / sqrt(var + eps)
        inv_std[c] = one / np.sqrt(var[c] + x.dtype.type(eps))
        _normalize_channel(x, mean[c], inv_std[c], gamma[c], beta[c], c, out)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _normalize_channel(x, channel_mean, scale, weight, shift, c, out):
    """``out[n, c, k] = weight * ((x[n, c, k] - channel_mean) * scale) + shift``."""
    for n in range(x.shape[0]):
        x_row, out_row = x[n, c], out[n, c]
        for k in range(x.shape[2]):
            out_row[k] = weight * ((x_row[k] - channel_mean) * scale) + shift


@njit(cache=True, nogil=True, error_model="numpy")
def _normalize(first, stop, x, mean, inv_std, gamma, beta, out):
    """Given statistics (eval): ``x``, ``out`` (N, C, L)::

        for c in range(first, stop), n, k:                       # this thread's channels
            out[n,c,k] = gamma[c] * (x[n,c,k] - mean[c]) * inv_std[c] + beta[c]
    """
    for c in range(first, stop):
        _normalize_channel(x, mean[c], inv_std[c], gamma[c], beta[c], c, out)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _backward_sums(dout, x, c, channel_mean, channel_inv_std):
    """``(sum dout[:, c], sum dout[:, c] * x_hat[:, c])`` in one pass, float64, in SIMD lanes."""
    sum_dout = 0.0
    sum_dout_x_hat = 0.0
    for n in range(dout.shape[0]):
        dout_row, x_row = dout[n, c], x[n, c]
        for k in range(dout.shape[2]):
            x_hat = (x_row[k] - channel_mean) * channel_inv_std
            sum_dout += dout_row[k]
            sum_dout_x_hat += dout_row[k] * x_hat
    return sum_dout, sum_dout_x_hat


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _backward(first, stop, dout, x, mean, inv_std, gamma, training, dx, dgamma, dbeta):
    """``dout``, ``x``, ``dx`` (N, C, L), with ``x_hat = (x - mean) * inv_std`` recomputed::

        for c in range(first, stop):                             # this thread's channels
            dbeta[c]  = sum dout[:, c];   dgamma[c] = sum dout[:, c] * x_hat[:, c]
            dx[:, c]  = gamma[c] inv_std[c] (dout - dbeta[c]/M - x_hat dgamma[c]/M)  (training)
            dx[:, c]  = gamma[c] inv_std[c] dout                                     (eval)
    """
    n_batch, length = dout.shape[0], dout.shape[2]
    count = n_batch * length
    for c in range(first, stop):
        channel_mean, channel_inv_std = mean[c], inv_std[c]
        sum_dout, sum_dout_x_hat = _backward_sums(dout, x, c, channel_mean, channel_inv_std)
        dbeta[c] = sum_dout
        dgamma[c] = sum_dout_x_hat
        scale = gamma[c] * channel_inv_std
        if training:
            mean_dout = sum_dout / count
            mean_dout_x_hat = sum_dout_x_hat / count
        else:
            mean_dout = 0.0
            mean_dout_x_hat = 0.0
        for n in range(n_batch):
            dout_row, x_row, dx_row = dout[n, c], x[n, c], dx[n, c]
            for k in range(length):
                x_hat = (x_row[k] - channel_mean) * channel_inv_std
                dx_row[k] = scale * (dout_row[k] - mean_dout - x_hat * mean_dout_x_hat)


def _rows(a):
    """View (N, C, H, W) as (N, C, H*W): every image plane one contiguous row."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def normalize_batch(x, gamma, beta, eps):
    """Training: ``(out, mean, var, inv_std)``, normalised with the batch's own statistics.

    Twin of ``functional/batchnorm.py: _normalize_batch_numpy`` (``x.mean``,
    ``x.var``, then a broadcast expression): the same passes, one channel at a
    time, so the statistics and the output of a channel are computed while
    its values are still in the cache.
    """
    channels = x.shape[1]
    out = np.empty_like(x)
    mean, var, inv_std = (np.empty(channels, dtype=x.dtype) for _ in range(3))
    parallel_for(_normalize_batch, channels, _rows(x), gamma, beta, float(eps), _rows(out),
                 mean, var, inv_std, work=x.size)
    return out, mean, var, inv_std


def normalize(x, mean, inv_std, gamma, beta):
    """``out = gamma * (x - mean) * inv_std + beta`` per channel (given statistics).

    Twin of ``functional/batchnorm.py: _normalize_numpy``: one pass over memory,
    where NumPy's broadcasting makes four.
    """
    out = np.empty_like(x)
    parallel_for(_normalize, x.shape[1], _rows(x), mean, inv_std, gamma, beta, _rows(out),
                 work=x.size)
    return out


def backward(dout, x, mean, inv_std, gamma, training):
    """``(dx, dgamma, dbeta)`` of BatchNorm2d, for training or eval statistics.

    Twin of ``functional/batchnorm.py: _backward_numpy``: the same three terms,
    with the two per-channel sums taken in one pass instead of two.
    """
    dx = np.empty_like(dout)
    dgamma = np.empty(dout.shape[1], dtype=dout.dtype)
    dbeta = np.empty(dout.shape[1], dtype=dout.dtype)
    parallel_for(_backward, dout.shape[1], _rows(dout), _rows(x), mean, inv_std, gamma,
                 bool(training), _rows(dx), dgamma, dbeta, work=dout.size)
    return dx, dgamma, dbeta
