"""Numba twins of BatchNorm2d's hot loops (see :mod:`minideeplab.functional.batchnorm`).

Same signatures and the same numbers as the NumPy reference. Every loop nest
runs over channels, and each thread takes a slice of them
(``_threads.parallel_for``): a channel owns its statistics, its part of
``out`` / ``x_hat`` / ``dx`` and its entries of ``dgamma`` / ``dbeta``, so no
two threads ever write the same memory.

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

__all__ = ["channel_stats", "normalize", "backward"]


@njit(cache=True, nogil=True)
def _channel_stats(first, stop, x, mean, var):
    """``x`` (N, C, L). Two passes, so no cancellation in the variance::

        for c in range(first, stop):                             # this thread's channels
            mean[c] = sum_{n,k} x[n,c,k] / M
            var[c]  = sum_{n,k} (x[n,c,k] - mean[c])^2 / M          (M = N*L)
    """
    n_batch, length = x.shape[0], x.shape[2]
    count = n_batch * length
    for c in range(first, stop):
        acc = np.zeros(length, dtype=np.float64)
        for n in range(n_batch):
            row = x[n, c]
            for k in range(length):
                acc[k] += row[k]
        channel_mean = acc.sum() / count
        acc[:] = 0.0
        for n in range(n_batch):
            row = x[n, c]
            for k in range(length):
                centred = row[k] - channel_mean
                acc[k] += centred * centred
        mean[c] = channel_mean
        var[c] = acc.sum() / count


@njit(cache=True, nogil=True)
def _normalize(first, stop, x, mean, inv_std, gamma, beta, out, x_hat):
    """``x``, ``out``, ``x_hat`` (N, C, L)::

        for c in range(first, stop), n, k:                       # this thread's channels
            x_hat[n,c,k] = (x[n,c,k] - mean[c]) * inv_std[c]
            out[n,c,k]   = gamma[c] * x_hat[n,c,k] + beta[c]
    """
    n_batch, length = x.shape[0], x.shape[2]
    for c in range(first, stop):
        channel_mean, scale, shift, weight = mean[c], inv_std[c], beta[c], gamma[c]
        for n in range(n_batch):
            x_row, x_hat_row, out_row = x[n, c], x_hat[n, c], out[n, c]
            for k in range(length):
                normalised = (x_row[k] - channel_mean) * scale
                x_hat_row[k] = normalised
                out_row[k] = weight * normalised + shift


@njit(cache=True, nogil=True)
def _backward(first, stop, dout, x_hat, gamma, inv_std, training, dx, dgamma, dbeta):
    """``dout``, ``x_hat``, ``dx`` (N, C, L)::

        for c in range(first, stop):                             # this thread's channels
            dbeta[c]  = sum dout[:, c];   dgamma[c] = sum dout[:, c] * x_hat[:, c]
            dx[:, c]  = gamma[c] inv_std[c] (dout - dbeta[c]/M - x_hat dgamma[c]/M)  (training)
            dx[:, c]  = gamma[c] inv_std[c] dout                                     (eval)
    """
    n_batch, length = dout.shape[0], dout.shape[2]
    count = n_batch * length
    for c in range(first, stop):
        acc_dout = np.zeros(length, dtype=np.float64)
        acc_dout_x_hat = np.zeros(length, dtype=np.float64)
        for n in range(n_batch):
            dout_row, x_hat_row = dout[n, c], x_hat[n, c]
            for k in range(length):
                acc_dout[k] += dout_row[k]
                acc_dout_x_hat[k] += dout_row[k] * x_hat_row[k]
        sum_dout = acc_dout.sum()
        sum_dout_x_hat = acc_dout_x_hat.sum()
        dbeta[c] = sum_dout
        dgamma[c] = sum_dout_x_hat
        scale = gamma[c] * inv_std[c]
        if training:
            mean_dout = sum_dout / count
            mean_dout_x_hat = sum_dout_x_hat / count
        else:
            mean_dout = 0.0
            mean_dout_x_hat = 0.0
        for n in range(n_batch):
            dout_row, x_hat_row, dx_row = dout[n, c], x_hat[n, c], dx[n, c]
            for k in range(length):
                dx_row[k] = scale * (dout_row[k] - mean_dout - x_hat_row[k] * mean_dout_x_hat)


def _rows(a):
    """View (N, C, H, W) as (N, C, H*W): every image plane one contiguous row."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def channel_stats(x):
    """Per-channel mean and biased variance of ``x`` (N, C, H, W): two (C,) arrays.

    Twin of ``functional/batchnorm.py: _channel_stats_numpy`` (``x.mean`` and
    ``x.var`` over three axes): the same two passes, threads sharing the channels.
    """
    mean = np.empty(x.shape[1], dtype=x.dtype)
    var = np.empty(x.shape[1], dtype=x.dtype)
    parallel_for(_channel_stats, x.shape[1], _rows(x), mean, var)
    return mean, var


def normalize(x, mean, inv_std, gamma, beta):
    """``(out, x_hat)`` with ``x_hat = (x - mean) * inv_std`` and ``out = gamma * x_hat + beta``.

    Twin of ``functional/batchnorm.py: _normalize_numpy``: one pass over memory
    that writes both arrays, where NumPy's broadcasting makes four.
    """
    out = np.empty_like(x)
    x_hat = np.empty_like(x)
    parallel_for(_normalize, x.shape[1], _rows(x), mean, inv_std, gamma, beta, _rows(out),
                 _rows(x_hat))
    return out, x_hat


def backward(dout, x_hat, gamma, inv_std, training):
    """``(dx, dgamma, dbeta)`` of BatchNorm2d, for training or eval statistics.

    Twin of ``functional/batchnorm.py: _backward_numpy``: the same three terms,
    with the two per-channel sums taken in one pass instead of two.
    """
    dx = np.empty_like(dout)
    dgamma = np.empty(dout.shape[1], dtype=dout.dtype)
    dbeta = np.empty(dout.shape[1], dtype=dout.dtype)
    parallel_for(_backward, dout.shape[1], _rows(dout), _rows(x_hat), gamma, inv_std,
                 bool(training), _rows(dx), dgamma, dbeta)
    return dx, dgamma, dbeta
