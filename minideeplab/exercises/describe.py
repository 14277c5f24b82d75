"""The text of an exercise as ``show(name)`` prints it: task, signature, shapes, cache fields.

The cache's fields are read from the dataclass itself (its fields, and the
comment each field carries in the source), so the text cannot drift from the
code the library's backward passes read.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap

from .registry import TOPICS, get

__all__ = ["cache_fields", "cache_views", "task_text"]

_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:\s*[^#]*?(?:#\s*(.*))?$")


def cache_fields(cls) -> list:
    """``[(name, type, comment), ...]`` of a cache dataclass, in field order."""
    comments = {}
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = ""
    for line in source.splitlines():
        match = _FIELD_LINE.match(line)
        if match:
            comments.setdefault(match.group(1), (match.group(2) or "").strip())
    return [(f.name, f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""),
             comments.get(f.name, "")) for f in dataclasses.fields(cls)]


def cache_views(cls) -> list:
    """``[(name, first docstring line), ...]`` of a cache's read-only properties."""
    return [(name, (inspect.getdoc(value) or "").splitlines()[0] if inspect.getdoc(value) else "")
            for name, value in vars(cls).items() if isinstance(value, property)]


def _wrap(text, indent="  ") -> str:
    return textwrap.fill(text, width=96, initial_indent=indent, subsequent_indent=indent)


def task_text(name: str) -> str:
    """Everything a learner needs to write exercise ``name``."""
    exercise = get(name)
    notebooks = ", ".join(f"notebooks/exercises/{TOPICS[t]}" for t in exercise.topics)
    lines = [f"{exercise.name}: {exercise.summary}", f"  (notebook: {notebooks})", "",
             "Signature (the library's own, so your function is a drop-in):",
             f"  def {exercise.signature}", "", "Task:", _wrap(exercise.task), "",
             "Shapes:", _wrap(exercise.shapes)]
    if exercise.cache is not None:
        module = exercise.cache.__module__
        role = "returns" if exercise.name.endswith("_forward") else "receives"
        if exercise.name == "conv_step":
            role = "receives and returns"
        lines += ["", f"The {exercise.cache.__name__} it {role} ({module}), fields:"]
        fields = cache_fields(exercise.cache)
        width = max(len(field) for field, _, _ in fields)
        type_width = max(len(kind) for _, kind, _ in fields)
        for field, kind, comment in fields:
            note = f"  # {comment}" if comment else ""
            lines.append(f"  .{field:<{width}}  {kind:<{type_width}}{note}".rstrip())
        views = cache_views(exercise.cache)
        if views:
            lines.append("  and, computed when read:")
            for view, doc in views:
                lines.append(f"  .{view:<{width}}  {'':<{type_width}}  # {doc}".rstrip())
    lines += ["", "Check it:", f"  mdl.exercises.check({exercise.name!r}, {exercise.name})",
              f"  minideeplab exercise check {exercise.name} path/to/your_file.py"]
    if exercise.swappable:
        lines += ["Train the real model with it:",
                  f"  with mdl.use_implementation({exercise.name}={exercise.name}): ..."]
    return "\n".join(lines)
