"""Capacity search against real emulated regions with known service-rate caps."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.report.capacity import PLOTS
from harness.targets.emulator import EmulatorProcess
from tests.browser import image_widths
from tests.conftest import ROOT, run_cli, timeout
from tests.integration.interrupting import interrupt_when
from tests.integration.refusing_server import refusing_server

pytestmark = pytest.mark.slow

FAST_PLAN = """
[search]
start_rate = 300
growth = 2.0
stage_seconds = 2
warmup_seconds = 0.5
max_rate = 20000
producers = 2
consumers = 2
resolution = 0.05
drain_timeout = 1
"""


def profile(tmp_path: Path, name: str, service_rate: float, latency_ms: float = 1.0) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(f"latency_ms = {latency_ms}\njitter_ms = 0.5\nservice_rate = {service_rate}\n")
    return path.name  # relative to the regions file, which sits beside it


def only_capacity_folder(reports: Path) -> Path:
    (folder,) = [p for p in reports.iterdir() if p.name.startswith("capacity-")]
    return folder


@pytest.mark.alone  # on a machine shared with other tests, stalls would blur the caps it measures
def test_capacity_found_is_within_ten_percent_of_each_cap_and_the_report_renders(tmp_path: Path) -> None:
    caps = {"small": 600.0, "large": 1500.0}
    regions = FAST_PLAN + "".join(
        f'\n[[region]]\nname = "{name}"\ntarget = "emulator"\nprofile = "{profile(tmp_path, name, cap)}"\n'
        for name, cap in caps.items()
    )
    # large starts at 1200 (80% of its cap, below the 90% the assertion needs to hold): the 300 and
    # 600 msg/s stages it skips could only hold, and the bracket and bisection above them are the same
    regions += "\n[region.search]\nstart_rate = 1200\n"
    (tmp_path / "regions.toml").write_text(regions)
    reports = tmp_path / "reports"
    result = run_cli(["capacity", str(tmp_path / "regions.toml"), "--reports-dir", str(reports)], seconds=400)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = only_capacity_folder(reports)
    document = json.loads((folder / "capacity.json").read_text())
    found = {entry["name"]: entry for entry in document["regions"]}
    for name, cap in caps.items():
        entry = found[name]
        assert entry["outcome"] == "found", entry
        stages = [(s["offered_rate"], s["holds"], s["reasons"]) for s in entry["stages"]]
        assert abs(entry["capacity_msg_s"] - cap) <= 0.10 * cap, (name, entry["capacity_msg_s"], cap, stages)
        assert entry["at_capacity"]["p99_ms"] is not None
        assert entry["first_failing"]["offered_rate"] > cap
        stages = entry["stages"]
        assert any(s["holds"] for s in stages) and any(not s["holds"] for s in stages)
        for stage in stages:
            assert (folder / stage["report"]).is_file(), "each stage's own report is linked"
    assert "small" in result.stdout and "capacity report:" in result.stdout
    page = folder / "capacity.html"
    text = page.read_text()
    assert all(f'href="{s["report"]}"' in text for e in document["regions"] for s in e["stages"])
    widths = image_widths(page, tmp_path / "profile")
    assert len(widths) == len(PLOTS) and all(w >= 600 for w in widths), widths


def test_a_saturated_generator_is_reported_not_a_capacity(tmp_path: Path) -> None:
    """One producer asked for 200,000 msg/s cannot keep its schedule: no capacity is claimed."""
    regions = f"""
[search]
start_rate = 200000
stage_seconds = 2
warmup_seconds = 0.5
max_rate = 400000
producers = 1
consumers = 1
drain_timeout = 1

