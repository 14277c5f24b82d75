"""environment.yml (conda) must list the same packages, with the same ranges, as pyproject.toml."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")


def _split(requirement: str):
    """'numpy>=1.24,<3' -> ('numpy', '>=1.24,<3')."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in ("dev", "notebooks"):
        requirements += project["optional-dependencies"][extra]
    return dict(_split(r) for r in requirements)


def _conda_requirements():
    """The '- name spec' entries under 'dependencies:' (a tiny reader: no YAML library needed)."""
    entries, in_dependencies = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped:
            continue
        if not line.startswith(" "):
            in_dependencies = stripped.startswith("dependencies:")
            continue
        match = re.match(r"^  - (.+)$", stripped)      # top-level list items only
        if in_dependencies and match and not match.group(1).endswith(":"):
            name, spec = _split(match.group(1))
            entries[name] = spec
    return entries


def test_environment_yml_matches_pyproject():
    conda = _conda_requirements()
    for not_a_package_dependency in ("python", "pip"):
        conda.pop(not_a_package_dependency, None)
    assert conda == _pyproject_requirements()


def test_environment_yml_installs_the_package_itself():
    assert "- -e ." in (ROOT / "environment.yml").read_text()


def test_torch_is_never_a_runtime_dependency():
    assert "torch" not in _pyproject_requirements()


def test_code_passes_the_linter():
    # ruff is in the dev extra; its rules are in pyproject.toml ([tool.ruff])
    pytest.importorskip("ruff")
    completed = subprocess.run([sys.executable, "-m", "ruff", "check", "minideeplab", "tests",
                                "benchmarks"], cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_repository_tracks_no_caches_or_generated_files():
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    unwanted = [path for path in listed.stdout.splitlines()
                if "__pycache__" in path or path.endswith((".nbi", ".nbc", ".pyc"))
                or path.startswith(("runs/", "data/cache/"))]
    assert unwanted == []
