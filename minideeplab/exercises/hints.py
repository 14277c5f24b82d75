"""Hints: one per failing pattern, per exercise, with general ones to fall back on.

A finding of the diagnosis has a key -- a classic mistake ("kernel not
flipped"), a feature of the ladder ("only:dilation > 1"), an array pattern
("factor", "border", ...), a form problem ("shape:dx", "exception") or the
wrong output ("output:dgamma"). :func:`hint_for` looks the key up for the
exercise first, then among the general hints. Hints point at the idea, not at
the answer.
"""

from __future__ import annotations

__all__ = ["hint_for", "HINTS", "GENERAL"]

_TAPS = ("output (i, j) reads x_pad[n, c, i*s + u*d, j*s + v*d] * w[f, c, u, v] for every "
         "tap (u, v)")
_GROUPS = ("output channel f belongs to group g = f // (C_out // groups) and reads only the "
           "input channels g*C_g ... (g+1)*C_g - 1, where C_g = C_in // groups")

HINTS = {
    "conv_output_size": {
        "dilation ignored": "The k taps sit d pixels apart: they span k_eff = d*(k-1)+1 pixels.",
        "span d*k": "Count the pixels from the first tap to the last: d*(k-1)+1.",
        "only:dilation > 1": "Use the effective kernel d*(k-1)+1 in place of k.",
        "only:stride > 1": "Divide by the stride and round down (//), then add 1.",
        "only:padding > 0": "Padding adds p pixels on BOTH sides: H + 2p.",
        "only:(h, w) pairs": "Any argument may be an (h, w) pair: compute each axis with its "
                             "own values (minideeplab.geometry.pair turns an int into a pair).",
        "default": "H_out = (H + 2p - k_eff) // s + 1 per axis, with k_eff = d*(k-1)+1.",
    },
    "conv2d_forward": {
        "kernel flipped": "Deep learning's 'convolution' is a correlation: do not flip w.",
        "only:a kernel larger than 1x1": f"The channel sum works; now the taps: {_TAPS}.",
        "only:padding > 0": "Pad x with p zeros on each side first (np.pad); padding may be an "
                            "(h, w) pair.",
        "only:stride > 1": "Output (i, j) starts at row i*s, column j*s of the padded input.",
        "only:dilation > 1": "Tap u sits u*d pixels after the window's start: d-1 holes "
                             "BETWEEN taps, none before the first one.",
        "only:groups > 1": f"Grouped convolution: {_GROUPS}.",
        "only:groups > 1 and several output channels per group": f"Which group does output "
                                                                  f"channel f belong to? "
                                                                  f"{_GROUPS}.",
        "only:a bias": "Add b[f] to every pixel of output channel f (b[None, :, None, None]).",
        "only:batch > 1": "Every image is convolved on its own: keep the batch axis n.",
        "only:a non-square kernel or input": "Keep height and width apart: kH and kW, and "
                                             "(h, w) pairs for stride, padding and dilation.",
        "shifted": f"The windows are shifted: {_TAPS}; the first tap has no offset.",
        "border": "Only the border is wrong: check the zero padding (p on each side).",
        "cache:cache": "Return Conv2dCache(x, w, b is not None, stride, padding, dilation, "
                       "groups, out.shape), stride/padding/dilation as (h, w) pairs.",
        "shape:out": "out is (N, C_out, H_out, W_out), H_out = (H + 2p - d*(kH-1) - 1)//s + 1.",
        "default": f"Write the sum out for one output element: {_TAPS}.",
    },
    "conv2d_backward": {
        "kernel not flipped": "Scatter with the forward's own indices: dout[n, f, i, j] * "
                              "w[f, c, u, v] goes back to dx_pad[n, c, i*s + u*d, j*s + v*d]. "
                              "Written as a correlation of dout instead, the kernel is flipped.",
        "kernel channels not swapped": "dx[c] collects dout[f] * w[f, c] summed over the "
                                       "OUTPUT channels f.",
        "only:a kernel larger than 1x1": "dX through a kxk kernel: every tap (u, v) "
                                              "sends dout back to the pixel it read.",
        "only:dilation > 1": "The dilation acts on dX as on dW: tap (u, v) of output (i, j) "
                             "read x_pad[i*s + u*d, j*s + v*d], its gradient goes back there.",
        "only:stride > 1": "Output (i, j) read pixels from (i*s, j*s) on: the stride belongs "
                           "in dX's indices too (or zero-insert s-1 pixels between dout's).",
        "only:padding > 0": "Accumulate into a padded dX (x_padded's shape), then crop p "
                            "rows/columns on each side.",
        "only:a bias": "db[f] sums dout[:, f] over n, i and j; None without a bias "
                       "(cache.has_bias).",
        "only:batch > 1": "dW and db SUM every image's contribution (the loss already "
                          "averages); only dX keeps one gradient per image.",
        "only:groups > 1": f"Send output channel f's gradient only to its group: {_GROUPS}.",
        "only:groups > 1 and several output channels per group": f"Which group does output "
                                                                  f"channel f belong to? "
                                                                  f"{_GROUPS}.",
        "transposed": "dW[f, c, u, v] pairs output channel f with input channel c: put f first "
                      "in your einsum/matmul result, as in w.",
        "factor": "A constant factor: a mean where a sum belongs (dW, db sum over n, i, j).",
        "output:db": "db = dout summed over n, i and j (every axis but the channel).",
        "output:dw": "dW[f, c, u, v] = sum over n, i, j of dout[n, f, i, j] * "
                     "x_pad[n, g*C_g + c, i*s + u*d, j*s + v*d] (cache.x_padded; g is output "
                     "channel f's group, C_g = C_in // groups: without groups, x_pad[n, c, ...]).",
        "default": "Write the forward sum for one output and ask where each term came from.",
    },
    "batch_norm2d_forward": {
        "running statistics in training": "In training mode normalise with THIS batch's mean "
                                          "and variance over (N, H, W); the running statistics "
                                          "are only updated.",
        "unbiased variance to normalise": "Normalise with the biased variance (divide by M = "
                                          "N*H*W): x.var(axis=(0, 2, 3)).",
        "biased running variance": "running_var moves towards the UNBIASED variance "
                                   "var * M / (M - 1).",
        "only:training mode": "Training: batch mean and biased variance; then, in place, "
                              "running = (1 - momentum) * running + momentum * batch value.",
        "only:eval mode": "Eval: normalise with running_mean and running_var, leave them alone.",
        "only:momentum other than 0.1": "Use the momentum argument.",
        "only:values far from zero": "Compute the variance as the mean of (x - mean)^2, not "
                                     "E[x^2] - E[x]^2 (that cancels catastrophically).",
        "output:running_mean": "Update running_mean IN PLACE (running_mean *= 1 - momentum; "
                               "running_mean += momentum * mean): the caller's array must change.",
        "output:running_var": "Update running_var in place, with the unbiased variance.",
        "cache:cache": "Return BatchNorm2dCache(x, mean, inv_std, gamma, training), mean and "
                       "inv_std = 1 / sqrt(var + eps) of shape (C,).",
        "default": "x_hat = (x - mean) / sqrt(var + eps) per channel; out = gamma * x_hat + beta.",
    },
    "batch_norm2d_backward": {
        "eval formula in training": "In training the batch mean and variance depend on x: "
                                    "dx = gamma/sigma * (dout - mean(dout) - x_hat * "
                                    "mean(dout * x_hat)), means over (N, H, W).",
        "only:training mode": "Training adds the mean and variance paths: subtract mean(dout) "
                              "and x_hat * mean(dout * x_hat) (means per channel).",
        "only:eval mode": "In eval the statistics are constants: dx = gamma * inv_std * dout.",
        "output:dgamma": "dgamma = sum over (N, H, W) of dout * x_hat.",
        "output:dbeta": "dbeta = sum over (N, H, W) of dout.",
        "default": "Start from dL/dx_hat = gamma * dout and follow x_hat = (x - mu) / sigma.",
    },
    "relu_backward": {
        "relu of dout": "Mask by where the INPUT was positive (cache.positive), whatever "
                        "dout's sign.",
        "x >= 0": "At x == 0 the gradient is 0: cache.positive is x > 0.",
        "default": "dx = dout where x > 0, else 0.",
    },
    "global_avg_pool2d_backward": {
        "factor": "Each of the H*W pixels contributes 1/(H*W) to the mean: dx = dout / (H*W).",
        "only:H*W > 1": "Spread dout evenly: every pixel gets dout / (H*W).",
        "shape:dx": "dx has the input's shape cache.x_shape: broadcast dout over H and W.",
        "default": "dx[n, c, h, w] = dout[n, c, 0, 0] / (H*W).",
    },
    "bilinear_resize_forward": {
        "align_corners swapped": "False: src = (i + 0.5) * L_in / L_out - 0.5 (clamped at "
                                 "0); True: src = i * (L_in - 1) / (L_out - 1).",
        "only:align_corners=True": "align_corners=True: src = i * (L_in - 1) / (L_out - 1), "
                                   "and 0 when L_out == 1.",
        "only:align_corners=False": "align_corners=False: half-pixel centres, src = (i + 0.5) * "
                                    "L_in / L_out - 0.5, clamped below at 0.",
        "only:downsampling": "Clamp the second tap: i1 = min(i0 + 1, L_in - 1).",
        "border": "Only the border: clamp src at 0 and the second tap at L_in - 1.",
        "cache:cache": "Return BilinearCache(x.shape, rows, cols, out.shape, x.dtype), rows and "
                       "cols as (index0, index1, weight0, weight1) per axis.",
        "default": "out = sum of the 4 neighbours weighted by (1 - lam) or lam per axis.",
    },
    "bilinear_resize_backward": {
        "align_corners swapped": "Use the forward's taps (cache.rows, cache.cols): they hold "
                                 "the right rule already.",
        "only:align_corners=True": "Use the forward's taps (cache.rows, cache.cols), do not "
                                   "recompute them.",
        "repeated indices added once": "Several outputs read the same input pixel: ADD "
                                       "every gradient with np.add.at; a[idx] += v adds once "
                                       "per repeated index.",
        "only:upsampling": "Several outputs read the same input pixel: ADD their gradients "
                           "(np.add.at); a[idx] += v adds only once per repeated index.",
        "only:downsampling": "Repeated indices must accumulate: np.add.at, not a[idx] += v.",
        "default": "Scatter each output's gradient to its 4 source pixels with the forward's "
                   "weights: dx = A_h^T dout A_w.",
    },
    "softmax_cross_entropy_backward": {
        "factor": "The loss averages over the pixels that count: divide by cache.total_weight, "
                  "not by all N*H*W pixels.",
        "only:some pixels ignored": "Ignored pixels neither get a gradient nor count in the mean "
                               "(cache.pixel_weight, cache.total_weight).",
        "only:dloss != 1": "Multiply by dloss, the upstream factor of the chain rule.",
        "only:class weights": "Scale pixel by cache.pixel_weight; divide by cache.total_weight.",
        "only:every pixel ignored": "When cache.total_weight == 0 return zeros, not 0/0.",
        "nan": "0/0 when every pixel is ignored: return zeros then.",
        "default": "dlogits = dloss * pixel_weight / total_weight * (probs - one_hot(target)).",
    },
    "concat_backward": {
        "only:3 or more inputs": "Cut where each input ends: the running sum of the sizes "
                                 "(np.cumsum(cache.sizes)[:-1]).",
        "only:inputs of different sizes": "Each piece has its input's size (cache.sizes).",
        "only:an axis other than 1": "Cut along cache.axis.",
        "form": "Return a list: one array per input, in input order.",
        "default": "Each input's gradient is its own slice of dout along cache.axis.",
    },
    "aspp_backward": {
        "only one branch": "x fed EVERY branch: dx is the SUM of all the branches' gradients; "
                           "an assignment in the loop keeps only the last one.",
        "only:several branches": "x fed EVERY branch: add the branches' gradients "
                                 "(dx = dx + branch_backward(grad)).",
        "exception": "Call cache.project_backward(dout) once, split with "
                     "F.concat_backward(grad, cache.concat), call each branch's backward once.",
        "factor": "Sum the branches' gradients; do not average them.",
        "default": "Project back, split the concatenation, call every branch's backward and "
                   "SUM what they return.",
    },
    "separable_conv_parameters": {
        "standard count": "Depthwise: one kH x kW filter per input channel; pointwise: a 1x1 "
                          "conv from C_in to C_out channels.",
        "full depthwise": "With groups = C_in each depthwise filter sees ONE channel: "
                          "C_in * kH * kW weights.",
        "only:a non-square kernel": "kernel_size may be an (h, w) pair: kH * kW taps.",
        "default": "Count C_in * kH * kW (depthwise) plus C_in * C_out (pointwise).",
    },
    "conv_step": {
        "jump forgotten": "One step on this layer's input is jump input pixels: r_l = "
                          "r_{l-1} + (k_eff - 1) * j_{l-1}.",
        "only:an incoming jump other than 1": "Multiply by the incoming jump j_{l-1}: in "
                                              "size, padding and start.",
        "dilation forgotten": "Use k_eff = d*(k-1)+1 in place of k.",
        "start without jump": "start_l = start_{l-1} + ((k_eff - 1)/2 - p) * j_{l-1}.",
        "output:jump": "j_l = j_{l-1} * s.",
        "output:padding": "P_l = P_{l-1} + p * j_{l-1}.",
        "output:start": "start_l = start_{l-1} + ((k_eff - 1)/2 - p) * j_{l-1} (a Fraction).",
        "output:size": "r_l = r_{l-1} + (k_eff - 1) * j_{l-1}.",
        "default": "Follow the four lines of the recurrence in show('conv_step').",
    },
}

