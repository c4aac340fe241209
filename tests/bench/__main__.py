"""``make bench``: run every benchmark and print its figures (medians of repeated runs)."""

from __future__ import annotations

from tests.bench import bench_writer

BENCHMARKS = [bench_writer.main]


def main() -> None:
    for bench in BENCHMARKS:
        bench()


if __name__ == "__main__":
    main()
