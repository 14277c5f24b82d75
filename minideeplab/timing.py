"""Timing code the way training runs it: back to back, interleaved between contenders.

A training loop calls its kernels back to back, so that is how we time them:

1. **a warm-up**: each contender is called ``warmup`` times untimed (compiles
   Numba kernels, fills caches, wakes thread pools);
2. **blocks of repeated calls of one contender**, ``calls`` timed calls in a
   row, each call timed on its own;
3. the blocks are **interleaved between contenders** (A's block, B's block,
   C's block, A's block, ...), so that a burst of load from other programs
   slows every contender alike and their ratios stay meaningful;
4. a contender's time is **the fastest block's median**: the median ignores
   the odd slow call inside a block, and the fastest block is the one least
   disturbed by the rest of the machine.

The **cold** regime (``cold=True``, labelled as such in every result) sleeps
``settle`` seconds before each timed call, so that every thread pool has gone
idle first. It measures how fast a pool wakes up as much as how fast the code
computes, and training never makes such a call: it is there for comparison.

    >>> import math
    >>> result = time_interleaved({"sum": lambda: sum(range(100)),
    ...                            "fsum": lambda: math.fsum(range(100))}, blocks=2, calls=3)
    >>> sorted(result), result["sum"].regime, len(result["sum"].samples)
    (['fsum', 'sum'], 'back to back', 2)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import InputError, InputTypeError

__all__ = ["Timing", "time_interleaved", "BACK_TO_BACK", "COLD"]

BACK_TO_BACK = "back to back"
COLD = "cold"


@dataclass
class Timing:
    """What :func:`time_interleaved` measured for one contender.

    ``seconds`` is the fastest block's median (the figure to quote);
    ``samples[b][k]`` the seconds of call ``k`` of block ``b``; ``regime`` is
    ``"back to back"`` or ``"cold"``.
    """

    seconds: float
    samples: list = field(default_factory=list)
    regime: str = BACK_TO_BACK

    @property
    def block_medians(self) -> list:
        """The median of every block, in the order the blocks ran."""
        return [statistics.median(block) for block in self.samples]


def _positive_int(value, name):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{name} must be a positive int, got {value!r}")
    return value


def time_interleaved(contenders: Mapping[str, Callable[[], object]], *, blocks: int = 5,
                     calls: int | Mapping[str, int] = 10, warmup: int = 1, cold: bool = False,
                     settle: float = 0.2, between_blocks: float = 0.0, rewarm: float = 0.1,
                     clock: Callable[[], float] = time.perf_counter,
                     sleep: Callable[[float], None] = time.sleep) -> dict:
    """Time every contender in interleaved blocks; returns ``{name: Timing}``.

    ``contenders`` maps a name to a function of no arguments (its result is
    ignored). ``calls`` is the number of timed calls per block, for everyone or
    per name (a slow reference can take fewer: ``{"numpy": 2, "numba": 10}``,
    names left out get 10). ``warmup`` untimed calls per contender come first.
    ``cold=True`` sleeps ``settle`` seconds before every timed call (the cold
    regime, see the module docstring). ``between_blocks`` seconds of pause before
    each block, then untimed calls for ``rewarm`` seconds (at least one): the
    threads another library keeps spinning after its own block (OpenBLAS's and
    OpenMP's spin for a while before they sleep) stop taking a core from the next
    contender, and the contender is back in its back-to-back state before its
    timed calls. One untimed call is not enough for that: after a 0.2 s pause,
    the Numba S2 convolution's blocks measured 4.2-5.0 ms after one untimed call
    and 2.5-2.6 ms after 50 ms of them (a sleeping thread of the pool wakes slowly
    for some tens of milliseconds after a long idle; PyTorch's threads spin between
    calls and did not slow). ``clock`` and ``sleep`` are there for tests.
    """
    if not isinstance(contenders, Mapping) or not contenders:
        raise InputError("contenders must be a non-empty mapping of name -> function")
    for name, function in contenders.items():
        if not callable(function):
            raise InputTypeError(f"contender {name!r} must be a function of no arguments, "
                                 f"got {type(function).__name__}")
    _positive_int(blocks, "blocks")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise InputError(f"warmup must be an int >= 0, got {warmup!r}")
    if isinstance(calls, Mapping):
        calls_of = {name: _positive_int(calls.get(name, 10), f"calls[{name!r}]")
                    for name in contenders}
    else:
        calls_of = dict.fromkeys(contenders, _positive_int(calls, "calls"))
    if cold and not settle > 0:
        raise InputError(f"settle must be > 0 seconds in the cold regime, got {settle!r}")
    if not between_blocks >= 0:
        raise InputError(f"between_blocks must be >= 0 seconds, got {between_blocks!r}")
    if not rewarm >= 0:
        raise InputError(f"rewarm must be >= 0 seconds, got {rewarm!r}")

    for function in contenders.values():
        for _ in range(warmup):
            function()
    samples = {name: [] for name in contenders}
    for _ in range(blocks):
        for name, function in contenders.items():
            if between_blocks > 0:
                sleep(between_blocks)
                started = clock()
                function()                       # untimed: wakes this contender's threads
                while clock() - started < rewarm:
                    function()
            block = []
            for _ in range(calls_of[name]):
                if cold:
                    sleep(settle)
                start = clock()
                function()
                block.append(clock() - start)
            samples[name].append(block)
    regime = COLD if cold else BACK_TO_BACK
    return {name: Timing(min(statistics.median(block) for block in runs), runs, regime)
            for name, runs in samples.items()}
