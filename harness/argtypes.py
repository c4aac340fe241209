"""Argument types for the commands' parsers: numbers and files checked into one-line argparse errors."""

from __future__ import annotations

import argparse
from pathlib import Path


def non_negative_number(text: str, kind: type[int] | type[float] = float) -> float:
    """``text`` as a number of ``kind``, at least 0, or an argparse error naming what is wrong."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number: {text!r}") from None
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


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return path
