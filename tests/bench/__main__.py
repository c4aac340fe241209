"""``make bench``: run every ``tests/bench/bench_*.py`` module's ``main()`` in turn.

Each benchmark prints its figures as medians of repeated runs and as ratios to a baseline
measured in the same run, never as absolute pass/fail timings. ``make bench BENCH=writer`` runs
only the benchmarks whose name contains ``writer``.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path


def main() -> int:
    wanted = os.environ.get("BENCH", "")
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py") if wanted in p.stem)
    if not names:
        print(f"no benchmark matches {wanted!r}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"tests.bench.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
