"""``minideeplab exercise list|show|check|bugs``: the exercises for those who work in files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ..errors import UsageError

__all__ = ["register", "load_function"]


def load_function(path, name: str):
    """The function ``name`` defined in the Python file ``path`` (the learner's own code).

    The file is imported as a module (its folder first on ``sys.path`` while it
    loads, so it may import its neighbours). A missing file raises
    ``FileNotFoundError``; a file without ``name`` a :class:`UsageError` that
    lists the functions it does define. Errors inside the file keep their
    traceback: they are the learner's to see.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix != ".py":
        raise UsageError(f"FILE must be a Python file (.py) that defines {name}, got {path}")
    spec = importlib.util.spec_from_file_location(f"_exercise_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.resolve().parent))
    function = getattr(module, name, None)
    if function is None:
        defined = sorted(key for key, value in vars(module).items()
                         if callable(value) and getattr(value, "__module__", None)
                         == module.__name__)
        listing = ", ".join(defined) if defined else "no functions"
        raise UsageError(f"{path} does not define a function named {name} (it defines: "
                         f"{listing}); name your function exactly like the exercise")
    return function


def _cmd_list(args) -> int:
    from ..exercises import registry

    # every notebook with every exercise it asks for (the convolution comes back in 02, with
    # groups: it is listed there again, marked so)
    for topic, notebook in registry.TOPICS.items():
        print(f"\nnotebooks/exercises/{notebook}")
        for exercise in registry.EXERCISES.values():
            if topic not in exercise.topics:
                continue
            first = exercise.topics[0]
            again = "" if first == topic else f"(again, first in {registry.TOPICS[first][:2]}) "
            print(f"  {exercise.name:<32} {again}{exercise.summary}")
    print("\nRead a task: minideeplab exercise show NAME; check your file: "
          "minideeplab exercise check NAME FILE.py")
    return 0


def _cmd_show(args) -> int:
    from ..exercises import task_text

    print(task_text(args.name))
    return 0


def _cmd_check(args) -> int:
    from .. import exercises

    exercises.registry.get(args.name)                 # an unknown name: the list of names
    report = exercises.check(args.name, load_function(args.file, args.name))
    print(report)
    return 0 if report.passed else 1


def _cmd_bugs(args) -> int:
    from ..exercises import bugs

    for name, bug in bugs.items():
        print(f"  {name:<50} a broken {bug.exercise}")
    print("\nIn Python: mdl.exercises.bugs[NAME] (call it, check it, gradient-check it), then "
          "read its .explanation")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "exercise", help="learn by building: list, show and check the exercises",
        description="Write the library's functions yourself and check them. The check runs a "
                    "ladder of cases from the simplest to the hardest and explains the first "
                    "failure. Exit status of check: 0 when every case passes, 1 otherwise.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the exercises, by notebook",
                                 description="List the exercises, grouped by notebook.")
    listing.set_defaults(func=_cmd_list)
    show = actions.add_parser("show", help="print an exercise's task",
                              description="Print the task: signature, shapes, cache fields.")
    show.add_argument("name", metavar="NAME", help="an exercise (see 'exercise list')")
    show.set_defaults(func=_cmd_show)
    check = actions.add_parser("check", help="check your function in a Python file",
                               description="Import FILE.py, take its function NAME and run the "
                                           "exercise's ladder; print the report.")
    check.add_argument("name", metavar="NAME", help="an exercise (see 'exercise list')")
    check.add_argument("file", metavar="FILE.py", help="a Python file defining a function NAME")
    check.set_defaults(func=_cmd_check)
    bugs = actions.add_parser("bugs", help="list the bug zoo",
                              description="List the deliberately broken implementations.")
    bugs.set_defaults(func=_cmd_bugs)
