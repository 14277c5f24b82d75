"""minideeplab: DeepLabV3+ from scratch in NumPy, forward and backward, with Numba kernels.

    import minideeplab as mdl
    from minideeplab import functional as F, nn
"""

from . import functional, geometry, nn
from .backend import get_backend, set_backend, use_backend
from .gradcheck import gradcheck, rel_error
from .summary import count_parameters

__version__ = "0.1.0"

__all__ = [
    "functional", "geometry", "nn",
    "get_backend", "set_backend", "use_backend",
    "gradcheck", "rel_error", "count_parameters",
]
