"""Bad input to every command, table-driven: exit code 2, one line on stderr, no traceback, no run folder.

Each case runs as a process of its own with a timeout, so a case that hangs fails instead of hanging
the suite. Every case is refused before any load starts, so none takes more than a moment.
Locust's entry (``locust -f locustfile.py``) logs one INFO line, "Starting Locust <version>", before
it loads the locustfile: that line is Locust's and unavoidable there, and it is the only line ignored.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow
import pytest

from harness import cli as harness_cli
from harness.events.schema import COLUMNS, EVENTS_DIR, RUN_JSON
from tests.conftest import ROOT, free_port, timeout

#: Locust's own start-up log line, printed before the harness is loaded; nothing else is ignored.
LOCUST_START_LINE = re.compile(r"^\[[\d\- :,]+\] \S+/INFO/locust\.main: Starting Locust \S+$")

#: A master port of the case's own (see tests.conftest.own_master_port), filled in per case.
PORTS: tuple[str, ...] = ("--master-bind-host", "127.0.0.1", "--master-bind-port", "{port}")
PORTS += ("--master-host", "127.0.0.1", "--master-port", "{port}")

REGION = '[[region]]\nname = "lab"\ntarget = "emulator"\n'


@dataclass(frozen=True)
class Case:
    """One bad input: which entry, its arguments ({tmp}, {reports}, {file} ... filled in), and the line's gist."""

    entry: str  # "cli" (python -m harness) or "locust" (locust -f locustfile.py --headless)
    args: tuple[str, ...]
    fragment: str
    env: dict[str, str] = field(default_factory=dict)


def cli(*args: str, fragment: str, env: dict[str, str] | None = None) -> Case:
    return Case("cli", args, fragment, env or {})


def locust(*args: str, fragment: str) -> Case:
    return Case("locust", args, fragment)


def load(*args: str, fragment: str, env: dict[str, str] | None = None) -> Case:
    """``streamharness load`` with the case's reports folder."""
    return cli(
        "load", *args, *(() if "--reports-dir" in args else ("--reports-dir", "{reports}")), fragment=fragment, env=env
    )


