"""Bridges to other frameworks, imported on demand only.

``minideeplab.interop.torch`` builds the PyTorch twin of a minideeplab model
(same layers, same state-dict keys, same numbers) and copies weights both ways:

    from minideeplab.interop.torch import to_torch, from_torch

Nothing here is imported by ``import minideeplab``, and PyTorch is never a
dependency: the submodule raises a clear ``ImportError`` when it is missing.
"""

__all__: list[str] = []   # the submodules are imported by name, never by `*`
