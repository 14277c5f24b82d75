r"""ASPP's backward pass: project back, split the concatenation, and *sum* the fan-out.

ASPP feeds one feature map ``x`` to every branch and concatenates the branches'
outputs before a 1x1 projection:

.. math:: out = \mathrm{project}\big([\,b_1(x), b_2(x), \dots, b_B(x)\,]\big)

Going backward, three rules follow one another:

1. the projection's backward turns ``dout`` into ``d_stacked``;
2. a concatenation's backward is a split: branch ``i`` gets its own slice of
   channels of ``d_stacked`` (:func:`~minideeplab.functional.concat.concat_backward`);
3. ``x`` *fanned out* to every branch, so by the multivariate chain rule its
   gradient is the **sum** of what every branch sends back:

.. math:: \frac{\partial L}{\partial x} = \sum_{i=1}^{B} b_i^{\prime\,T}\big(d_{stacked}[i]\big)

Overwriting instead of adding (``dx = branch.backward(...)`` in the loop) keeps only
the last branch's gradient: the network still trains, just worse, which is why this
rule is easy to get wrong and worth writing once by hand.

The layers stay with the block (:class:`minideeplab.nn.ASPP`): the cache carries
their ``backward`` methods, so this function only orchestrates. Shapes: ``dout``
(N, C_out, H, W); the returned ``dx`` (N, C_in, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

from .concat import ConcatCache

__all__ = ["aspp_backward", "ASPPCache"]


@dataclass
class ASPPCache:
    """What ASPP's backward pass needs: the layers' backward functions and the concat cache."""

    project_backward: object    # callable: dout (N, C_out, H, W) -> d_stacked (N, B*C_b, H, W)
    concat: ConcatCache         # the cache of concat_forward over the branch outputs
    branch_backwards: list      # callables, one per branch: d_branch (N, C_b, H, W) -> dx_i


def aspp_backward(dout, cache: ASPPCache):
    """``dx`` of ASPP's input given ``dout`` = dL/d(out): project back, split, sum the branches.

    Each callable in the cache consumes its layer's forward cache, so each is
    called exactly once.
    """
    # through the package, not `from .concat import concat_backward`: mdl.use_implementation
    # may have installed a learner's concat_backward, and ASPP must use that one too
    from .. import functional as F

    grad_stacked = cache.project_backward(dout)
    grad_branches = F.concat_backward(grad_stacked, cache.concat)
    grad_x = None
    for backward, grad in zip(cache.branch_backwards, grad_branches, strict=True):
        branch_grad = backward(grad)
        # fan-out: x fed every branch, so its gradient adds up over them (never overwrite)
        grad_x = branch_grad if grad_x is None else grad_x + branch_grad
    return grad_x
