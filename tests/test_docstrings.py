"""The examples in docstrings are run, so they cannot go stale.

Every module of the package whose source holds a ``>>>`` example is found
(not listed by hand) and run with doctest.
"""

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import minideeplab

# modules that need an optional package, and that package
OPTIONAL = {"minideeplab.interop.torch": "torch", "minideeplab.kernels": "numba"}


def modules_with_examples():
    names = []
    for info in pkgutil.walk_packages(minideeplab.__path__, prefix="minideeplab."):
        spec = importlib.util.find_spec(info.name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        if ">>>" in Path(spec.origin).read_text(encoding="utf-8"):
            names.append(info.name)
    return sorted(names)


MODULES = modules_with_examples()


def test_the_search_finds_the_modules_we_know_have_examples():
    for name in ("minideeplab.geometry", "minideeplab.gradcheck", "minideeplab.backend",
                 "minideeplab.models.deeplab"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    for prefix, package in OPTIONAL.items():
        if name.startswith(prefix) and importlib.util.find_spec(package) is None:
            pytest.skip(f"{name} needs {package}, which is not installed")
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
