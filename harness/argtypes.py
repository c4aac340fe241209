"""Argument types for the commands' parsers: numbers and files checked into one-line argparse errors.

Every number is finite: NaN and infinity parse as floats but mean nothing as a window, a limit or
a count, and they poison whatever arithmetic they reach.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

#: The longest span a time option may have (366 days), in seconds.
MAX_SECONDS = 366 * 86_400


def non_negative_number(text: str, kind: type[int] | type[float] = float) -> float:
    """``text`` as a finite number of ``kind``, at least 0, or an argparse error naming what is wrong."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def positive_number(text: str) -> float:
    value = non_negative_number(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def non_negative_int(text: str) -> int:
    return int(non_negative_number(text, int))


def fraction(text: str) -> float:
    """A number from 0 to 1 (a fairness index, a probability)."""
    value = non_negative_number(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def number_between(low: float, high: float, unit: str = "") -> Callable[[str], float]:
    """A type for a finite number from ``low`` to ``high``: a window too small to hold a row, or too long to
    add to a timestamp, is refused in one line.
    """

    def parse(text: str) -> float:
        value = non_negative_number(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}{unit}, not {text}")
        return value

    return parse


def whole_number_between(low: int, high: int) -> Callable[[str], int]:
    """A type for a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        value = non_negative_int(text) if low >= 0 else int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, not {text}")
        return value

    return parse


def existing_file(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_file():  # a folder, or a FIFO a read would block on
        raise argparse.ArgumentTypeError(f"not a regular file: {text!r}")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return path