GENERAL = {
    "all": "Even the simplest case fails: work it out by hand for the geometry above and "
           "compare with your result, number by number.",
    "only": "Compare this case with the passing ones: what differs is {feature}.",
    "exception": "Read the exception and the line it names: the geometry above is the "
                 "smallest input that triggers it.",
    "form": "Return exactly what the task says (show() prints the signature and shapes).",
    "shape": "Compare your output's shape with the one in the task (show() lists them).",
    "dtype": "Keep the input's dtype: np.zeros(shape, dtype=x.dtype); training runs in "
             "float32.",
    "cache": "Return the library's cache (show() lists its fields).",
    "nan": "NaN comes from 0/0, log(0) or exp overflowing: find where it first appears.",
    "zero": "Everything is zero: is the result accumulated into the array you return?",
    "factor": "A constant factor: a missing or extra normalisation (1/N, 1/(H*W)) or upstream "
              "factor.",
    "sign": "The sign is flipped: d(a - b)/db = -1, not +1.",
    "flipped": "Upside down and mirrored: an index runs backwards (k-1-u in place of u).",
    "transposed": "Two channel axes are swapped: check the order of the axes you produce.",
    "shifted": "Shifted: an index is off by one, or the padding is applied on one side only.",
    "border": "Only pixels near the border are wrong: look at padding, clamping, the last tap.",
    "gradcheck": "Your values match the reference: report this case, it is the checker's bug.",
}


def hint_for(exercise: str, key: str) -> str:
    """The hint for a finding's ``key`` in ``exercise`` ('' when there is none)."""
    own = HINTS.get(exercise, {})
    if key in own:
        return own[key]
    kind, _, detail = key.partition(":")
    if kind in own and kind != "default":
        return own[kind]
    if kind == "only":
        return GENERAL["only"].format(feature=detail)
    if kind == "output":
        return ""
    return GENERAL.get(kind, own.get("default", "") if key == "default" else "")
