"""The house's rule, checked: data flows down, nothing imports upward.

Each module of the package sits on a floor (the list in minideeplab/__init__.py's
docstring). A module may import from its own floor or the floors above it,
never from a floor below. Lazy imports inside functions count too.
"""

import ast
from pathlib import Path

import minideeplab

PACKAGE = Path(minideeplab.__file__).parent

# lowest floor first: a module may import from its own floor or any earlier one
FLOORS = [
    {"errors", "geometry", "images", "fileio", "allocator"},
    {"backend"},
    {"functional"},
    {"kernels"},
    {"implementation"},
    {"nn"},
    {"models"},
    {"optim", "metrics", "checkpoint", "run_folder", "run_status"},
    {"datasets"},
    {"train"},
    {"receptive_field"},
    {"gradcheck", "summary", "timing"},
    {"ablation"},
    {"evaluation"},
    {"exercises"},
    {"viz"},
    {"interop"},
    {"cli", "__main__"},
]
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def top_name(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_top_names(path: Path):
    """The package's top-level modules that ``path`` imports (relative or absolute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth = len(path.relative_to(PACKAGE).parts) - 1     # folders below the package
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:                               # relative: climb to the package
                up = node.level - 1
                if up > depth:
                    continue
                here = list(path.relative_to(PACKAGE).parts[:depth - up])
                parts = here + (node.module.split(".") if node.module else [])
                if parts:
                    yield parts[0], node.lineno
                else:                                    # "from .. import x, y"
                    for alias in node.names:
                        yield alias.name, node.lineno
            elif node.module and node.module.split(".")[0] == "minideeplab":
                parts = node.module.split(".")[1:]
                if parts:
                    yield parts[0], node.lineno
                else:
                    for alias in node.names:
                        yield alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "minideeplab" and len(parts) > 1:
                    yield parts[1], node.lineno


def test_every_module_has_a_floor():
    tops = {top_name(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert tops <= set(FLOOR), f"modules without a floor: {sorted(tops - set(FLOOR))}"


def test_nothing_imports_upward():
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue                                      # the package re-exports everything
        mine = FLOOR[top_name(path)]
        for name, line in imported_top_names(path):
            if name in FLOOR and FLOOR[name] > mine:
                offences.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    assert not offences, "imports from a floor below:\n" + "\n".join(offences)
