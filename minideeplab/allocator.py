"""Keep freed memory for the next training step instead of handing it back to the system.

A training step allocates its activations on the way forward, keeps them
until the backward pass, then frees them all; the next step allocates the
same sizes again. With its default settings, the C library's allocator on
Linux (glibc) gives a large freed block back to the operating system at once
(``munmap``, or trimming the top of the heap), so the next step gets fresh
pages, and the kernel must map and zero every 4 KiB page the first time it is
written: a *page fault* each. Measured here on the default model at batch 16,
64x64: 1,760 page faults per training step (NumPy backend: 7,540), against 1
(25) with this setting; a ReLU forward pass whose outputs are kept, as a
training step keeps them, ran 15x slower on fresh pages (1.8 ms against
0.12 ms). On an idle machine the Numba step's time stayed within the noise and
the NumPy step took 82 ms instead of 99; on a loaded machine the Numba step
took 34 ms instead of 43.

:func:`reuse_freed_memory` asks glibc (``mallopt``) to serve blocks of up to
32 MiB from its heap and not to trim the heap, so a step reuses the pages of
the step before. The peak memory is about the same (the same blocks are alive
at the peak); what changes is that freed memory is kept until the block ends,
when it is handed back (``malloc_trim``).
PyTorch's CPU performance guide reaches the same end by loading another
allocator (jemalloc or tcmalloc) into the process.

    >>> with reuse_freed_memory():      # what train() wraps around its steps
    ...     pass

Elsewhere than glibc (macOS, Windows, musl) the block runs unchanged. The
setting is process-wide: while it holds, every library in the process
(NumPy, PyTorch) allocates this way.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
import threading

__all__ = ["reuse_freed_memory", "is_supported"]

# mallopt's parameter numbers, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Blocks up to this size come from the heap; 32 MiB is the largest value
# glibc accepts on 64-bit systems (larger blocks are always mapped on their own).
HEAP_BLOCK_LIMIT = 32 * 2**20
# Free memory at the top of the heap is trimmed only above this, the largest
# value mallopt takes (2 GiB): never, in a training run (a step of the default
# model at batch 16, 64x64 holds about 150 MiB).
KEEP_LIMIT = 2**31 - 1
# After the block: trim above 64 MiB, where glibc's own adaptive rule (trim
# above twice the mmap threshold) ends once a block of 32 MiB has been freed.
AFTER_KEEP_LIMIT = 2 * HEAP_BLOCK_LIMIT

_lock = threading.Lock()
_depth = 0


@functools.lru_cache(maxsize=None)
def _glibc():
    """The running C library if it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def is_supported() -> bool:
    """True when :func:`reuse_freed_memory` changes anything here (glibc, Linux)."""
    return _glibc() is not None


@contextlib.contextmanager
def reuse_freed_memory():
    """Within the block, freed blocks of up to 32 MiB stay in the process for reuse.

    Nested blocks are one block: the outermost one sets and ends it. On exit
    the kept memory is handed back to the system, and the heap is trimmed
    again above 64 MiB; blocks of up to 32 MiB keep coming from the heap,
    where glibc's own adaptive rule would also have put them. Does nothing
    where the C library is not glibc.
    """
    global _depth
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(_M_MMAP_THRESHOLD, HEAP_BLOCK_LIMIT)
            libc.mallopt(_M_TRIM_THRESHOLD, KEEP_LIMIT)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_TRIM_THRESHOLD, AFTER_KEEP_LIMIT)
                libc.malloc_trim(0)                     # hand back what was kept
