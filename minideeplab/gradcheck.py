r"""Numerical gradient checking: does a hand-written backward pass match the forward?

For a function ``y = f(x)`` and an upstream gradient ``g = dL/dy`` the backward
pass returns the vector-Jacobian product ``dL/dx = J^T g``. We can estimate the
same thing without any calculus: ``L(x) = sum(f(x) * g)`` is a scalar, and for
each element ``x_i`` the central difference

.. math::  \frac{\partial L}{\partial x_i} \approx \frac{L(x + h e_i) - L(x - h e_i)}{2h}

has error ``O(h^2)``. In float64 with ``h = 1e-6`` a correct backward pass
agrees to about ``1e-8`` relative error, a wrong one (a missing term, a
transposed index) is off by far more than ``1e-6``. So the rules are: float64,
a *random* upstream gradient (an all-ones ``g`` hides errors that cancel in a
sum), tiny shapes, every element.

    >>> import numpy as np, minideeplab as mdl
    >>> from minideeplab import functional as F
    >>> x = np.random.randn(1, 2, 5, 5); w = np.random.randn(3, 2, 3, 3)
    >>> errors = mdl.gradcheck(F.conv2d_forward, F.conv2d_backward, (x, w),
    ...                        kwargs=dict(dilation=2), wrt=(0, 1))
    >>> max(errors.values()) < 1e-6
    True
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import InputError

__all__ = ["rel_error", "numerical_vjp", "check_op", "check_module", "gradcheck"]


def rel_error(a, b) -> float:
    """Relative error ``|a - b| / max(|a| + |b|, tiny)`` in the Euclidean norm.

    0 for identical arrays; about 1 when they are unrelated. Using the norm of the
    whole array (rather than element by element) keeps gradients that are
    exactly 0 from dividing by 0, and still flags a single wrong element: one
    wrong entry of size ``e`` in an array of norm ``A`` gives about ``e / 2A``,
    far above ``1e-6`` for any real mistake.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise InputError(f"rel_error needs equal shapes, got {a.shape} and {b.shape}")
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    if denominator == 0.0:
        return 0.0
    return float(np.linalg.norm(a - b) / max(denominator, 1e-300))


def numerical_vjp(f, x: np.ndarray, grad_out: np.ndarray, h: float = 1e-6,
                  indices=None) -> np.ndarray:
    """Central-difference estimate of ``d sum(f(x) * grad_out) / dx``.

    ``f`` maps the array ``x`` (changed in place and restored) to an array
    shaped like ``grad_out``. ``indices`` optionally limits the check to some
    flat indices of ``x``; the other entries of the result stay 0.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x = x.reshape(-1)          # a view: writing to it changes x
    flat_grad = grad.reshape(-1)
    if indices is None:
        indices = range(flat_x.size)
    for i in indices:
        original = flat_x[i]
        flat_x[i] = original + h
        plus = np.sum(np.asarray(f(x), dtype=np.float64) * grad_out)
        flat_x[i] = original - h
        minus = np.sum(np.asarray(f(x), dtype=np.float64) * grad_out)
        flat_x[i] = original
        flat_grad[i] = (plus - minus) / (2.0 * h)
    return grad


def _upstream_rng(seed):
    """The generator for upstream gradients and sampled indices.

    It is a stream of its own, spawned from ``seed``, not ``default_rng(seed)``
    itself: a test that draws its input with ``default_rng(0).standard_normal``
    would otherwise get an upstream gradient equal to its input (same
    generator, same draws). For BatchNorm, ``dout = x`` is an affine function of
    the normalised input, which makes the true dx exactly 0 and lets a wrong
    backward pass through.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x6772,)))


def _warn_unless_float64(arrays, where: str) -> None:
    """Warn when a check runs in float32: its errors (~1e-2) then say nothing about the code."""
    low = sorted({str(a.dtype) for a in arrays
                  if isinstance(a, np.ndarray) and a.dtype != np.float64})
    if low:
        warnings.warn(
            f"gradcheck: {where} has dtype {', '.join(low)}; central differences need float64 "
            "(in float32 a correct backward pass shows errors around 1e-2). Convert the inputs "
            "with .astype(np.float64) (a module with module.astype(np.float64)).",
            RuntimeWarning, stacklevel=3)