CASES: dict[str, Case] = {
    # load: numbers that are not finite
    "load-rate-nan": load("--rate", "nan", fragment="--rate must be a finite number"),
    "load-rate-inf": load("--rate", "inf", fragment="--rate must be a finite number"),
    "load-rate-minus-inf": load("--rate=-inf", fragment="--rate must be"),
    "load-rate-huge": load("--rate", "1e300", fragment="--rate must be between"),
    "load-rate-tiny": load("--rate", "1e-300", fragment="--rate must be greater than 0 messages/s (at least"),
    "load-duration-nan": load("--duration", "nan", fragment="--duration must be a finite number"),
    "load-duration-inf": load("--duration", "inf", fragment="--duration must be a finite number"),
    "load-duration-1e300": load("--duration", "1e300", fragment="--duration must be between 0 and"),
    "load-drain-timeout-nan": load("--drain-timeout", "nan", fragment="--drain-timeout must be a finite"),
    "load-drain-timeout-inf": load("--drain-timeout", "inf", fragment="--drain-timeout must be a finite"),
    "load-churn-inf": load("--churn-interval", "inf", fragment="--churn-interval must be a finite"),
    "load-churn-nan": load("--churn-interval", "nan", fragment="--churn-interval must be a finite"),
    "load-processing-nan": load("--processing-ms", "nan", fragment="--processing-ms must be a finite"),
    "load-processing-negative": load("--processing-ms", "-1", fragment="--processing-ms must be between"),
    "load-ack-delay-inf": load("--ack-delay-ms", "inf", fragment="--ack-delay-ms must be a finite"),
    "load-nack-probability-nan": load("--nack-probability", "nan", fragment="--nack-probability must be a finite"),
    "load-ramp-from-inf": load("--rate-profile", "ramp", "--ramp-from", "inf", fragment="--ramp-from must be a finite"),
    "load-step-rates-inf": load("--rate-profile", "step", "--step-rates", "10,inf", fragment="--step-rates"),
    "load-step-rates-nan": load("--rate-profile", "step", "--step-rates", "nan,10", fragment="--step-rates"),
    "load-step-seconds-inf": load(
        "--rate-profile", "step", "--step-rates", "10", "--step-seconds", "inf", fragment="--step-seconds must be a"
    ),
    "load-step-seconds-too-long": load(
        "--rate-profile", "step", "--step-rates", "10,20", "--step-seconds", "20000000", fragment="--step-rates and"
    ),
    # load: what the endpoint would refuse at the handshake (Java ints, Pulsar's least ack timeout)
    "load-receiver-queue-past-int": load(
        "--receiver-queue-size", "2147483648", fragment="--receiver-queue-size must be between 0 and 2147483647"
    ),
    "load-permits-past-int": load("--pull-mode", "--permits", "2147483648", fragment="--permits must be between"),
    "load-ack-timeout-999": load(
        "--ack-timeout-ms", "999", fragment="--ack-timeout-ms must be 0 (off) or at least 1000"
    ),
    "load-ack-timeout-1": load("--ack-timeout-ms", "1", fragment="--ack-timeout-ms must be 0 (off)"),
    "load-ack-timeout-past-int": load("--ack-timeout-ms", "2147483648", fragment="--ack-timeout-ms must be between"),
    "load-nack-delay-past-int": load("--nack-delay-ms", "2147483648", fragment="--nack-delay-ms must be between"),
    "load-keys-past-int": load("--keys", "99999999999", fragment="--keys must be between"),
    "load-producers-absurd": load("--producers", "10000000", fragment="--producers must be between"),
    "load-consumers-absurd": load("--consumers", "10000000", fragment="--consumers must be between"),
    "load-size-past-frame": load("--size", "2000000", fragment="frame limit"),
    "load-processes-negative": load("--processes", "-1", fragment="--processes"),
    # load: URLs
    "load-ipv6-missing-close-bracket": load(
        "--target", "pulsar", "--url", "ws://[::1:8080", fragment="--url 'ws://[::1:8080' is not a valid URL"
    ),
    "load-ipv6-missing-open-bracket": load(
        "--target", "pulsar", "--url", "ws://::1]:8080", fragment="is not a valid URL"
    ),
    "load-url-port-0": load("--target", "pulsar", "--url", "ws://127.0.0.1:0", fragment="has a bad port"),
    "load-url-control-character": load(
        "--target", "pulsar", "--url", "ws://a\x01b:8080", fragment="holds a space or a control character"
    ),
    "load-subscription-past-a-request-line": load(
        "--subscription", "s" * 100_000, fragment="--subscription is 100000 characters, over 1000"
    ),
    "load-topic-past-a-request-line": load(
        "--topic", "persistent://public/default/" + "t" * 5000, fragment="--topic is 5028 characters"
    ),
    "locust-reports-dir-empty": locust("--reports-dir", "", fragment="--reports-dir must not be empty"),
    "load-region-url-bad-ipv6": load("--region-url", "https://[fe80::1", fragment="--region-url"),
    # load: where the run goes
    "load-reports-dir-is-a-file": load("--reports-dir", "{file}", fragment="is not a folder"),
    "load-reports-dir-under-a-file": load("--reports-dir", "{file}/reports", fragment="cannot create it"),
    "load-reports-dir-in-dev-null": load("--reports-dir", "/dev/null/reports", fragment="/dev/null is not a folder"),
    "load-reports-dir-read-only": load(
        "--reports-dir", "/proc/streamharness-reports", fragment="cannot create it (/proc: "
    ),
    "load-reports-dir-empty": load("--reports-dir", "", fragment="--reports-dir must not be empty"),
    "load-reports-dir-name-too-long": load("--reports-dir", "{tmp}/" + "a" * 300, fragment="over 255 bytes"),
    "load-reports-dir-path-too-long": load(
        "--reports-dir", "{tmp}/" + "/".join(["a" * 200] * 25), fragment="paths reach 4096 bytes"
    ),
    "load-env-reports-dir-empty": cli("load", fragment="must not be empty", env={"STREAMHARNESS_REPORTS_DIR": ""}),
    "load-run-id-parent": load("--run-id", "../x", fragment="--run-id '../x': must be a plain name"),
    "load-run-id-slash": load("--run-id", "a/b", fragment="must be a plain name"),
    "load-run-id-absolute": load("--run-id", "/tmp/x", fragment="must be a plain name"),
    "load-run-id-hidden": load("--run-id", ".hidden", fragment="must be a plain name"),
    "load-run-id-dots": load("--run-id", "..", fragment="must be a plain name"),
    "load-run-id-space": load("--run-id", "a b", fragment="must be a plain name"),
    "load-run-id-too-long": load("--run-id", "x" * 200, fragment="longer than 128 characters"),
    "load-run-id-in-use": load("--run-id", "taken", fragment="exists already"),
    # load: the verdict's thresholds
    "load-max-p99-inf": load("--max-p99-ms", "inf", fragment="--max-p99-ms: must be a finite number"),
    "load-min-jain-nan": load("--min-jain", "nan", fragment="--min-jain: must be a finite number"),
    "load-min-jain-above-one": load("--min-jain", "2", fragment="--min-jain: must be between 0 and 1"),
    "load-thresholds-nan": load("--thresholds", "{tmp}/nan.toml", fragment="must be a finite number >= 0"),
    "load-thresholds-inf": load("--thresholds", "{tmp}/inf.toml", fragment="must be a finite number >= 0"),
    # load: the environment
    "load-env-rate-nan": load(fragment="--rate must be a finite number", env={"STREAMHARNESS_RATE": "nan"}),
    "load-env-duration-inf": load(fragment="--duration must be a finite", env={"STREAMHARNESS_DURATION": "inf"}),
    "load-env-ack-timeout": load(fragment="--ack-timeout-ms", env={"STREAMHARNESS_ACK_TIMEOUT_MS": "100"}),
    # analyze and report: their options and run folders
    "analyze-window-inf": cli("analyze", "{run}", "--window-s", "inf", fragment="--window-s: must be a finite"),
    "analyze-window-nan": cli("analyze", "{run}", "--window-s", "nan", fragment="--window-s: must be a finite"),
    "analyze-window-1e-9": cli("analyze", "{run}", "--window-s", "1e-9", fragment="--window-s: must be between 0.001"),
    "analyze-window-zero": cli("analyze", "{run}", "--window-s", "0", fragment="--window-s: must be between"),
    "analyze-starvation-inf": cli("analyze", "{run}", "--starvation-s", "inf", fragment="--starvation-s"),
    "analyze-ack-grace-nan": cli("analyze", "{run}", "--ack-grace-ms", "nan", fragment="--ack-grace-ms"),
    "analyze-ack-grace-huge": cli("analyze", "{run}", "--ack-grace-ms", "1e300", fragment="--ack-grace-ms"),
    "analyze-max-p99-nan": cli("analyze", "{run}", "--max-p99-ms", "nan", fragment="--max-p99-ms"),
    "analyze-min-jain-inf": cli("analyze", "{run}", "--min-jain", "inf", fragment="--min-jain"),
    "analyze-thresholds-nan": cli("analyze", "{run}", "--thresholds", "{tmp}/nan.toml", fragment="max_p99_ms"),
    "analyze-thresholds-jain-above-one": cli(
        "analyze", "{run}", "--thresholds", "{tmp}/jain.toml", fragment="between 0 and 1"
    ),
    "analyze-thresholds-fifo": cli("analyze", "{run}", "--thresholds", "{tmp}/fifo", fragment="not a regular file"),
    "analyze-thresholds-nested": cli("analyze", "{run}", "--thresholds", "{tmp}/deep.toml", fragment="not valid TOML"),
    "analyze-thresholds-not-utf8": cli(
        "analyze", "{run}", "--thresholds", "{tmp}/bin.toml", fragment="bin.toml: not valid"
    ),
    "analyze-not-a-run-folder": cli("analyze", "{tmp}/empty", fragment="nothing to analyse"),
    "analyze-a-file": cli("analyze", "{file}", fragment="not a folder"),
    "analyze-missing": cli("analyze", "{tmp}/missing", fragment="no such run folder"),
    "analyze-unwritable-summary": cli("analyze", "{stuck}", "--no-report", fragment="cannot write the summary"),
    "report-unwritable-summary": cli("report", "{stuck}", fragment="cannot write the summary"),
    "report-window-inf": cli("report", "{run}", "--window-s", "inf", fragment="--window-s"),
    "report-not-a-run-folder": cli("report", "{tmp}/empty", fragment="nothing to analyse"),
    # compare
    "compare-missing": cli("compare", "{tmp}/missing", "{run}", fragment="missing"),
    "compare-garbage-summary": cli("compare", "{file}", "{file}", fragment="unreadable summary"),
    "compare-nested-summary": cli("compare", "{run}", "{tmp}/nested.json", fragment="unreadable summary (maximum"),
    # capacity: regions files and where the report goes
    "capacity-start-rate-nan": cli("capacity", "{tmp}/regions-nan.toml", fragment="start_rate: must be a finite"),
    "capacity-max-rate-inf": cli("capacity", "{tmp}/regions-inf.toml", fragment="max_rate: must be a finite"),
    "capacity-slo-p99-inf": cli("capacity", "{tmp}/regions-p99.toml", fragment="p99_ms: must be a finite"),
    "capacity-region-slo-nan": cli("capacity", "{tmp}/regions-region-slo.toml", fragment="min_jain: must be a finite"),
    "capacity-resolution-tiny": cli("capacity", "{tmp}/regions-resolution.toml", fragment="resolution"),
    "capacity-producers-absurd": cli("capacity", "{tmp}/regions-producers.toml", fragment="producers"),
    "capacity-stage-seconds-huge": cli("capacity", "{tmp}/regions-stage.toml", fragment="stage_seconds"),
    "capacity-region-name-parent": cli("capacity", "{tmp}/regions-name.toml", fragment="name: must be a plain name"),
    "capacity-bad-ipv6-url": cli("capacity", "{tmp}/regions-ipv6.toml", fragment="not a valid URL"),
    "capacity-profile-nan": cli("capacity", "{tmp}/regions-profile.toml", fragment="latency_ms must be a finite"),
    "capacity-reports-dir-a-file": cli(
        "capacity", "{tmp}/regions-good.toml", "--reports-dir", "{file}", fragment="is not a folder"
    ),
    "capacity-missing-file": cli("capacity", "{tmp}/nope.toml", fragment="no such file"),
    "capacity-regions-fifo": cli("capacity", "{tmp}/fifo", fragment="fifo: not a regular file"),
    "capacity-regions-dev-zero": cli("capacity", "/dev/zero", fragment="/dev/zero: not a regular file"),
    "capacity-regions-nested": cli("capacity", "{tmp}/deep.toml", fragment="not valid TOML (maximum recursion"),
    "emulator-profile-nested": cli("emulator", "--port", "0", "--profile", "{tmp}/deep.toml", fragment="recursion"),
    # emulator
    "emulator-port-out-of-range": cli("emulator", "--port", "70000", fragment="port out of range"),
    "emulator-batch-zero": cli("emulator", "--round-robin-batch", "0", fragment="--round-robin-batch"),
    "emulator-batch-absurd": cli("emulator", "--round-robin-batch", "99999999999999999999", fragment="must be from 1"),
    "emulator-backlog-bytes-absurd": cli("emulator", "--backlog-bytes", "1" + "0" * 30, fragment="--backlog-bytes"),
    "emulator-profile-nan": cli(
        "emulator", "--port", "0", "--profile", "{tmp}/nan-profile.toml", fragment="latency_ms"
    ),
    "emulator-profile-inf-rate": cli(
        "emulator", "--port", "0", "--profile", "{tmp}/inf-profile.toml", fragment="service_rate"
    ),
    "emulator-fault-nan": cli("emulator", "--port", "0", "--fault", "drop=nan", fragment="bad fault"),
    "emulator-tls-without-dir": cli("emulator", "--port", "0", "--tls", fragment="--tls and --cert-dir"),
    "emulator-truth-log-under-a-file": cli(
        "emulator", "--port", "0", "--truth-log", "{file}/truth.jsonl", fragment="cannot write the truth log"
    ),
    "emulator-truth-log-fifo": cli(
        "emulator", "--port", "0", "--truth-log", "{tmp}/fifo", fragment="fifo: not a regular file"
    ),
    "emulator-bad-host": cli("emulator", "--port", "0", "--host", "999.1.1.1", fragment="cannot listen"),
    # collect
    "collect-not-a-run-folder": cli("collect", "{tmp}/empty", "{run}", fragment="not a run folder"),
    "collect-events-is-a-file": cli("collect", "{flat}", "{run}", fragment="cannot make its events folder"),
    "collect-missing-source": cli("collect", "{run}", "{tmp}/missing", fragment="no such folder"),
    "collect-fifo-source": cli("collect", "{run}", "{tmp}/piped/run", fragment="w1-2.csv: not an events file"),
    "collect-binary-source": cli("collect", "{run}", "{tmp}/elsewhere/run", fragment="not an events file"),
    # Locust's own entry: the same refusals at init, before any user starts
    "locust-rate-nan": locust("--rate", "nan", fragment="--rate must be a finite number"),
    "locust-duration-inf": locust("--duration", "inf", fragment="--duration must be a finite number"),
    "locust-duration-1e300": locust("--duration", "1e300", fragment="--duration must be between"),
    "locust-drain-timeout-nan": locust("--drain-timeout", "nan", fragment="--drain-timeout must be a finite"),
    "locust-ack-timeout-500": locust("--ack-timeout-ms", "500", fragment="--ack-timeout-ms must be 0 (off)"),
    "locust-receiver-queue-past-int": locust("--receiver-queue-size", "2147483648", fragment="--receiver-queue-size"),
    "locust-step-rates-inf": locust("--rate-profile", "step", "--step-rates", "1,inf", fragment="--step-rates"),
    "locust-ipv6-url": locust("--target", "pulsar", "--url", "ws://[::1:80", fragment="is not a valid URL"),
    "locust-run-id-parent": locust("--run-id", "../x", fragment="must be a plain name"),
    "locust-run-id-in-use": locust("--run-id", "taken", fragment="exists already"),
    "locust-reports-dir-a-file": locust("--reports-dir", "{file}", fragment="is not a folder"),
    "locust-processes-rate-nan": locust(
        "--processes", "2", *PORTS, "--rate", "nan", fragment="--rate must be a finite number"
    ),
    "locust-processes-run-id-in-use": locust(
        "--processes", "2", *PORTS, "--run-id", "taken", fragment="exists already"
    ),
    "locust-reports-dir-under-a-file": locust("--reports-dir", "{file}/r", fragment="cannot create it"),
}


