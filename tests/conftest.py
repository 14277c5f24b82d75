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
