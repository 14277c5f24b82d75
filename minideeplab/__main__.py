"""``python -m minideeplab`` is the ``minideeplab`` command."""

import sys

from .cli import main

sys.exit(main())