def prepare(tmp: Path) -> dict[str, str]:
    """The files the cases point at; returns the placeholders' values."""
    (tmp / "file").write_text("not a folder\n")
    reports = tmp / "reports"
    (reports / "taken" / EVENTS_DIR).mkdir(parents=True)  # another run's folder
    (tmp / "empty").mkdir()
    run = tmp / "run"
    (run / EVENTS_DIR).mkdir(parents=True)
    (run / RUN_JSON).write_text(json.dumps({"run_id": "run", "schema_version": 1, "completed": True}))
    (run / EVENTS_DIR / "local-1.csv").write_text(",".join(COLUMNS) + "\n")
    stuck = tmp / "stuck"
    (stuck / EVENTS_DIR).mkdir(parents=True)
    (stuck / RUN_JSON).write_text((run / RUN_JSON).read_text())
    (stuck / EVENTS_DIR / "local-1.csv").write_text(",".join(COLUMNS) + "\n")
    (stuck / "summary.json").mkdir()  # summary.json cannot be written: a folder holds its name
    flat = tmp / "flat"
    flat.mkdir()
    (flat / RUN_JSON).write_text((run / RUN_JSON).read_text())
    (flat / EVENTS_DIR).write_text("a file where the events folder goes\n")
    copy = tmp / "elsewhere" / "run" / EVENTS_DIR  # a worker's copy of the run, with a file that is not events
    copy.mkdir(parents=True)
    (copy / "w1-2.csv").write_bytes(b"\x00\xff\xfe binary\n")
    os.mkfifo(tmp / "fifo")  # a read of it blocks until a writer comes: it must be refused, not read
    (tmp / "deep.toml").write_text("a = " + "{b=" * 1000 + "1" + "}" * 1000 + "\n")  # past the recursion limit
    (tmp / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp / "piped" / "run" / EVENTS_DIR).mkdir(parents=True)  # a worker's copy whose events file is a FIFO
    os.mkfifo(tmp / "piped" / "run" / EVENTS_DIR / "w1-2.csv")
    (tmp / "bin.toml").write_bytes(b"\xff\xfe max_lost = 1\n")
    (tmp / "nan.toml").write_text("max_p99_ms = nan\n")
    (tmp / "inf.toml").write_text("[thresholds]\nmin_jain = inf\n")
    (tmp / "jain.toml").write_text("min_jain = 1.5\n")
    (tmp / "nan-profile.toml").write_text("latency_ms = nan\n")
    (tmp / "inf-profile.toml").write_text("service_rate = inf\n")
    regions = {
        "good": REGION,
        "nan": "[search]\nstart_rate = nan\n" + REGION,
        "inf": "[search]\nmax_rate = inf\n" + REGION,
        "p99": "[slo]\np99_ms = inf\n" + REGION,
        "region-slo": REGION + "[region.slo]\nmin_jain = nan\n",
        "resolution": "[search]\nresolution = 1e-300\n" + REGION,
        "producers": "[search]\nproducers = 9223372036854775807\n" + REGION,
        "stage": "[search]\nstage_seconds = 1e300\n" + REGION,
        "name": REGION.replace('"lab"', '"../x"'),
        "ipv6": REGION.replace('"emulator"', '"pulsar"\nurl = "ws://[::1:8080"'),
        "profile": REGION + 'profile = "nan-profile.toml"\n',
    }
    for name, text in regions.items():
        (tmp / f"regions-{name}.toml").write_text(text)
    return {
        "{tmp}": str(tmp),
        "{reports}": str(reports),
        "{file}": str(tmp / "file"),
        "{run}": str(run),
        "{stuck}": str(stuck),
        "{flat}": str(flat),
        "{port}": str(free_port()),
    }


