"""Native pulsar-client driver against the WebSocket driver and a bare pulsar-client loop, in one run.

Three configurations, each climbing a ladder of offered total rates (STAGE_S per stage, one process
per climb) with PRODUCERS producers and CONSUMERS Shared consumers of 100-byte messages doing the
full cycle (produce, publish ack, delivery, ack; under Locust all four event rows are written):

* native: one Locust process with ``--target pulsar --url pulsar://...`` against pulsar-lite;
* ws: one Locust process with the WebSocket driver against the emulator;
* raw: tests/bench/raw_native_loop.py, pulsar-client with no Locust, against pulsar-lite (the ceiling).

The load process runs on core 0 and the broker or emulator on core 1 (``taskset``). A stage holds
when the sends reach 99% of its schedule and publish acks, deliveries and acks within the stage
reach 99% of its sends; each climb reports its highest held stage and the CPU per delivered message
of the whole load process there (psutil user + system, so pulsar-client's own C++ threads count).
All climb the same ladder, so CPU per message is compared at an equal offered rate; a climb ends
once it is clearly past its limit (tests/bench/native_watch.py). Each climb repeats REPEATS times,
interleaved, and medians with min-max are printed. Machines are noisy: compare the ratios of one
run, not absolute figures across runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from harness.analysis.load import load_run
from harness.events import schema
from harness.targets.emulator import EmulatorProcess
from harness.targets.pulsar_lite import LiteProcess
from tests.bench.native_watch import ClimbWatch

ROOT = Path(__file__).resolve().parents[2]
LOAD_CORE, PEER_CORE = 0, 1
PRODUCERS = 10
CONSUMERS = 4
SIZE = 100
STAGE_S = 2.5
STEP = 1.15  # ladder ratio: the rate found is within one step (15%) below the true limit
#: One ladder for every climb, so CPU per message compares at equal offered rates; a climb ends
#: once it is clearly past its limit (ClimbWatch; the raw loop after two misses in a row).
LADDER = [round(3000 * STEP**k, -1) for k in range(18)]  # 3,000 .. ~32,000 msg/s
REPEATS = 3
HELD = 0.99
SAMPLE_S = 0.1
WATCH_S = 0.5
LOCUST_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Stage:
    """One held-or-not stage of a climb."""

    rate: float  # offered total msg/s
    held: bool
    sent_ratio: float  # sends over schedule
    delivered_per_s: float
    cpu_us_per_msg: float  # load process CPU per delivered message
    load_cpu_percent: float
    peer_cpu_percent: float  # broker's or emulator's
    others_percent: float  # what other processes took of the load core meanwhile (a busy machine)
    main_us_per_msg: float  # the part of cpu_us_per_msg spent on the main thread (Python: hub, users, harness)
    short: str = ""  # what missed the rule: "sent 0.95", "deliver 0.97 ack 0.97"


@dataclass(frozen=True)
class Climb:
    stages: list[Stage]
    note: str = ""

    @property
    def top(self) -> Stage | None:
        """The highest held stage."""
        held = [s for s in self.stages if s.held]
        return max(held, key=lambda s: s.rate) if held else None

    def at(self, rate: float) -> Stage | None:
        return next((s for s in self.stages if s.held and abs(s.rate - rate) < 1e-6), None)


def stop_by_pid(process: psutil.Popen) -> None:
    """SIGTERM, then SIGKILL if it lingers (a no-op once it has exited)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(10)


def pin_peer(pid: int) -> None:
    """Move every thread of a running broker or emulator to the peer core (-a: the broker has several)."""
    subprocess.run(["taskset", "-a", "-pc", str(PEER_CORE), str(pid)], capture_output=True, check=False)


def pinned(core: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *command] if shutil.which("taskset") else command


def shortfall(scheduled: float, counts: dict[str, int]) -> str:
    """The ratios that missed the rule (sends of the schedule, the rest of the sends); empty when held."""
    sent = counts["send"]
    ratios = {kind: n / max(1, sent) for kind, n in counts.items() if kind != "send"}
    ratios = {"send": sent / scheduled, **ratios}
    return " ".join(f"{kind} {ratio:.3f}" for kind, ratio in ratios.items() if ratio < HELD)


def cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


# --- raw pulsar-client loop -------------------------------------------------------------------


