"""Shared test set-up: a non-interactive matplotlib and a fixed backend per test."""

import os

import matplotlib
import pytest

matplotlib.use("Agg")

import minideeplab as mdl  # noqa: E402

BACKENDS = ["numpy", "numba"] if mdl.backend.numba_available() else ["numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run a test once per available backend."""
    with mdl.use_backend(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _restore_backend():
    previous = mdl.get_backend()
    yield
    mdl.set_backend(previous)


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")


def randomize_batchnorm(module, seed=0):
    """Give every BatchNorm random gamma, beta and running statistics.

    At initialisation (gamma = 1, beta = 0) a BatchNorm followed by ReLU and a
    linear layer feeding another *training-mode* BatchNorm is scale invariant:
    the loss does not depend on gamma at all, its gradient is ~0, and a relative
    error of two numbers that are both ~0 is noise. Random values break the
    invariance so the gradient check measures something.
    """
    import numpy as np

    from minideeplab.nn import BatchNorm2d

    rng = np.random.default_rng(seed)
    for bn in (m for m in module.modules() if isinstance(m, BatchNorm2d)):
        c = bn.weight.data.shape[0]
        bn.weight.data[...] = rng.uniform(0.5, 1.5, c)
        bn.bias.data[...] = rng.normal(0.0, 0.5, c)
        bn.running_mean[...] = rng.normal(0.0, 0.2, c)
        bn.running_var[...] = rng.uniform(0.5, 2.0, c)
    return module
