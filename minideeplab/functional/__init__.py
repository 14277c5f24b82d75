"""Pure forward/backward pairs in readable NumPy: the reference semantics.

Every op is a pair ``out, cache = <op>_forward(...)`` and
``grads = <op>_backward(dout, cache)``.
"""

from .conv import conv2d_backward, conv2d_forward

__all__ = ["conv2d_forward", "conv2d_backward"]
