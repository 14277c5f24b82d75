"""Reference solutions for notebooks/exercises/01_atrous_convolution.ipynb (one function per cell).

Try the exercises first: the checker's hints are written to get you there.
"""

import numpy as np

from minideeplab.functional.conv import Conv2dCache
from minideeplab.geometry import pair


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1):
    size, k, s, p, d = (pair(v) for v in (input_size, kernel_size, stride, padding, dilation))
    # k taps d pixels apart span d*(k-1)+1 pixels; the window must fit in the padded input
    return tuple((size[i] + 2 * p[i] - (d[i] * (k[i] - 1) + 1)) // s[i] + 1 for i in range(2))


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    n, c_in, h, width = x.shape
    c_out, c_group, kh, kw = w.shape
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    f_group = c_out // groups
    for g in range(groups):
        inputs = x_padded[:, g * c_group:(g + 1) * c_group]
        outputs = slice(g * f_group, (g + 1) * f_group)
        for u in range(kh):
            for v in range(kw):
                # tap (u, v) of every output (i, j) reads x_pad[i*s + u*d, j*s + v*d]
                rows = slice(u * dh, u * dh + sh * (h_out - 1) + 1, sh)
                cols = slice(v * dw, v * dw + sw * (w_out - 1) + 1, sw)
                out[:, outputs] += np.einsum("nchw,fc->nfhw", inputs[:, :, rows, cols],
                                             w[outputs, :, u, v])
    if b is not None:
        out += b[None, :, None, None]
    cache = Conv2dCache(x, w, b is not None, (sh, sw), (ph, pw), (dh, dw), groups, out.shape)
    return out, cache


def conv2d_backward(dout, cache):
    (sh, sw), (dh, dw), groups = cache.stride, cache.dilation, cache.groups
    c_out, c_group, kh, kw = cache.w.shape
    h_out, w_out = dout.shape[2:]
    f_group = c_out // groups
    x_padded = cache.x_padded                   # the cache keeps x; this pads it once
    dx_padded = np.zeros_like(x_padded)
    dw_ = np.zeros_like(cache.w)
    for g in range(groups):
        inputs = slice(g * c_group, (g + 1) * c_group)
        outputs = slice(g * f_group, (g + 1) * f_group)
        for u in range(kh):
            for v in range(kw):
                rows = slice(u * dh, u * dh + sh * (h_out - 1) + 1, sh)
                cols = slice(v * dw, v * dw + sw * (w_out - 1) + 1, sw)
                # the same taps as the forward pass, read backwards
                dw_[outputs, :, u, v] += np.einsum(
                    "nfhw,nchw->fc", dout[:, outputs], x_padded[:, inputs, rows, cols])
                dx_padded[:, inputs, rows, cols] += np.einsum(
                    "nfhw,fc->nchw", dout[:, outputs], cache.w[outputs, :, u, v])
    (ph, pw), (h, width) = cache.padding, cache.x_shape[2:]
    dx = dx_padded[:, :, ph:ph + h, pw:pw + width].copy()
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw_, db
