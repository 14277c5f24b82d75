"""minideeplab: DeepLabV3+ from scratch in NumPy, forward and backward, with Numba kernels.

    import minideeplab as mdl
    from minideeplab import functional as F, nn

The house, lowest floor first. Data flows down: a module imports only from the
floors above it in this list, never from a floor below.

    errors, geometry, images, fileio,  what everyone needs: bad-input errors, sizes and layer
      allocator                        specs, image layout, files written atomically, freed
                                       memory kept for the next training step
    backend                            the numba/numpy switch, nothing else
    functional/                        forward/backward pairs in readable NumPy (the reference)
    kernels/                           Numba twins of the hot loops; all threading in _threads.py
    implementation                     use_implementation: the layers call a learner's functions
    nn/                                Module, Parameter, layers and blocks on functional/
    models/                            backbone and DeepLabV3Plus (describe their layers as specs)
    optim, metrics, checkpoint,        optimizers, IoU and friends, saving and loading models,
      run_folder, run_status           a run folder's guards (resume, overwrite, Ctrl-C);
                                       the progress bar and the one-time compile notice
    datasets/                          shapes, digits, your own folders, augmentation, cache
    train                              the training loop (returns results, draws nothing)
    receptive_field/                   theoretical and effective fields, gridding, taps on padding
    gradcheck, summary, timing         checking gradients; parameters and mult-adds per layer;
                                       timing code back to back, as training runs it
    ablation                           the paper's ablation: variants trained on one budget
    evaluation/                        whole images at test-time settings (OS, scales, flip,
                                       tiles), the evaluation report, the trimap curve
    exercises/                         learn by building: tasks, the checker, the bug zoo
    viz/                               every figure (fields, segmentation, curves), one style
    interop/                           the PyTorch twin (torch imported only there, on demand)
    cli/, __main__                     the command line: draws after training, catches input errors

The test tests/test_layering.py checks this order. The functional ops reach
their Numba twins in kernels/ through one dispatch helper
(functional/_dispatch.py), by name, only when the numba backend is active.

``import minideeplab`` loads neither Numba, nor matplotlib, nor PyTorch.
"""

from . import datasets, functional, geometry, metrics, models, nn, optim, receptive_field
from . import summary as summary_module  # noqa: F401  (the module; `summary` is the function)
from .backend import get_backend, set_backend, use_backend
from .checkpoint import load_model, save_checkpoint
from .gradcheck import gradcheck, rel_error
from .implementation import use_implementation
from .summary import count_parameters, summary

__version__ = "0.1.0"


def __getattr__(name):
    # mdl.exercises loads on first use: it is for learners, and `import minideeplab` stays
    # as fast as it was without it
    if name == "exercises":
        import importlib

        return importlib.import_module(f"{__name__}.exercises")
    raise AttributeError(f"module 'minideeplab' has no attribute {name!r}")

__all__ = [
    "datasets", "functional", "geometry", "metrics", "models", "nn", "optim", "receptive_field",
    "load_model", "save_checkpoint",
    "get_backend", "set_backend", "use_backend",
    "gradcheck", "rel_error", "count_parameters", "summary",
    "exercises", "use_implementation",
]
