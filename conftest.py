"""Repository-level pytest set-up (applies to tests/ and notebooks/).

Notebooks run in their fast mode under pytest (``MINIDEEPLAB_FAST=1``, read in
each notebook's parameters cell), unless the environment already says otherwise.
"""

import os

os.environ.setdefault("MINIDEEPLAB_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