def _sample_indices(size: int, max_elements, rng):
    if max_elements is None or size <= max_elements:
        return None
    return np.sort(rng.choice(size, size=max_elements, replace=False))


def _compare(analytic, numeric, indices) -> float:
    if indices is None:
        return rel_error(analytic, numeric)
    return rel_error(np.asarray(analytic).reshape(-1)[indices], numeric.reshape(-1)[indices])


def check_op(forward, backward, inputs, wrt=(0,), kwargs=None, seed=0, h=1e-6,
             max_elements=None, output_index=None) -> dict:
    """Check an ``(out, cache) = forward(*inputs, **kwargs)`` / ``backward(dout, cache)`` pair.

    ``backward`` returns one gradient or a tuple of gradients; its i-th entry is
    the gradient of ``inputs[wrt[i]]``. Returns ``{"input 0": rel_error, ...}``.
    Inputs should be float64. ``max_elements`` samples that many entries per
    input (for big shapes); ``None`` checks every element.
    """
    kwargs = dict(kwargs or {})
    inputs = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in inputs]
    _warn_unless_float64([inputs[i] for i in wrt if i < len(inputs)], "an input")
    rng = _upstream_rng(seed)
    out, cache = forward(*inputs, **kwargs)
    grad_out = rng.standard_normal(np.shape(out))
    if isinstance(out, np.ndarray):
        grad_out = grad_out.astype(out.dtype)
    grads = backward(grad_out, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) < len(wrt):
        raise InputError(f"backward returned {len(grads)} gradients, wrt asks for {len(wrt)}")
    errors = {}
    for grad, position in zip(grads[:len(wrt)], wrt, strict=True):
        target = inputs[position]

        def f(_, position=position):
            return forward(*inputs, **kwargs)[0]

        indices = _sample_indices(target.size, max_elements, rng)
        numeric = numerical_vjp(f, target, grad_out, h, indices)
        errors[f"input {position}"] = _compare(grad, numeric, indices)
    return errors


def check_module(module, x: np.ndarray, seed=0, h=1e-6, max_elements=None,
                 check_input=True) -> dict:
    """Check a module's ``backward`` against finite differences, for its input and every parameter.

    The module should be in float64 (``module.astype(np.float64)``). Its forward
    pass must be deterministic (BatchNorm in training mode is: the batch
    statistics are part of the function; dropout must be seeded). Returns
    ``{"input": err, "<parameter name>": err, ...}``.
    """
    rng = _upstream_rng(seed)
    x = np.array(x, copy=True)
    _warn_unless_float64([x] + [p.data for p in module.parameters()], "the input or a parameter")
    out = module(x)
    grad_out = rng.standard_normal(np.shape(out)).astype(out.dtype)
    module.zero_grad()
    grad_x = module.backward(grad_out)
    analytic = {name: p.grad.copy() for name, p in module.named_parameters()}

    def f(_):
        return module(x)

    errors = {}
    if check_input:
        indices = _sample_indices(x.size, max_elements, rng)
        errors["input"] = _compare(grad_x, numerical_vjp(f, x, grad_out, h, indices), indices)
    for name, parameter in module.named_parameters():
        indices = _sample_indices(parameter.data.size, max_elements, rng)
        numeric = numerical_vjp(f, parameter.data, grad_out, h, indices)
        errors[name] = _compare(analytic[name], numeric, indices)
    return errors


def gradcheck(target, *args, **kwargs) -> dict:
    """One entry point for readers: check a module or a forward/backward pair.

    * ``gradcheck(module, x, ...)`` calls :func:`check_module`;
    * ``gradcheck(forward, backward, inputs, wrt=..., kwargs=...)`` calls
      :func:`check_op`.

    Returns a dict of relative errors; a correct backward pass in float64 gives
    values well below ``1e-6``.
    """
    from .nn.module import Module

    if isinstance(target, Module):
        return check_module(target, *args, **kwargs)
    return check_op(target, *args, **kwargs)