def raw_climb(service_url: str, rates: list[float], stage_s: float, broker_pid: int, folder: Path) -> Climb:
    command = [sys.executable, "-m", "tests.bench.raw_native_loop", service_url, ",".join(f"{r:g}" for r in rates)]
    command += [str(stage_s), str(broker_pid)]
    log_path = folder / f"raw-{time.time_ns()}.log"
    run = run_sampled(command, broker_pid, 30 + len(rates) * (stage_s + 1), log_path)
    text = log_path.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith('{"stages"')]
    if run.code != 0 or not lines:
        return Climb([], f"raw loop failed (exit {run.code}): {' | '.join(text.strip().splitlines()[-3:])}")
    stages = []
    for row in json.loads(lines[-1])["stages"]:
        delivered, seconds = max(1, row["delivered"]), row["seconds"]
        counts = {"send": row["sent"], "publish_ok": row["published"], "deliver": row["delivered"]}
        short = shortfall(row["scheduled"], counts)
        window = int(row["start_ns"]), int(row["end_ns"])
        stages.append(
            Stage(
                rate=row["rate"],
                held=not short,
                sent_ratio=row["sent"] / row["scheduled"],
                delivered_per_s=row["delivered"] / seconds,
                cpu_us_per_msg=1e6 * row["cpu_s"] / delivered,
                load_cpu_percent=100 * row["cpu_s"] / seconds,
                peer_cpu_percent=100 * row["peer_cpu_s"] / seconds,
                others_percent=run.sampler.others_percent(*window),
                main_us_per_msg=1e6 * run.sampler.between(run.sampler.main_cpu, *window) / delivered,
                short=short,
            )
        )
    return Climb(stages)


# --- sampling ----------------------------------------------------------------------------------


def core_busy(core: int) -> float:
    """Seconds the core has been busy, whatever ran on it."""
    times = psutil.cpu_times(percpu=True)[core]
    return float(times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0))


class Sampler:
    """CPU of the load process (and its main thread), its peer and the load core, stamped with wall time."""

    def __init__(self, load: psutil.Process, peer: psutil.Process) -> None:
        self.load, self.peer = load, peer
        self.t_ns: list[int] = []
        self.load_cpu: list[float] = []
        self.main_cpu: list[float] = []
        self.peer_cpu: list[float] = []
        self.core: list[float] = []

    def sample(self) -> bool:
        try:
            load, peer = cpu_of(self.load), cpu_of(self.peer)
            main = next((t.user_time + t.system_time for t in self.load.threads() if t.id == self.load.pid), 0.0)
        except psutil.Error:
            return False
        self.t_ns.append(time.time_ns())
        self.load_cpu.append(load)
        self.main_cpu.append(main)
        self.peer_cpu.append(peer)
        self.core.append(core_busy(LOAD_CORE))
        return True

    def between(self, which: list[float], a_ns: int, b_ns: int) -> float:
        if len(self.t_ns) < 2:
            return 0.0
        xs = np.array(self.t_ns, dtype=np.float64)
        return float(np.interp(b_ns, xs, which) - np.interp(a_ns, xs, which))

    def others_percent(self, a_ns: int, b_ns: int) -> float:
        """The load core's busy time not spent by the load process, over the window."""
        other = self.between(self.core, a_ns, b_ns) - self.between(self.load_cpu, a_ns, b_ns)
        return max(0.0, 100 * other / max(1e-9, (b_ns - a_ns) / 1e9))


@dataclass
class SampledRun:
    code: int | None
    sampler: Sampler
    stopped_ns: int = 0  # when the watch stopped it (0: it ran to its end)
    why: str = ""


