"""The Delivery tab of Locust's web UI, live during a run, and the analysis it links afterwards."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, timeout

pytestmark = pytest.mark.slow

SECRET = "tok-ui-5e4d3c2b1a"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.status, response.read().decode()


def delivery_rows(base: str) -> list[dict[str, Any]]:
    _, body = get(base + "/stats/requests")
    tables = {t["key"]: t["data"] for t in json.loads(body).get("extended_stats", [])}
    rows: list[dict[str, Any]] = tables.get("streamharness-delivery", [])
    return rows


def test_delivery_tab_is_live_and_links_the_analysis(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--web-host", "127.0.0.1"]
    command += ["--web-port", str(port), "--autostart", "--duration", "4", "--rate", "50"]
    command += ["--reports-dir", str(tmp_path)]
    env = {**os.environ, "STREAMHARNESS_TOKEN": SECRET}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout(40)
        page = ""
        while not page and time.monotonic() < deadline:
            try:
                page = get(base + "/")[1]
            except OSError:
                time.sleep(0.2)
        assert '"title": "Delivery"' in page or '"title":"Delivery"' in page
        assert SECRET not in page, "secrets must not be embedded in the page"
        live: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = delivery_rows(base)
            consumers = [r for r in rows if r["name"].startswith("w0-c")]
            if len(consumers) == 2 and all(r["delivered"] > 0 for r in consumers):
                live = rows
                break
            time.sleep(0.5)
        assert live, "the tab showed no per-consumer deliveries while the run was going"
        total = next(r for r in live if r["name"] == "all consumers")
        assert total["delivered"] == sum(r["delivered"] for r in live if r["name"].startswith("w0-c"))
        assert total["e2e_p50_ms"] != "" and 0.5 <= float(total["fairness"]) <= 1.0
        link = None
        while link is None and time.monotonic() < deadline + timeout(60):
            link = next((r["link"] for r in delivery_rows(base) if r.get("link")), None)
            time.sleep(0.5)
        assert link is not None, "the analysis report was never linked"
        status, report = get(base + link)
        assert status == 200 and "verdict: PASS" in report
        status, summary = get(base + "/streamharness/report")
        assert status == 200 and "verdict" in summary
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=timeout(30))
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    errors = stderr.decode()
    assert "Traceback" not in errors, errors[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["completed"] is True and manifest["drained"] is True
    assert SECRET not in (run_dir / "run.json").read_text()
