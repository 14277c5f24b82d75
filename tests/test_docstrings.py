"""The examples in docstrings are run, so they cannot go stale."""

import doctest
import importlib

import pytest

MODULES = ["minideeplab.geometry", "minideeplab.models.backbone", "minideeplab.models.deeplab",
           "minideeplab.summary", "minideeplab.gradcheck", "minideeplab.checkpoint"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