def run_sampled(
    command: list[str], peer_pid: int, timeout: float, log_path: Path, watch: ClimbWatch | None = None
) -> SampledRun:
    """Run the load process pinned to the load core, sampling CPU until it exits; stop it early if the watch says so."""
    with open(log_path, "wb") as log:
        process = psutil.Popen(pinned(LOAD_CORE, command), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    run = SampledRun(None, Sampler(process, psutil.Process(peer_pid)))
    next_check = time.monotonic()
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline and run.sampler.sample():
        if watch is not None and not run.stopped_ns and time.monotonic() >= next_check:
            next_check += WATCH_S
            run.why = watch.verdict()
            if run.why:  # past the limit: Ctrl-C's orderly path still writes run.json and the events
                run.stopped_ns = time.time_ns()
                process.send_signal(signal.SIGINT)
                deadline = min(deadline, time.monotonic() + 20)
        time.sleep(SAMPLE_S)
    stop_by_pid(process)
    run.code = process.returncode
    return run


# --- Locust ------------------------------------------------------------------------------------


def locust_climb(name: str, args: list[str], rates: list[float], reports: Path, peer_pid: int) -> Climb:
    """One Locust process climbing ``rates`` after a warm-up stage at the first rate."""
    run_id = f"{name}-{time.time_ns()}"
    steps = ",".join(f"{r / PRODUCERS:g}" for r in [rates[0], *rates])
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary"]
    command += [*args, "--topic", f"persistent://public/default/{run_id}", "--subscription", run_id]
    command += ["--run-id", run_id, "--reports-dir", str(reports), "--producers", str(PRODUCERS)]
    command += ["--consumers", str(CONSUMERS), "--size", str(SIZE), "--rate-profile", "step"]
    command += ["--step-rates", steps, "--step-seconds", str(STAGE_S), "--drain-timeout", "3"]
    log_path = reports / f"{run_id}.log"
    watch = ClimbWatch(reports / run_id, [rates[0], *rates], STAGE_S)
    sampled = run_sampled(command, peer_pid, LOCUST_TIMEOUT_S, log_path, watch)
    sampler, stopped_ns, why = sampled.sampler, sampled.stopped_ns, sampled.why
    tail = " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-4:])
    try:
        run = load_run(reports / run_id)
    except Exception as exc:  # noqa: BLE001 - reported, the other climbs go on
        return Climb([], f"{name}: no run to read ({exc}); exit {sampled.code}: {tail}")
    manifest, events = run.manifest, run.events
    marks = manifest.get("stages") or []
    if len(marks) < 2:
        return Climb([], f"{name}: the run stopped before its stages (exit {sampled.code}): {tail}")
    times = {kind: np.sort(events.loc[events["kind"] == kind, "t_ns"].to_numpy()) for kind in KINDS}
    stopped = int(manifest.get("producing_stopped_ns") or 0) or stopped_ns or time.time_ns()
    ends = [int(m["started_ns"]) for m in marks[1:]] + [stopped]
    stages = []
    for mark, end in list(zip(marks, ends, strict=True))[1:]:  # the first stage is the warm-up
        start = int(mark["started_ns"])
        end = min(end, stopped_ns or end)
        rate = float(mark["rate"]) * PRODUCERS
        seconds = (end - start) / 1e9
        if seconds < 0.9 * STAGE_S:
            stages.append(Stage(round(rate), False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, f"cut short: {why}"))
            continue
        n = {k: int(np.searchsorted(t, end) - np.searchsorted(t, start)) for k, t in times.items()}
        load_cpu = sampler.between(sampler.load_cpu, start, end)
        short = shortfall(rate * seconds, n)
        stages.append(
            Stage(
                rate=round(rate),
                held=not short,
                sent_ratio=n[schema.SEND] / (rate * seconds),
                delivered_per_s=n[schema.DELIVER] / seconds,
                cpu_us_per_msg=1e6 * load_cpu / max(1, n[schema.DELIVER]),
                load_cpu_percent=100 * load_cpu / seconds,
                peer_cpu_percent=100 * sampler.between(sampler.peer_cpu, start, end) / seconds,
                others_percent=sampler.others_percent(start, end),
                main_us_per_msg=1e6 * sampler.between(sampler.main_cpu, start, end) / max(1, n[schema.DELIVER]),
                short=short,
            )
        )
    if stopped_ns:
        return Climb(stages, f"stopped early: {why}")
    note = "" if sampled.code == 0 else f"{name}: Locust exit {sampled.code}: {tail}"
    return Climb(stages, note)


KINDS = (schema.SEND, schema.PUBLISH_OK, schema.DELIVER, schema.ACK)


# --- report ---------------------------------------------------------------------------------------


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    if not values:
        return "n/a"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def rate_text(value: float) -> str:
    return f"{value:,.0f}"


def us_text(value: float) -> str:
    return f"{value:.1f}"


def ratio_text(value: float) -> str:
    return f"{value:.2f}x"


def describe(name: str, climbs: list[Climb], peer: str) -> None:
    tops = [c.top for c in climbs]
    held = [t.rate if t else 0.0 for t in tops]
    cpu = [t.cpu_us_per_msg for t in tops if t]
    load = [t.load_cpu_percent for t in tops if t]
    peer_cpu = [t.peer_cpu_percent for t in tops if t]
    others = [t.others_percent for t in tops if t]
    main = [t.main_us_per_msg for t in tops if t]
    threads = [max(0.0, t.cpu_us_per_msg - t.main_us_per_msg) for t in tops if t]
    print(
        f"{name:<6} highest held {spread(held, rate_text)} msg/s | there {spread(cpu, us_text)} us CPU/msg "
        f"= {spread([1e6 / c for c in cpu], rate_text)} msg per CPU-second; main thread {spread(main, us_text)}, "
        f"other threads {spread(threads, us_text)} us/msg | load {spread(load, rate_text)}% CPU, "
        f"{peer} {spread(peer_cpu, rate_text)}%, others on core {LOAD_CORE} {spread(others, rate_text)}%"
    )
    for index, climb in enumerate(climbs):
        marks = " ".join(
            f"{rate_text(s.rate)}:{s.cpu_us_per_msg:.0f}us" if s.held else f"{rate_text(s.rate)}:MISS[{s.short}]"
            for s in climb.stages
        )
        print(f"       #{index + 1}: {marks}" + (f"  [{climb.note}]" if climb.note else ""))


def cpu_at(climb: Climb, rate: float) -> float:
    stage = climb.at(rate)
    assert stage is not None
    return stage.cpu_us_per_msg


def ratios(native: list[Climb], ws: list[Climb], raw: list[Climb]) -> None:
    """Per repeat (climbs of one repeat ran back to back), then median and min-max over the repeats."""
    rate: list[float] = []
    per_core: list[float] = []
    cpu_raw: list[float] = []
    cpu_ws: list[float] = []
    ceiling: list[float] = []
    for n, w, r in zip(native, ws, raw, strict=True):
        nt, wt = n.top, w.top
        if r.top and wt:
            ceiling.append(r.top.rate / wt.rate)
        if nt and wt:
            rate.append(nt.rate / wt.rate)
            per_core.append(wt.cpu_us_per_msg / nt.cpu_us_per_msg)
        for a, b, into in ((n, w, cpu_ws), (n, r, cpu_raw)):
            both = max((s.rate for s in a.stages if s.held and b.at(s.rate)), default=None)
            if both is not None:
                into.append(cpu_at(a, both) / cpu_at(b, both))
    print(f"native rate / ws rate (highest held):            {spread(rate, ratio_text)}  (goal >= 2x, aim 3x)")
    print(f"native / ws messages per load-CPU-second:        {spread(per_core, ratio_text)}  (each at its top)")
    print(f"raw ceiling rate / ws rate (native's best here): {spread(ceiling, ratio_text)}")
    print(f"native CPU/msg / raw CPU/msg (same rate):        {spread(cpu_raw, ratio_text)}  (goal <= 1.5x)")
    print(f"native CPU/msg / ws CPU/msg (same rate):         {spread(cpu_ws, ratio_text)}")
    print("(same rate: the highest ladder rate both held in that repeat)")


def main() -> None:
    if not shutil.which("taskset"):
        print("taskset not found: processes are not pinned, figures mix both cores")
    os.sched_setaffinity(0, {PEER_CORE})  # this process only samples and reads: keep core 0 for the load
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess() as emulator:
        assert emulator.pid is not None
        pin_peer(emulator.pid)
        ws_base = emulator.url.replace("http://", "ws://")
        print(
            f"ladder {rate_text(LADDER[0])}..{rate_text(LADDER[-1])} msg/s x{STEP}, {STAGE_S:g} s stages; "
            f"{PRODUCERS} producers, {CONSUMERS} consumers, {SIZE} B; load on core {LOAD_CORE}, "
            f"broker/emulator on core {PEER_CORE}",
            flush=True,
        )
        ws_args = ["--target", "emulator", "--url", ws_base]
        raw, native, ws = [], [], []
        for _ in range(REPEATS):  # a fresh broker for each climb: no earlier climb's data in its store
            with LiteProcess() as broker:
                assert broker.pid is not None
                pin_peer(broker.pid)
                raw.append(raw_climb(broker.url, LADDER, STAGE_S, broker.pid, Path(tmp)))
            with LiteProcess() as broker:
                assert broker.pid is not None
                pin_peer(broker.pid)
                native_args = ["--target", "pulsar", "--url", broker.url]
                native.append(locust_climb("native", native_args, LADDER, Path(tmp), broker.pid))
            ws.append(locust_climb("ws", ws_args, LADDER, Path(tmp), emulator.pid))
        describe("raw", raw, "broker")
        describe("native", native, "broker")
        describe("ws", ws, "emulator")
        ratios(native, ws, raw)
    print(f"(medians over {REPEATS} interleaved repeats, min-max in brackets; {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
