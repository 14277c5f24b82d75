"""minideeplab: DeepLabV3+ from scratch in NumPy, forward and backward, with Numba kernels.

    import minideeplab as mdl
    from minideeplab import functional as F, nn
"""

from . import datasets, functional, geometry, metrics, models, nn, optim, receptive_field
from . import summary as summary_module  # noqa: F401  (the module; `summary` is the function)
from .backend import get_backend, set_backend, use_backend
from .checkpoint import load_model, save_checkpoint
from .gradcheck import gradcheck, rel_error
from .summary import count_parameters, summary

__version__ = "0.1.0"

__all__ = [
    "datasets", "functional", "geometry", "metrics", "models", "nn", "optim", "receptive_field",
    "load_model", "save_checkpoint",
    "get_backend", "set_backend", "use_backend",
    "gradcheck", "rel_error", "count_parameters", "summary",
]
