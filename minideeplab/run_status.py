"""What a training run tells its user while it runs: the progress bar and the compile notice.

The first step of a fresh install compiles the Numba kernels; :func:`kernel_cache_is_cold`
tells whether that is about to happen, so the loop can say so once instead of sitting at 0
for many seconds. :func:`progress_bar` draws the bar, also on terminals that report no size.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["COMPILE_MESSAGE", "kernel_cache_is_cold", "progress_bar"]

#: What the first step costs when the Numba kernels are not cached yet (measured on 2 cores).
COMPILE_MESSAGE = ("compiling the kernels, once, about 5 s on 2 cores "
                   "(they are cached for later runs)")


def kernel_cache_is_cold() -> bool:
    """True when no Numba kernel has an up-to-date compiled copy on disk yet.

    That is a fresh install (or a new ``NUMBA_CACHE_DIR``, or edited kernels): the first
    training step then compiles the kernels, and later runs load them from the cache. A
    kernel is cached when its cache index file (numba's ``<function>-<line>.py<version>.nbi``,
    wherever numba keeps it: next to the code, in ``NUMBA_CACHE_DIR`` or a user cache folder)
    exists and is newer than its source file. Only "none cached" counts as cold: a helper
    that is always inlined into its callers never gets a cache file of its own, and a kernel
    that training does not use stays uncompiled, so "some missing" is the normal warm state.
    False when it cannot tell (numba's dispatcher attributes read here are not a public API;
    a test checks both answers).
    """
    import importlib
    import pkgutil

    from . import kernels

    try:
        from numba.core.registry import CPUDispatcher

        for module_info in pkgutil.iter_modules(kernels.__path__):
            module = importlib.import_module(f"{kernels.__name__}.{module_info.name}")
            for kernel in vars(module).values():
                cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
                if not isinstance(kernel, CPUDispatcher) or cache_file is None:
                    continue                # not a kernel, or one compiled without cache=True
                index = Path(cache_file._index_path)
                source = Path(kernel.py_func.__code__.co_filename)
                if index.exists() and index.stat().st_mtime >= source.stat().st_mtime:
                    return False            # at least one compiled kernel is on disk
    except (ImportError, AttributeError, OSError):
        return False
    return True


def progress_bar(enabled, initial, total):
    """A tqdm bar of the training steps, at ``initial`` of ``total`` (None when not ``enabled``).

    The loop calls ``update(1)`` after each step; the bar's rate and remaining time count
    from its creation.
    """
    if not enabled:
        return None
    from tqdm.auto import tqdm

    size = dict(dynamic_ncols=True)
    try:
        terminal = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        terminal = None                    # not a terminal (a file, a pipe, a notebook)
    if terminal is not None and (terminal.columns < 20 or terminal.lines < 1):
        # some terminals (containers, CI runners) report 0 x 0; tqdm would then draw a
        # bar 0 wide on 0 rows, that is, nothing at all
        size = dict(ncols=80, nrows=24)
    return tqdm(initial=initial, total=total, desc="train", unit="step", mininterval=1.0,
                **size)
