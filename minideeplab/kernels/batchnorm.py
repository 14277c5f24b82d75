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

* **Sums go into a row of accumulators, not one running number.**
  ``total += x[k]`` in a loop is a chain of dependent additions that the
  compiler may not reorder (floating-point addition is not associative), so it
  runs one addition at a time. ``acc[k] += x[n, c, k]`` summed over ``n`` adds
  independent lanes, which become SIMD instructions; the row ``acc`` is summed
  once at the end. Accumulators are float64 even for float32 inputs (a long
  float32 sum loses digits; NumPy avoids that with pairwise summation).
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
def _total(values):
    """The sum of a float64 row (a loop: ``values.sum()`` costs the compiler far more)."""
    total = 0.0
    for k in range(values.shape[0]):
        total += values[k]
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def _normalize_batch(first, stop, x, gamma, beta, eps, out, mean, var, inv_std):
    """Training: ``x``, ``out`` (N, C, L). Two passes for the statistics (no
    cancellation in the variance), a third writes ``out``::

        for c in range(first, stop):                             # this thread's channels
            mean[c]    = sum_{n,k} x[n,c,k] / M                   (M = N*L)
            var[c]     = sum_{n,k} (x[n,c,k] - mean[c])^2 / M
            inv_std[c] = 1 / sqrt(var[c] + eps)
            out[n,c,k] = gamma[c] * (x[n,c,k] - mean[c]) * inv_std[c] + beta[c]
    """
    n_batch, length = x.shape[0], x.shape[2]
    count = n_batch * length
    one = x.dtype.type(1)
    acc = np.empty(length, dtype=np.float64)          # one row of accumulators per thread
    for c in range(first, stop):
        for k in range(length):
            acc[k] = 0.0
        for n in range(n_batch):
            row = x[n, c]
            for k in range(length):
                acc[k] += row[k]
        channel_mean = _total(acc) / count
        for k in range(length):
            acc[k] = 0.0
        for n in range(n_batch):
            row = x[n, c]
            for k in range(length):
                centred = row[k] - channel_mean
                acc[k] += centred * centred
        mean[c] = channel_mean
        var[c] = _total(acc) / count
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


@njit(cache=True, nogil=True, error_model="numpy")
def _backward(first, stop, dout, x, mean, inv_std, gamma, training, dx, dgamma, dbeta):
    """``dout``, ``x``, ``dx`` (N, C, L), with ``x_hat = (x - mean) * inv_std`` recomputed::

        for c in range(first, stop):                             # this thread's channels
            dbeta[c]  = sum dout[:, c];   dgamma[c] = sum dout[:, c] * x_hat[:, c]
            dx[:, c]  = gamma[c] inv_std[c] (dout - dbeta[c]/M - x_hat dgamma[c]/M)  (training)
            dx[:, c]  = gamma[c] inv_std[c] dout                                     (eval)
    """
    n_batch, length = dout.shape[0], dout.shape[2]
    count = n_batch * length
    accumulators = np.empty((2, length), dtype=np.float64)      # one pair per thread
    acc_dout, acc_dout_x_hat = accumulators[0], accumulators[1]
    for c in range(first, stop):
        channel_mean, channel_inv_std = mean[c], inv_std[c]
        for k in range(length):
            acc_dout[k] = 0.0
            acc_dout_x_hat[k] = 0.0
        for n in range(n_batch):
            dout_row, x_row = dout[n, c], x[n, c]
            for k in range(length):
                x_hat = (x_row[k] - channel_mean) * channel_inv_std
                acc_dout[k] += dout_row[k]
                acc_dout_x_hat[k] += dout_row[k] * x_hat
        sum_dout = _total(acc_dout)
        sum_dout_x_hat = _total(acc_dout_x_hat)
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