def filled(arg: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        arg = arg.replace(key, value)
    return arg


def command(case: Case, values: dict[str, str]) -> list[str]:
    args = [filled(arg, values) for arg in case.args]
    if case.entry == "locust":
        if "--reports-dir" not in case.args:
            args += ["--reports-dir", values["{reports}"]]
        return [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", *args]
    return [sys.executable, "-m", "harness", *args]


def error_lines(stderr: str, entry: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if entry == "locust":
        lines = [line for line in lines if not LOCUST_START_LINE.match(line)]
    return lines


def test_the_table_covers_every_command_with_at_least_60_cases() -> None:
    commands = {case.args[0] if case.entry == "cli" and case.args else case.entry for case in CASES.values()}
    assert commands >= {"load", "analyze", "report", "compare", "capacity", "emulator", "collect", "locust"}
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_exit_code_2(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    values = prepare(tmp_path)
    reports = Path(values["{reports}"])
    before = sorted(reports.rglob("*"))
    env = {**os.environ, **case.env}
    env.pop("STREAMHARNESS_DEBUG", None)
    result = subprocess.run(
        command(case, values), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout(60)
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = error_lines(result.stderr, case.entry)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(("streamharness", "locust")) and case.fragment in lines[0], lines[0]
    assert sorted(reports.rglob("*")) == before, "a refused run left a folder behind"
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists(), "a run id escaped its folder"


def failing_parser(error: BaseException) -> argparse.ArgumentParser:
    """A parser whose only command raises ``error``: what a bug or a broken disk looks like from the top."""

    def run(_: argparse.Namespace) -> int:
        raise error

    parser = argparse.ArgumentParser()
    parser.set_defaults(run=run)
    return parser


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (PermissionError(13, "Permission denied", "/reports/r1/summary.json"), "/reports/r1/summary.json: Permission"),
        (IsADirectoryError(21, "Is a directory", "a", None, "b"), "a -> b: Is a directory"),
        (ValueError("could not convert\nstring to float"), "could not convert string to float (ValueError)"),
        (MemoryError(), "out of memory"),
        (pyarrow.ArrowInvalid("CSV parse error: Expected 9 columns"), "Expected 9 columns (ArrowInvalid)"),
        (RecursionError("maximum recursion depth exceeded"), "maximum recursion depth exceeded (RecursionError)"),
        (OverflowError("int too large to convert to float"), "int too large to convert to float (OverflowError)"),
    ],
)
def test_an_unexpected_error_is_one_line_and_exit_code_2(
    error: BaseException, fragment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(harness_cli.DEBUG_ENV, raising=False)
    monkeypatch.setattr(harness_cli, "build_parser", lambda: failing_parser(error))
    assert harness_cli.main([]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamharness: error: ") and fragment in lines[0], lines
    assert f"{harness_cli.DEBUG_ENV}=1" in lines[0]


def test_debug_shows_the_traceback_and_a_bug_is_never_hidden(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(harness_cli, "build_parser", lambda: failing_parser(OSError(5, "Input/output error")))
    monkeypatch.setenv(harness_cli.DEBUG_ENV, "1")
    with pytest.raises(OSError, match="Input/output error"):
        harness_cli.main([])
    monkeypatch.delenv(harness_cli.DEBUG_ENV)
    monkeypatch.setattr(harness_cli, "build_parser", lambda: failing_parser(KeyError("bug")))
    # Not bad input: a bug keeps its traceback, but exits 2, never 1 (the verdict FAIL).
    assert harness_cli.main([]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'bug'" in err, err


def test_debug_traceback_through_the_command(tmp_path: Path) -> None:
    (tmp_path / "stuck" / EVENTS_DIR).mkdir(parents=True)
    (tmp_path / "stuck" / EVENTS_DIR / "local-1.csv").write_text(",".join(COLUMNS) + "\n")
    (tmp_path / "stuck" / "summary.json").mkdir()
    env = {**os.environ, harness_cli.DEBUG_ENV: "1"}
    result = subprocess.run(
        [sys.executable, "-m", "harness", "analyze", str(tmp_path / "stuck"), "--no-report"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout(60),
    )
    assert result.returncode != 0 and "Traceback" in result.stderr, result.stderr


@pytest.mark.slow
def test_two_runs_with_one_run_id_at_once_never_share_its_folder(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "harness", "load", "--duration", "2", "--rate", "20", "--drain-timeout", "5"]
    command += ["--reports-dir", str(tmp_path), "--run-id", "same"]
    runs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        outputs = [run.communicate(timeout=timeout(120)) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 2], outputs
    refused = next(err for run, (_, err) in zip(runs, outputs, strict=True) if run.returncode == 2)
    assert "Traceback" not in refused
    assert [line for line in refused.splitlines() if "error" in line] == [
        f"streamharness: error: run folder {str(tmp_path / 'same')!r} exists already; a run is never appended to "
        "another (choose another --run-id, or none for a fresh one)"
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["same"]
    events = list((tmp_path / "same" / EVENTS_DIR).glob("*.csv"))
    assert len(events) == 1, "one run's events only"
