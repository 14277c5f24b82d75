"""Pure forward/backward pairs in readable NumPy: the reference semantics.

Every op is a pair ``out, cache = <op>_forward(...)`` and
``grads = <op>_backward(dout, cache)``.
"""

from .activation import relu_backward, relu_forward
from .batchnorm import batch_norm2d_backward, batch_norm2d_forward
from .concat import concat_backward, concat_forward
from .conv import conv2d_backward, conv2d_forward
from .dropout import dropout_backward, dropout_forward
from .fanout import ASPPCache, aspp_backward
from .loss import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .pooling import global_avg_pool2d_backward, global_avg_pool2d_forward
from .resize import bilinear_resize_backward, bilinear_resize_forward

__all__ = [
    "conv2d_forward", "conv2d_backward",
    "batch_norm2d_forward", "batch_norm2d_backward",
    "relu_forward", "relu_backward",
    "dropout_forward", "dropout_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
    "bilinear_resize_forward", "bilinear_resize_backward",
    "concat_forward", "concat_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "aspp_backward", "ASPPCache",
]
