"""report.html in headless Chromium: every plot image must load (Debian's chromium, installed by make test)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

from harness.cli import main
from harness.report.html import REPORT_HTML
from harness.report.plots import PLOTS
from tests.checker_logs import manifest, message, text, write_run
from tests.conftest import timeout

CHROMIUM = os.environ.get("STREAMHARNESS_CHROMIUM", "/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=10000",
)
# Appended to a copy of the page: once everything has loaded, record each image's natural width.
PROBE = """<script>
window.addEventListener("load", () => {
  const widths = Array.from(document.images, (img) => (img.complete ? img.naturalWidth : -1));
  document.body.setAttribute("data-image-widths", JSON.stringify(widths));
});
</script>"""


def dump_dom(page: Path, profile: Path) -> str:
    """Chromium's DOM of ``page`` after load; the browser and its children are killed by group on timeout."""
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout(90))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, f"chromium exited with {process.returncode}"
    return out.decode("utf-8", errors="replace")


def test_every_plot_in_the_report_loads_in_chromium(tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    rows = [row for k in range(40) for row in message(f"w0-p1/{k}", k * 50_000_000, consumer=f"w0-c{k % 2 + 1}")]
    run = write_run(tmp_path / "run", {"w0-1.csv": text(*rows)}, manifest())
    assert main(["analyze", str(run)]) == 0
    page = (run / REPORT_HTML).read_text(encoding="utf-8")
    probe = run / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = dump_dom(probe, tmp_path / "profile")
    found = re.search(r'data-image-widths="([^"]*)"', dom)
    assert found, "the probe script did not run"
    widths = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(widths) == len(PLOTS)
    assert all(width >= 600 for width in widths), widths