[[region]]
name = "unbounded"
target = "emulator"
profile = "{profile(tmp_path, "unbounded", 0)}"
"""
    (tmp_path / "regions.toml").write_text(regions)
    reports = tmp_path / "reports"
    result = run_cli(["capacity", str(tmp_path / "regions.toml"), "--reports-dir", str(reports)], seconds=200)
    assert result.returncode == 0, result.stdout + result.stderr
    (entry,) = json.loads((only_capacity_folder(reports) / "capacity.json").read_text())["regions"]
    assert entry["outcome"] == "limited by the load generator"
    assert entry["capacity_msg_s"] is None
    assert entry["stages"][0]["limited_by_generator"] is True
    assert "limited by the load generator" in result.stdout


def test_a_region_that_fails_mid_search_is_reported_and_the_others_kept(tmp_path: Path) -> None:
    """A region's endpoint dies after its first stage: that region is failed, the next still searched."""
    emulator = EmulatorProcess()
    url = emulator.start()
    # "found" needs a holding and a failing stage, not the bracket narrowed to 5% (the alone test checks
    # accuracy): at growth 1.9 any bracket is within 99% of its holding rate, so the healthy region's
    # search ends at its first failing stage (300, 570 and 1083 msg/s at most) with no bisection
    plan = FAST_PLAN.replace("growth = 2.0", "growth = 1.9").replace("resolution = 0.05", "resolution = 0.99")
    regions = (
        plan
        + f'\n[[region]]\nname = "dying"\ntarget = "pulsar"\nurl = "{url.replace("http://", "ws://")}"\n'
        + f'\n[[region]]\nname = "healthy"\ntarget = "emulator"\nprofile = "{profile(tmp_path, "healthy", 600)}"\n'
    )
    (tmp_path / "regions.toml").write_text(regions)
    reports = tmp_path / "reports"

    def kill_after_first_stage() -> None:
        deadline = time.monotonic() + timeout(120)
        while time.monotonic() < deadline:
            if list(reports.glob("capacity-*/stages/dying-01-*/summary.json")):
                break
            time.sleep(0.05)
        emulator.stop()

    killer = threading.Thread(target=kill_after_first_stage)
    killer.start()
    try:
        result = run_cli(["capacity", str(tmp_path / "regions.toml"), "--reports-dir", str(reports)], seconds=400)
    finally:
        killer.join(timeout(130))
        emulator.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    entries = {
        e["name"]: e for e in json.loads((only_capacity_folder(reports) / "capacity.json").read_text())["regions"]
    }
    assert entries["dying"]["outcome"] == "failed" and entries["dying"]["error"]
    assert entries["dying"]["capacity_msg_s"] is None and len(entries["dying"]["stages"]) >= 1
    assert entries["healthy"]["outcome"] == "found"


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_regions_files_stop_before_any_load(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    path = tmp_path / "regions.toml"
    path.write_text(
        FAST_PLAN + '\n[[region]]\nname = "x"\ntarget = "gdn"\nurl = "https://h"\napi_key_env = "SH_NOPE"\n'
    )
    assert_one_line_error(
        run_cli(["capacity", str(path), "--reports-dir", str(reports)]), str(path), "region 'x'", "api_key_env"
    )
    path.write_text(FAST_PLAN + '\n[[region]]\nname = "x"\ntarget = "emulator"\nprofile = "mars"\n')
    assert_one_line_error(run_cli(["capacity", str(path), "--reports-dir", str(reports)]), "region 'x'", "profile")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    path.write_text(FAST_PLAN + f'\n[[region]]\nname = "far"\ntarget = "pulsar"\nurl = "ws://127.0.0.1:{port}"\n')
    assert_one_line_error(
        run_cli(["capacity", str(path), "--reports-dir", str(reports)]), "region 'far'", "url", "cannot reach"
    )
    with refusing_server(401, "invalid credentials") as url:
        path.write_text(
            FAST_PLAN + f'\n[[region]]\nname = "g"\ntarget = "gdn"\nurl = "{url}"\ntoken_env = "SH_TEST_JWT"\n'
        )
        env = {**os.environ, "SH_TEST_JWT": "h.eyJ0ZW5hbnQiOiJ0In0.s"}  # a JWT whose tenant claim is "t"
        refused = subprocess.run(
            [sys.executable, "-m", "harness", "capacity", str(path), "--reports-dir", str(reports)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout(60),
        )
    assert_one_line_error(refused, "region 'g'", "token_env", "HTTP 401 the credentials were refused")
    assert "eyJ0ZW5hbnQiOiJ0In0" not in refused.stderr + refused.stdout
    assert not reports.exists() or not list(reports.iterdir()), "no load ran"


def test_regions_searched_in_parallel_all_land_in_capacity_json(tmp_path: Path) -> None:
    # starting at the max rate, each region's one stage holds and ends its search "above max rate"
    plan = FAST_PLAN.replace("max_rate = 20000", "max_rate = 600").replace("start_rate = 300", "start_rate = 600")
    regions = (
        "parallel = true\n"
        + plan
        + "".join(
            f'\n[[region]]\nname = "r{i}"\ntarget = "emulator"\nprofile = "{profile(tmp_path, f"r{i}", 0)}"\n'
            for i in range(3)
        )
    )
    (tmp_path / "regions.toml").write_text(regions)
    reports = tmp_path / "reports"
    result = run_cli(["capacity", str(tmp_path / "regions.toml"), "--reports-dir", str(reports)], seconds=300)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((only_capacity_folder(reports) / "capacity.json").read_text())
    assert document["parallel"] is True and document["finished"] is not None
    assert sorted(e["name"] for e in document["regions"]) == ["r0", "r1", "r2"]
    assert all(e["outcome"] == "above max rate" and e["capacity_msg_s"] == 600 for e in document["regions"])


def test_ctrl_c_ends_a_parallel_search_with_every_locust_and_keeps_what_was_found(tmp_path: Path) -> None:
    """SIGINT while two regions search side by side: every child ends, the report says interrupted."""
    plan = FAST_PLAN.replace("stage_seconds = 2", "stage_seconds = 60")
    regions = "parallel = true\n" + plan
    regions += "".join(
        f'\n[[region]]\nname = "r{i}"\ntarget = "emulator"\nprofile = "{profile(tmp_path, f"r{i}", 0)}"\n'
        for i in range(2)
    )
    (tmp_path / "regions.toml").write_text(regions)
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "harness", "capacity", str(tmp_path / "regions.toml")]
    process = subprocess.Popen(
        [*command, "--reports-dir", str(reports)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    ended = interrupt_when(  # once both regions' first stages are sending
        process, lambda: len(list(reports.glob("capacity-*/stages/r*-01-*/events/*.csv"))) >= 2, signal.SIGINT
    )
    assert len(ended.descendants) >= 4 and ended.survivors == [], "both regions' Locust and emulator end with it"
    assert ended.returncode == 130, ended.out + ended.err
    document = json.loads((only_capacity_folder(reports) / "capacity.json").read_text())
    assert sorted(e["name"] for e in document["regions"]) == ["r0", "r1"]
    assert all(e["outcome"] == "interrupted" and e["capacity_msg_s"] is None for e in document["regions"])
    assert (only_capacity_folder(reports) / "capacity.html").is_file() and "interrupted" in ended.out
