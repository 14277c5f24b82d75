"""The backend switch, and the BLAS thread limit of the kernels."""

import os
import subprocess
import sys

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import backend


def test_set_get_and_use_backend():
    mdl.set_backend("numpy")
    assert mdl.get_backend() == "numpy"
    if backend.numba_available():
        with mdl.use_backend("numba"):
            assert mdl.get_backend() == "numba"
        assert mdl.get_backend() == "numpy"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        mdl.set_backend("cuda")


def test_environment_variable_forces_the_reference():
    env = {**os.environ, "MINIDEEPLAB_BACKEND": "numpy"}
    code = "import minideeplab; print(minideeplab.get_backend())"
    out = subprocess.run([sys.executable, "-c", code],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "numpy"


def test_import_does_not_load_numba_or_torch():
    code = "import sys, minideeplab; print('numba' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.skipif(not backend.numba_available(), reason="the thread settings live with the "
                    "Numba kernels (kernels/_threads.py), which need numba")
def test_blas_threads_restores_the_previous_count_and_keeps_results():
    from minideeplab.kernels import _threads

    functions = _threads._openblas_functions()
    a = np.random.default_rng(0).standard_normal((64, 64))
    before = a @ a
    with _threads.blas_threads(1):
        inside = a @ a
        if functions is not None:
            assert functions[0]() == 1
    np.testing.assert_allclose(inside, before, rtol=1e-12)
    if functions is not None:
        previous = functions[0]()
        with _threads.blas_threads(1):
            pass
        assert functions[0]() == previous


def test_backend_is_only_the_switch():
    # the threading machinery lives in kernels/_threads.py, not in the switch
    assert not hasattr(backend, "blas_threads")
    assert set(backend.__all__) == {"BACKENDS", "numba_available", "get_backend", "set_backend",
                                    "use_backend"}
