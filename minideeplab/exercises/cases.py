"""What one rung of a ladder is: a Case (its parameters) and the Trial it builds to run.

A ladder is a list of :class:`Case` from the simplest geometry to the hardest.
Each exercise family (``cases_conv``, ``cases_norm``, ``cases_graph``,
``cases_arith``) turns a case's parameters into a :class:`Trial`: a factory for
fresh arguments, the library's reference function, how to name the outputs a
function returns, and (for backward passes) a gradient check. The checker
(:mod:`.check`) runs the same Trial with the reference and with the learner's
function and compares what comes out, output by output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..gradcheck import check_op

__all__ = ["Case", "Trial", "Suspect", "OutputProblem", "Unusable", "random_array", "named_outputs",
           "op_gradcheck", "cache_outputs"]


@dataclass(frozen=True)
class Case:
    """One rung of a ladder: a label a learner reads and the parameters the family builds from."""

    label: str
    params: dict


@dataclass
class Suspect:
    """A classic mistake, computed: if an output equals ``values[name]``, ``text`` says why."""

    key: str            # looked up in the hints, e.g. "kernel not flipped"
    text: str           # the pattern line shown to the learner
    values: dict        # output name -> what the mistaken function would return


@dataclass
class Trial:
    """Everything needed to run one case with any implementation of the exercise.

    ``make_args()`` returns fresh ``(args, kwargs)`` for one call (a function
    that modifies its inputs cannot disturb the next call); ``unpack(result,
    args)`` turns what a function returned into named outputs and raises
    :class:`OutputProblem` for a result of the wrong form; ``gradcheck(fn)``
    (backward passes only) returns the relative error of ``fn`` against finite
    differences of the reference forward pass.
    """

    make_args: Callable[[], tuple]
    reference: Callable
    unpack: Callable
    geometry: str
    gradcheck: Callable | None = None
    suspects: Callable | None = None         # (args) -> list[Suspect]
    context: dict = field(default_factory=dict)   # named numbers for "off by a factor of ..."
    float32: bool = False                    # the dtype rung: loose tolerance, no gradcheck


class OutputProblem(Exception):
    """A function returned something of the wrong form (not the wrong numbers)."""


@dataclass
class Unusable:
    """An output that could not even be compared, with the reason (e.g. an unusable cache)."""

    text: str


def random_array(rng, shape, dtype=np.float64, scale=1.0):
    """Standard-normal values of ``shape`` (times ``scale``) in ``dtype``."""
    return (scale * rng.standard_normal(shape)).astype(dtype)


def named_outputs(result, names, what):
    """A returned tuple as ``{name: value}``; ``what`` names the function in the problem text."""
    if len(names) == 1:
        return {names[0]: result}
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = type(result).__name__ if not isinstance(result, (tuple, list)) \
            else f"{len(result)} values"
        raise OutputProblem(f"{what} must return {len(names)} values ({', '.join(names)}), "
                            f"got {got}")
    return dict(zip(names, result, strict=True))


def cache_outputs(cache, make_dout, library_backward, grad_names, cache_class):
    """The gradients the library's backward computes from a forward's ``cache``.

    A learner's forward is a drop-in only if the library's backward can use its
    cache; comparing these gradients with the ones from the reference cache
    checks exactly that. Outputs are named ``"cache -> dx"`` etc.; a cache the
    library's backward cannot use at all gives ``{"cache": Unusable(reason)}``.
    """
    try:
        grads = library_backward(make_dout(), cache)
    except Exception as error:  # noqa: BLE001  (any failure means: not the library's cache)
        return {"cache": Unusable(
            f"the library's backward could not use the cache your forward returned "
            f"({type(error).__name__}: {error}); return a {cache_class.__name__} "
            f"(show() lists its fields)")}
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    return {f"cache -> {name}": grad for name, grad in zip(grad_names, grads, strict=True)}


def op_gradcheck(forward, inputs, wrt, kwargs=None, seed=0):
    """A function ``fn -> max relative error`` checking a backward ``fn`` against ``forward``.

    Uses :func:`minideeplab.gradcheck.check_op`: a random upstream gradient, central
    differences on every element of the inputs in ``wrt``.
    """
    def run(fn):
        errors = check_op(forward, fn, [np.array(a, copy=True) if isinstance(a, np.ndarray)
                                        else a for a in inputs],
                          wrt=wrt, kwargs=kwargs, seed=seed)
        return max(errors.values())
    return run
