"""``streamharness capacity REGIONS.toml``: each region's maximum sustainable throughput, compared.

Everything about the regions file is checked, and every remote region's endpoint reached, before
any load starts. Writes ``capacity.json`` and ``capacity.html`` into a folder of its own under
``--reports-dir``, beside one run folder per stage. Exits 0 when every region's search finished
(whatever it found), 1 when a region failed mid-search, 2 for bad input, 130 when interrupted
(the report then holds the stages finished before the signal).
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.atomic import write_json_atomically
from harness.capacity.regions import CREDENTIAL_FIELDS, Region, RegionsFile, RegionsFileError, load_regions

CAPACITY_JSON = "capacity.json"
CAPACITY_VERSION = 1
DEFAULT_REGIONS = Path("examples/regions-emulated.toml")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("capacity", help="Find each region's maximum sustainable throughput.")
    parser.add_argument(
        "regions", type=Path, nargs="?", default=DEFAULT_REGIONS, help=f"Regions file (default {DEFAULT_REGIONS})."
    )
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"), help="Where the capacity folder goes.")
    parser.add_argument("--parallel", action="store_true", help="Search every region at once (else one by one).")
    parser.set_defaults(run=run)


def preflight(regions: RegionsFile) -> None:
    """Every region's stage settings validate and every remote endpoint answers, before any load.

    One line naming the file, the region and the field when something is wrong.
    """
    from harness.capacity.stage import stage_settings
    from harness.errors import HarnessError
    from harness.targets import make_target

    for region in regions.regions:
        where = f"{regions.path}: region {region.name!r}"
        settings = stage_settings(region, region.url, region.search.start_rate, 0, Path("."))
        try:
            settings.validate()
        except HarnessError as exc:
            raise RegionsFileError(f"{where}: search: {exc}") from None
        if region.target == "emulator":
            continue
        target = make_target(settings)
        try:
            target.check()
        except HarnessError as exc:
            raise RegionsFileError(f"{where}: url: {exc}") from None
        try:
            target.check_access()
        except HarnessError as exc:
            field = next((key for key in CREDENTIAL_FIELDS if getattr(region, key)), "url")
            raise RegionsFileError(f"{where}: {field}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from harness.capacity.search import search_region
    from harness.events.runfolder import check_run_location, new_run_id
    from harness.load.relay import RELAY
    from harness.report.capacity import write_capacity_report

    regions = load_regions(args.regions)
    check_run_location(args.reports_dir, "")  # a reports folder that cannot be written: refused before any load
    preflight(regions)
    folder = args.reports_dir / f"capacity-{new_run_id()}"
    folder.mkdir(parents=True)
    started = time.time()
    print(f"capacity search over {len(regions.regions)} regions from {args.regions}; output in {folder}", flush=True)
    parallel = args.parallel or regions.parallel
    document: dict[str, Any] = {
        "schema_version": CAPACITY_VERSION,
        "regions_file": str(args.regions),
        "parallel": parallel,
        "started": started,
        "finished": None,
        "regions": [],
    }

    lock = threading.Lock()

    def searched(region: Region) -> dict[str, Any]:
        entry = search_region(region, folder, _say)
        with lock:  # parallel searches finish in any order; one writer at a time
            document["regions"].append(entry)
            write_json_atomically(folder / CAPACITY_JSON, document)  # what is known so far survives an interruption
        return entry

    with RELAY.installed():  # parallel searches wait on Locust from threads: the main thread relays Ctrl-C
        if parallel:
            with ThreadPoolExecutor(max_workers=len(regions.regions)) as pool:
                entries = list(pool.map(searched, regions.regions))
        else:
            entries = []
            for region in regions.regions:
                if RELAY.received:
                    break  # interrupted: the regions not yet begun are not searched
                entries.append(searched(region))
        interrupted = bool(RELAY.received)
    document.update(regions=entries, finished=time.time())
    write_json_atomically(folder / CAPACITY_JSON, document)
    page = write_capacity_report(folder, document)
    print()
    print(render_table(document))
    print(f"capacity report: {page}")
    if interrupted:
        return 130
    return 1 if any(entry["outcome"] == "failed" for entry in entries) else 0


def _say(line: str) -> None:
    print(line, flush=True)


def render_table(document: dict[str, Any]) -> str:
    """The console summary: one line per region."""
    header = f"{'region':<14} {'outcome':<30} {'capacity msg/s':>15} {'p99 ms':>9}  first failing"
    lines = [header, "-" * len(header)]
    for entry in document["regions"]:
        capacity = entry.get("capacity_msg_s")
        p99 = (entry.get("at_capacity") or {}).get("p99_ms")
        failing = entry.get("first_failing") or {}
        why = "; ".join(failing.get("reasons") or []) or entry.get("error") or ""
        at = f"{failing['offered_rate']:,.0f}/s: " if failing else ""
        lower = entry.get("highest_holding_msg_s")
        shown = f"{capacity:,.0f}" if capacity is not None else (f">= {lower:,.0f}" if lower else "-")
        latency = "-" if p99 is None else f"{p99:,.1f}"
        lines.append(f"{entry['name']:<14} {entry['outcome']:<30} {shown:>15} {latency:>9}  {at}{why}")
    return "\n".join(lines)
