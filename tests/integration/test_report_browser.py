"""report.html in headless Chromium: every plot image must load (Debian's chromium, installed by make test)."""

from __future__ import annotations

from pathlib import Path

from harness.cli import main
from harness.report.html import REPORT_HTML
from harness.report.plots import PLOTS
from tests.browser import image_widths
from tests.checker_logs import manifest, message, text, write_run


def test_every_plot_in_the_report_loads_in_chromium(tmp_path: Path) -> None:
    start_ns = 1_800_000_000_000_000_000  # a real wall-clock time: the reader skips times at or before 0
    rows = [
        row for k in range(40) for row in message(f"w0-p1/{k}", start_ns + k * 50_000_000, consumer=f"w0-c{k % 2 + 1}")
    ]
    run = write_run(tmp_path / "run", {"w0-1.csv": text(*rows)}, manifest())
    assert main(["analyze", str(run)]) == 0
    widths = image_widths(run / REPORT_HTML, tmp_path / "profile")
    assert len(widths) == len(PLOTS)
    assert all(width >= 600 for width in widths), widths
