"""The ``streamharness`` command: a thin registry of subcommands, one module per area.

Each area owns its subcommands in a ``command`` module with ``register(subparsers)``, which adds
its parsers with ``set_defaults(run=...)``. Every error a user can cause ends in one line on
stderr and exit code 2; the analysis exits 0 (pass), 1 (violation) or 2 (inconclusive).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from harness.errors import HarnessError

PROG = "streamharness"

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
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
