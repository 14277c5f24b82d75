"""Reference solutions for notebooks/exercises/02_depthwise_separable.ipynb (one function per cell).

The notebook defines ``plain_conv2d_forward`` and ``plain_conv2d_backward``: the library's
convolution without groups. A grouped convolution is ``groups`` of them side by side.
"""

import dataclasses

import numpy as np

from minideeplab.functional.conv import Conv2dCache
from minideeplab.geometry import pair


def separable_conv_parameters(in_channels, out_channels, kernel_size=3):
    kh, kw = pair(kernel_size)
    depthwise = in_channels * kh * kw          # one kH x kW filter per input channel
    pointwise = in_channels * out_channels     # a 1x1 conv across channels
    return depthwise + pointwise


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    c_group, f_group = x.shape[1] // groups, w.shape[0] // groups
    outs, caches = [], []
    for g in range(groups):
        inputs = slice(g * c_group, (g + 1) * c_group)
        outputs = slice(g * f_group, (g + 1) * f_group)
        out_g, cache_g = plain_conv2d_forward(                      # noqa: F821 (the notebook's)
            np.ascontiguousarray(x[:, inputs]), np.ascontiguousarray(w[outputs]),
            None if b is None else b[outputs], stride, padding, dilation)
        outs.append(out_g)
        caches.append(cache_g)
    out = np.concatenate(outs, axis=1)
    first = caches[0]
    cache = Conv2dCache(x, w, b is not None, first.stride, first.padding, first.dilation,
                        groups, out.shape)
    return out, cache


def conv2d_backward(dout, cache):
    groups = cache.groups
    n, c_in, h, width = cache.x_shape
    c_group, f_group = c_in // groups, cache.w.shape[0] // groups
    dxs, dws, dbs = [], [], []
    for g in range(groups):
        inputs = slice(g * c_group, (g + 1) * c_group)
        outputs = slice(g * f_group, (g + 1) * f_group)
        # the cache of group g alone, as if it had been a convolution of its own
        part = dataclasses.replace(
            cache, x=np.ascontiguousarray(cache.x[:, inputs]),
            w=np.ascontiguousarray(cache.w[outputs]), groups=1,
            out_shape=(n, f_group) + tuple(dout.shape[2:]))
        dx_g, dw_g, db_g = plain_conv2d_backward(                   # noqa: F821 (the notebook's)
            np.ascontiguousarray(dout[:, outputs]), part)
        dxs.append(dx_g)
        dws.append(dw_g)
        dbs.append(db_g)
    db = np.concatenate(dbs) if cache.has_bias else None
    return np.concatenate(dxs, axis=1), np.concatenate(dws, axis=0), db
