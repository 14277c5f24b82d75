"""The ``minideeplab`` command: one module per group of subcommands, and :func:`main`.

Each module in this package defines its subcommands and a ``register(subparsers)``
function that adds them; :data:`COMMAND_MODULES` lists the modules in the order
``minideeplab --help`` shows them. Every subcommand has ``--help``.

The command line is the only place that catches errors: bad input (the
library's :class:`~minideeplab.errors.InputError` and
:class:`~minideeplab.errors.InputTypeError`, a :class:`~minideeplab.errors.UsageError`
of the command line itself, a missing file) is printed as one line
``error: ...`` with exit status 2; an :class:`~minideeplab.errors.OptionError`
names the options as the command spells them (``--n-test``, from the
subcommand's ``option_names``). Ctrl-C ends any command with one line and exit
status 130 (``minideeplab train`` first saves the steps done and says how to
resume). Anything else is a bug and keeps its traceback.
``MINIDEEPLAB_DEBUG=1`` shows the traceback of input errors too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import InputError, InputTypeError, OptionError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: The modules that register subcommands, in the order of ``--help``.
COMMAND_MODULES = ["train", "evaluate", "predict", "data", "inspect", "bench", "export",
                   "exercise"]

#: Errors that mean "the input was wrong", not "the library is wrong".
INPUT_ERRORS = (InputError, InputTypeError, FileNotFoundError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minideeplab",
        description="DeepLabV3+ from scratch in NumPy: train, evaluate, inspect.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except INPUT_ERRORS as error:
        if os.environ.get("MINIDEEPLAB_DEBUG"):
            raise
        if isinstance(error, OptionError):
            error = error.in_terms(getattr(args, "option_names", {}))
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if os.environ.get("MINIDEEPLAB_DEBUG"):
            raise
        print("\ninterrupted (Ctrl-C)", file=sys.stderr)
        return 130
