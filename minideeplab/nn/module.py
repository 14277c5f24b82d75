"""Parameter, Module and Sequential: the bookkeeping around the functional ops.

A :class:`Module` owns parameters (weights that learn), buffers (state that
does not learn, such as BatchNorm's running mean) and child modules, and
names them with dotted paths exactly like PyTorch (``"aspp.branches.1.0.weight"``),
so that a reader's intuition and state dicts carry over.

Unlike PyTorch there is no autograd tape: every module writes its own
``backward(grad_out)``, which returns the gradient with respect to its input
and *adds* the gradients of its parameters into ``parameter.grad``. The
forward pass stores what backward needs (its "cache"); backward consumes it,
so calling backward twice without a new forward raises an error instead of
silently counting the gradient twice.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..errors import InputError, InputTypeError

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "record_calls"]

# Callbacks ``record(module, inputs, output)`` run after every module call while
# :func:`record_calls` is active (used by ``summary`` to see every layer's output shape).
_recorders = []


class record_calls:
    """Context manager: call ``record(module, inputs, output)`` after every module call."""

    def __init__(self, record):
        self.record = record

    def __enter__(self):
        _recorders.append(self.record)
        return self

    def __exit__(self, *exc):
        _recorders.remove(self.record)
        return False


class Parameter:
    """A learnable array ``data`` and its gradient ``grad`` (same shape and dtype).

    ``grad`` starts at zeros and accumulates over backward passes until
    ``zero_grad`` resets it.
    """

    def __init__(self, data):
        data = np.array(data, copy=True)
        if not np.issubdtype(data.dtype, np.floating):
            raise InputTypeError(f"Parameter data must be floating point, got {data.dtype}")
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def size(self):
        return self.data.size

    def zero_grad(self):
        self.grad = np.zeros_like(self.data)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer and model.

    Subclasses set parameters, buffers and children as attributes in
    ``__init__`` (after ``super().__init__()``) and implement ``forward(x)``
    and ``backward(grad_out)``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)

    # ------------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"call super().__init__() in {type(self).__name__}.__init__ first")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            object.__setattr__(self, name, value)     # re-assigning a buffer keeps it a buffer
            return
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """State saved in ``state_dict`` that is not learned (e.g. running statistics)."""
        object.__setattr__(self, name, value)
        self._buffers[name] = None   # the value lives in the attribute; this keeps the order

    def _buffer_items(self):
        return [(name, getattr(self, name)) for name in self._buffers]

    def _set_buffer(self, name, value):
        object.__setattr__(self, name, value)

    # ---------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        if _recorders:
            for record in _recorders:
                record(self, args, out)
        return out

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_out):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def _save_for_backward(self, cache) -> None:
        object.__setattr__(self, "_cache", cache)

    def _pop_cache(self):
        """The cache of the last forward; raises if backward already used it."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called without a forward pass since the last "
                "backward; run forward again first (gradients would otherwise be counted twice)"
            )
        object.__setattr__(self, "_cache", None)
        return cache

    # ------------------------------------------------------------- traversal
    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = ""):
        for name, parameter in self._parameters.items():
            yield (f"{prefix}.{name}" if prefix else name), parameter
        for name, child in self._modules.items():
            yield from child.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = ""):
        for name, value in self._buffer_items():
            yield (f"{prefix}.{name}" if prefix else name), value
        for name, child in self._modules.items():
            yield from child.named_buffers(f"{prefix}.{name}" if prefix else name)

    # ------------------------------------------------------------------- state
    def zero_grad(self) -> None:
        """Set every parameter's gradient to zeros."""
        for parameter in self.parameters():
            parameter.zero_grad()

    def train(self, mode: bool = True):
        """Training mode (BatchNorm uses batch statistics, dropout drops). Returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (running statistics, no dropout). Returns self."""
        return self.train(False)

    def astype(self, dtype):
        """Cast every parameter, gradient and floating buffer to ``dtype``, in place."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise InputTypeError(f"dtype must be a floating dtype, got {dtype}")
        for parameter in self.parameters():
            parameter.data = parameter.data.astype(dtype)
            parameter.grad = parameter.grad.astype(dtype)
        for module in self.modules():
            for name, value in module._buffer_items():
                if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
                    module._set_buffer(name, value.astype(dtype))
        return self

    @property
    def dtype(self):
        parameters = self.parameters()
        return parameters[0].data.dtype if parameters else np.dtype(np.float32)

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, keyed by dotted path (torch's names)."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            for name, parameter in module._parameters.items():
                state[f"{module_name}.{name}" if module_name else name] = parameter.data.copy()
            for name, value in module._buffer_items():
                state[f"{module_name}.{name}" if module_name else name] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state, strict: bool = True) -> None:
        """Copy arrays from ``state`` into this module's parameters and buffers.

        Raises a ``ValueError`` listing missing keys, unexpected keys and keys
        whose shapes differ; nothing is changed in that case.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mismatched = [f"{k}: checkpoint {tuple(np.shape(state[k]))} vs model {own[k].shape}"
                      for k in own if k in state and tuple(np.shape(state[k])) != own[k].shape]
        problems = []
        if mismatched:
            problems.append("shape mismatch: " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise InputError("state dict does not fit this model: " + " | ".join(problems))
        for module_name, module in self.named_modules():
            for name, parameter in module._parameters.items():
                key = f"{module_name}.{name}" if module_name else name
                if key in state:
                    parameter.data = np.array(state[key], dtype=parameter.data.dtype, copy=True)
                    parameter.grad = np.zeros_like(parameter.data)
            for name, value in module._buffer_items():
                key = f"{module_name}.{name}" if module_name else name
                if key in state:
                    module._set_buffer(name, np.array(state[key], dtype=np.asarray(value).dtype,
                                                      copy=True))

    # ------------------------------------------------------------------ display
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            for name, child in self._modules.items():
                child_repr = repr(child).replace("\n", "\n  ")
                lines.append(f"  ({name}): {child_repr}")
            lines.append(")")
            return "\n".join(lines)
        return lines[0] + ")"


class ModuleList(Module):
    """A list of modules named ``"0"``, ``"1"``, ... (no forward of its own)."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> None:
        if not isinstance(module, Module):
            raise InputTypeError(f"ModuleList holds Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after another; backward runs them in reverse.

    The chain rule in its simplest form: ``dL/dx = J_1^T J_2^T ... J_n^T dL/dy``.
    """

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def backward(self, grad_out, input_grad=True):
        """``input_grad=False`` is handed to the first module (whose input is the data, in
        training): it must accept it, as Conv2d does."""
        modules = list(self)
        if not modules:                          # the identity
            return grad_out if input_grad else None
        for module in reversed(modules[1:]):
            grad_out = module.backward(grad_out)
        if not input_grad:
            return modules[0].backward(grad_out, input_grad=False)
        return modules[0].backward(grad_out)
