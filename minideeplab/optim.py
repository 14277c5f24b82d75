"""Optimisers (SGD with momentum, Adam) and DeepLab's "poly" learning-rate schedule.

Optimisers update ``parameter.data`` in place from ``parameter.grad``; their
state (momentum buffers, Adam moments, step count) can be saved and restored
exactly, so that a resumed run continues as if it had never stopped.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = ["SGD", "Adam", "poly_lr", "PolyLR"]


class Optimizer:
    def __init__(self, parameters, lr):
        self.parameters = list(parameters)
        if not self.parameters:
            raise InputError("parameters is empty: nothing to optimise")
        if not lr > 0:
            raise InputError(f"lr must be > 0, got {lr!r}")
        self.lr = float(lr)
        self.step_count = 0

    def zero_grad(self):
        for parameter in self.parameters:
            parameter.zero_grad()

    def state_dict(self) -> dict:
        """Arrays keyed ``"<slot>.<index>"`` plus scalars; enough to resume exactly."""
        return {"lr": np.array(self.lr), "step_count": np.array(self.step_count)}

    def load_state_dict(self, state: dict) -> None:
        self.lr = float(state["lr"])
        self.step_count = int(state["step_count"])

    def _slots_state(self, name, slots):
        return {f"{name}.{i}": s for i, s in enumerate(slots)}

    def _load_slots(self, state, name):
        slots = []
        for i, parameter in enumerate(self.parameters):
            value = np.asarray(state[f"{name}.{i}"])
            if value.shape != parameter.data.shape:
                raise InputError(f"optimizer state {name}.{i} has shape {value.shape}, the "
                                 f"parameter has {parameter.data.shape}")
            slots.append(value.astype(parameter.data.dtype).copy())
        return slots


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and (L2) weight decay, as torch.optim.SGD.

    ``g = grad + weight_decay * w``; ``v = momentum * v + g``; ``w -= lr * v``
    (on the first step ``v = g``).
    """

    def __init__(self, parameters, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(parameters, lr)
        if not 0 <= momentum < 1:
            raise InputError(f"momentum must be in [0, 1), got {momentum!r}")
        if weight_decay < 0:
            raise InputError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.velocity = [np.zeros_like(p.data) for p in self.parameters]

    def step(self):
        for parameter, velocity in zip(self.parameters, self.velocity, strict=True):
            grad = parameter.grad
            if self.weight_decay:
                grad = grad + self.weight_decay * parameter.data
            if self.step_count == 0:
                velocity[...] = grad
            else:
                velocity *= self.momentum
                velocity += grad
            parameter.data -= self.lr * velocity
        self.step_count += 1

    def state_dict(self):
        return {**super().state_dict(), **self._slots_state("velocity", self.velocity)}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.velocity = self._load_slots(state, "velocity")


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with L2 weight decay added to the gradient, as torch.optim.Adam.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``w -= lr * m_hat / (sqrt(v_hat) + eps)`` with bias-corrected ``m_hat, v_hat``.
    """

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(parameters, lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise InputError(f"betas must be in [0, 1), got {betas!r}")
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.m = [np.zeros_like(p.data) for p in self.parameters]
        self.v = [np.zeros_like(p.data) for p in self.parameters]

    def step(self):
        self.step_count += 1
        correction1 = 1.0 - self.beta1 ** self.step_count
        correction2 = 1.0 - self.beta2 ** self.step_count
        for parameter, m, v in zip(self.parameters, self.m, self.v, strict=True):
            grad = parameter.grad
            if self.weight_decay:
                grad = grad + self.weight_decay * parameter.data
            m *= self.beta1
            m += (1.0 - self.beta1) * grad
            v *= self.beta2
            v += (1.0 - self.beta2) * grad * grad
            denominator = np.sqrt(v / correction2) + self.eps
            parameter.data -= (self.lr / correction1) * m / denominator

    def state_dict(self):
        return {**super().state_dict(), **self._slots_state("m", self.m),
                **self._slots_state("v", self.v)}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.m = self._load_slots(state, "m")
        self.v = self._load_slots(state, "v")


def poly_lr(base_lr, step, total_steps, power=0.9, warmup_steps=0):
    """DeepLab's poly schedule: ``base_lr * (1 - step / total_steps) ** power``.

    With ``warmup_steps`` the rate first rises linearly from ``base_lr / warmup_steps``
    to ``base_lr``. ``step`` counts from 0.
    """
    if total_steps < 1:
        raise InputError(f"total_steps must be >= 1, got {total_steps}")
    if warmup_steps and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(step, total_steps) / total_steps
    return base_lr * (1.0 - progress) ** power


class PolyLR:
    """Sets ``optimizer.lr`` from :func:`poly_lr` before each step: ``scheduler.step(step)``."""

    def __init__(self, optimizer, total_steps, power=0.9, warmup_steps=0):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.total_steps = int(total_steps)
        self.power = power
        self.warmup_steps = int(warmup_steps)

    def step(self, step):
        self.optimizer.lr = poly_lr(self.base_lr, step, self.total_steps, self.power,
                                    self.warmup_steps)
        return self.optimizer.lr
