"""Exercise notebooks with the reference solutions filled in: every check passes, the finale trains.

pytest's ``--nbmake`` (pyproject's addopts) already runs every notebook as shipped,
where each check cell reports "not implemented yet" and the notebook still runs
to its end. Here each ``# YOUR CODE HERE`` cell is replaced by the function of
the same name from ``notebooks/exercises/solutions/<notebook>.py`` (with that
file's imports), the notebook is executed in fast mode, and its outputs are
read: every check cell must print "passed all", and the finale must report
curves that agree (for 06: the same receptive field at every layer).
"""

import ast
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat (a dependency of nbmake) runs them")
nbclient = pytest.importorskip("nbclient", reason="nbclient (a dependency of nbmake) runs them")

FOLDER = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))


def solution_cells(solutions_path: Path) -> dict:
    """``{function name: cell source}``: the solutions file's imports, then the function."""
    text = solutions_path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    imports = "\n".join(ast.get_source_segment(text, node) for node in tree.body
                        if isinstance(node, (ast.Import, ast.ImportFrom)))
    return {node.name: f"{imports}\n\n\n{ast.get_source_segment(text, node)}"
            for node in tree.body if isinstance(node, ast.FunctionDef)}


def with_solutions(notebook, solutions: dict):
    """The notebook with every YOUR CODE HERE cell replaced by its solution; the names replaced."""
    replaced = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or "# YOUR CODE HERE" not in cell.source:
            continue
        name = cell.source.split("def ", 1)[1].split("(", 1)[0]
        cell.source = solutions[name]
        replaced.append(name)
    return replaced


def test_every_notebook_has_solutions_for_every_cell():
    assert len(NOTEBOOKS) == 6, [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        solutions = solution_cells(FOLDER / "solutions" / f"{path.stem}.py")
        stubs = [c for c in notebook.cells if "# YOUR CODE HERE" in c.source]
        assert stubs, f"{path.name} has no exercise cell"
        for cell in stubs:
            assert "raise NotImplementedError" in cell.source
        assert sorted(with_solutions(notebook, solutions)) == sorted(solutions), path.name


def test_notebooks_do_not_import_the_solutions():
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert "solutions" not in cell.source, f"{path.name} imports the solutions"


def _outputs(cell) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_with_the_solutions_passes_and_trains(path, monkeypatch):
    monkeypatch.setenv("MINIDEEPLAB_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    with_solutions(notebook, solution_cells(FOLDER / "solutions" / f"{path.stem}.py"))
    # (the kernel inherits this process's environment, with the two variables set above)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(FOLDER)}})
    client.execute()
    checks = [c for c in notebook.cells if c.cell_type == "code"
              and c.source.startswith('print(mdl.exercises.check("')]
    assert checks, "no check cell"
    for cell in checks:
        text = _outputs(cell)
        assert "passed all" in text, f"{path.name}: {cell.source}\n{text}"
    finale = _outputs(notebook.cells[-1])
    if path.stem.startswith("06"):
        assert "gives the library's receptive field at all" in finale, finale
    else:
        assert "the same curve" in finale or "the same start" in finale, finale
