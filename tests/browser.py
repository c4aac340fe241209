"""Open a page in Debian's headless Chromium (installed by `make test`) and read what it loaded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

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


def image_widths(page: Path, profile: Path) -> list[int]:
    """The natural width of every image on ``page`` once loaded (0 for a broken one, -1 if unfinished)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    probe = page.with_name(page.stem + ".probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    try:
        dom = dump_dom(probe, profile)
    finally:
        probe.unlink()
    found = re.search(r'data-image-widths="([^"]*)"', dom)
    assert found, "the probe script did not run"
    widths: list[int] = json.loads(found.group(1).replace("&quot;", '"'))
    return widths
