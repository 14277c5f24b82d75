"""Reference solutions for notebooks/exercises/04_resize_and_loss.ipynb (one function per cell)."""

import numpy as np

from minideeplab.functional.resize import BilinearCache


def bilinear_resize_forward(x, size, align_corners=False):
    def taps(in_size, out_size):
        i = np.arange(out_size, dtype=np.float64)
        if align_corners:
            src = i * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
        else:
            src = np.maximum((i + 0.5) * in_size / out_size - 0.5, 0.0)
        index0 = np.minimum(np.floor(src).astype(np.intp), in_size - 1)
        index1 = np.minimum(index0 + 1, in_size - 1)
        lam = src - index0
        return index0, index1, (1 - lam).astype(x.dtype), lam.astype(x.dtype)

    h_out, w_out = size
    n, c, h, w = x.shape
    rows, cols = taps(h, h_out), taps(w, w_out)
    (i0, i1, a0, a1), (j0, j1, b0, b1) = rows, cols
    # rows first: mix the two source rows of every output row, then the two columns
    along_h = a0[:, None] * x[:, :, i0, :] + a1[:, None] * x[:, :, i1, :]
    out = b0 * along_h[:, :, :, j0] + b1 * along_h[:, :, :, j1]
    return out, BilinearCache(x.shape, rows, cols, out.shape, x.dtype)


def bilinear_resize_backward(dout, cache):
    n, c, h, w = cache.x_shape
    (i0, i1, a0, a1), (j0, j1, b0, b1) = cache.rows, cache.cols
    # the forward pass backwards: columns, then rows; np.add.at because several outputs
    # read the same source pixel and every one of their gradients must add up
    along_h = np.zeros((n, c, dout.shape[2], w), dtype=dout.dtype)
    np.add.at(along_h, (Ellipsis, j0), b0 * dout)
    np.add.at(along_h, (Ellipsis, j1), b1 * dout)
    dx = np.zeros(cache.x_shape, dtype=dout.dtype)
    np.add.at(dx, (slice(None), slice(None), i0), a0[:, None] * along_h)
    np.add.at(dx, (slice(None), slice(None), i1), a1[:, None] * along_h)
    return dx


def softmax_cross_entropy_backward(dloss, cache):
    if cache.total_weight == 0:
        return np.zeros_like(cache.probs)            # every pixel ignored: no gradient
    dlogits = cache.probs.copy()
    labels = cache.target[:, None]
    true_prob = np.take_along_axis(dlogits, labels, axis=1)
    np.put_along_axis(dlogits, labels, true_prob - 1, axis=1)     # softmax - one_hot
    scale = float(dloss) * cache.pixel_weight / cache.total_weight
    return dlogits * scale[:, None].astype(dlogits.dtype)
