"""Reference solutions for notebooks/exercises/03_batchnorm_relu.ipynb (one function per cell)."""

import numpy as np

from minideeplab.functional.batchnorm import BatchNorm2dCache


def batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                         eps=1e-5):
    if training:
        m = x.shape[0] * x.shape[2] * x.shape[3]
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))                    # biased: divide by M, to normalise
        # in place, so the layer's buffers change; the running variance is unbiased
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * m / (m - 1)
    else:
        mean, var = running_mean, running_var
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
    x_hat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    return out, BatchNorm2dCache(x, mean.copy(), inv_std, gamma.copy(), bool(training))


def batch_norm2d_backward(dout, cache):
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * cache.x_hat).sum(axis=(0, 2, 3))
    scale = (cache.gamma * cache.inv_std)[None, :, None, None]
    if not cache.training:
        return scale * dout, dgamma, dbeta
    # the mean path and the variance path: remove dout's mean and its x_hat component
    mean_dout = dout.mean(axis=(0, 2, 3), keepdims=True)
    mean_dout_x_hat = (dout * cache.x_hat).mean(axis=(0, 2, 3), keepdims=True)
    dx = scale * (dout - mean_dout - cache.x_hat * mean_dout_x_hat)
    return dx, dgamma, dbeta


def relu_backward(dout, cache):
    return np.where(cache.positive, dout, np.zeros((), dtype=dout.dtype))
