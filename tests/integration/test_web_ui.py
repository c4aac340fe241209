"""The Delivery tab of Locust's web UI, live during a run, and the analysis it links afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port, timeout

pytestmark = pytest.mark.slow

#: JSON escaping in the page turns & and ' into \u0026 and \u0027: the secret must be absent in every form.
SECRET = "tok&ui'5e4d3c2b1a"
SECRET_CORE = "5e4d3c2b1a"


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.status, response.read().decode()


def post(url: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    data = urllib.parse.urlencode(form or {}).encode()
    with urllib.request.urlopen(url, data=data, timeout=10) as response:  # noqa: S310 - loopback only
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def wait_for(what: str, check: Any, seconds: float = 30) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` when it never does."""
    deadline = time.monotonic() + timeout(seconds)
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


def manifest_of(run_dir: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
        return manifest
    except (OSError, ValueError):
        return {}


@contextmanager
def web_ui(tmp_path: Path, *args: str) -> Iterator[str]:
    """Locust with its web UI on a free loopback port; yields its base URL. Its log goes to tmp_path/ui.log."""
    port = free_port()
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--web-host", "127.0.0.1"]
    command += ["--web-port", str(port), "--reports-dir", str(tmp_path / "reports"), *args]
    with (tmp_path / "ui.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"

            def page_up() -> bool:
                try:
                    return get(base + "/")[0] == 200
                except OSError:
                    return False

            wait_for("the web UI answers", page_up)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout(30))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_dirs(reports: Path) -> list[Path]:
    return sorted(p for p in reports.iterdir() if p.is_dir()) if reports.is_dir() else []


def state(base: str) -> str:
    value: str = json.loads(get(base + "/stats/requests")[1])["state"]
    return value


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
        assert SECRET_CORE not in page, "secrets must not be embedded in the page"
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
    assert SECRET_CORE not in (run_dir / "run.json").read_text()


def test_bad_form_input_is_refused_and_a_stopped_runs_timeline_never_reaches_the_next_run(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with web_ui(tmp_path, "--rate", "20") as base:
        # bad input from the form: refused before any user starts, with the error in the UI's log
        post(base + "/swarm", {"rate": "-3"})
        wait_for("the refused run stops", lambda: state(base) == "stopped")
        logs = json.loads(get(base + "/logs")[1])["master"]
        assert any("--rate must be greater than 0" in line for line in logs), logs
        assert run_dirs(reports) == [], "a refused run writes no run folder"
        # run A (5 s of producing) is stopped after a second; run B produces until it is stopped
        post(base + "/swarm", {"rate": "20", "duration": "5"})
        (run_a,) = wait_for("run A starts", lambda: run_dirs(reports))
        a_started = wait_for("run A produces", lambda: manifest_of(run_a).get("producing_started_ns"))
        time.sleep(1)
        post(base + "/stop")
        wait_for("run A stops", lambda: manifest_of(run_a).get("stopped_early"))
        post(base + "/swarm", {"duration": "0"})
        (run_b,) = wait_for("run B starts", lambda: [p for p in run_dirs(reports) if p != run_a])
        wait_for("run B produces", lambda: manifest_of(run_b).get("producing_started_ns"))
        # past the moment A's timeline would have drained and ended whatever run was current
        time.sleep(max(0.0, (a_started + 9e9 - time.time_ns()) / 1e9))
        b_going = manifest_of(run_b)
        assert state(base) == "running" and "producing_stopped_ns" not in b_going and "stopped_ns" not in b_going
        post(base + "/stop")
        b_stopped = wait_for("run B stops", lambda: manifest_of(run_b).get("stopped_early") and manifest_of(run_b))
        for run_dir in (run_a, run_b):
            wait_for(f"the analysis of {run_dir.name}", lambda d=run_dir: (d / "analysis.txt").is_file(), 120)
    a = manifest_of(run_a)
    assert a["completed"] is False and "producing_stopped_ns" not in a and "drain_ended_ns" not in a
    assert b_stopped["completed"] is False and "producing_stopped_ns" not in b_stopped
    log = (tmp_path / "ui.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    for run_dir in (run_a, run_b):  # each run analysed once, never a run twice
        assert log.count(f"analysis of {run_dir} finished") == 1, log[-3000:]
