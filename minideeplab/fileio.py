"""Writing files so that nothing is ever half-written.

A program that dies in the middle of ``np.savez(path, ...)`` (a crash, Ctrl-C, a full disk)
leaves a truncated file at ``path``, and the next run reads garbage or fails. The cure is the
classic three steps, done here once for the whole project (checkpoints, ``metrics.json`` and
the dataset cache all write through :func:`atomic_write`):

1. write everything to a temporary file *in the same folder* as the target;
2. flush it and ``fsync`` it, so the bytes are on the disk, not only in a buffer;
3. ``os.replace`` it over the target, which is atomic on one file system: a reader (or a
   second process) sees the old file or the new one, never a mixture.

If anything fails on the way, the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]

# mkstemp makes the temporary file private (0600); the finished file gets the permissions a
# plain open() usually gives: readable by everyone, writable by its owner.
_FILE_MODE = 0o644


def atomic_write(path, write) -> None:
    """Call ``write(file_object)`` on a temporary file, then rename it to ``path``.

    Args:
        path: the target file (str or Path); its folder is created if needed.
        write: a function of one binary file object that writes the whole content, e.g.
            ``lambda f: np.savez(f, **arrays)`` or ``lambda f: f.write(text.encode())``.

    Raises whatever ``write`` or the file system raises (an ``OSError`` for a folder that
    cannot be written); the target is then left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A hidden name (leading dot) in the same folder: os.replace cannot cross file systems.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
