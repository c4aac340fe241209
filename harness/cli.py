"""The ``streamharness`` command: a thin registry of subcommands, one module per area.

Each area owns its subcommands in a ``command`` module with ``register(subparsers)``, which adds
its parsers with ``set_defaults(run=...)``. Every error a user can cause ends in one line on
stderr and exit code 2; the analysis exits 0 (pass), 1 (violation) or 2 (inconclusive). So does
every error nobody foresaw (a file that cannot be read or written, a value that does not parse,
memory running out, a file nested too deep to parse, a number too large to convert): one line,
exit code 2. ``STREAMHARNESS_DEBUG=1`` shows the traceback of any error instead, for bug reports.
A bug shows its traceback but still exits 2, never 1: 1 is the verdict FAIL, and a crashed checker
has judged nothing (``streamharness load`` hands the analysis's exit code on as the run's).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from harness.errors import HarnessError, one_line

PROG = "streamharness"
#: Set to 1 to see the traceback of an unexpected error instead of its one line.
DEBUG_ENV = "STREAMHARNESS_DEBUG"

#: Modules that contribute subcommands; each has ``register(subparsers)``.
COMMAND_MODULES = (
    "harness.emulator.command",
    "harness.load.command",
    "harness.analysis.command",
    "harness.capacity.command",
)


class Parser(argparse.ArgumentParser):
    """argparse, but bad usage is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Load tests for shared-subscription streams.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # STREAMHARNESS_* defaults are read here, and may be bad
        code: int = args.run(args)
        return code
    except HarnessError as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        if not unexpected_but_known(exc):
            traceback.print_exc()  # a bug: its traceback is the report, but no crash may read as FAIL
            return 2
        print(f"{PROG}: error: {one_line(exc)} (set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 2


def unexpected_but_known(error: BaseException) -> bool:
    """An error a bad environment or input can cause anywhere: a file, a value, memory, a pyarrow read,
    a document nested past the parser's recursion limit, a number past a float's range.

    pyarrow is only asked if something already imported it: no error of its can come otherwise.
    """
    if isinstance(error, OSError | ValueError | MemoryError | RecursionError | OverflowError):
        return True
    pyarrow = sys.modules.get("pyarrow")
    arrow_error = getattr(pyarrow, "ArrowException", None) if pyarrow is not None else None
    return isinstance(arrow_error, type) and isinstance(error, arrow_error)
