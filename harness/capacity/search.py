"""A region's capacity search: stages at rising rates, then bisection, against one endpoint.

For an emulator region the endpoint is started once for the whole search, with the region's
profile. A region that fails mid-search (its endpoint gone, an error) is reported as failed with
the reason; the other regions' results are unaffected. A search stopped by Ctrl-C is reported as
interrupted, with the stages it finished.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.analysis.rate_search import RateSearch
from harness.capacity.regions import Region
from harness.capacity.stage import StageResult, run_stage
from harness.errors import HarnessError
from harness.load.relay import Interrupted

log = logging.getLogger("harness.capacity")

StageRunner = Callable[[Region, str, float, int, Path], StageResult]


def search_region(
    region: Region, folder: Path, announce: Callable[[str], None] = print, runner: StageRunner = run_stage
) -> dict[str, Any]:
    """Search one region; returns its entry of capacity.json. Never raises for the region's own failures."""
    stages_dir = folder / "stages"
    stages_dir.mkdir(parents=True, exist_ok=True)
    search = RateSearch(region.search)
    results: list[StageResult] = []
    error = None
    outcome = None
    emulator = None
    try:
        url = region.url
        if region.target == "emulator":
            from harness.targets.emulator import EmulatorProcess

            emulator = EmulatorProcess(["--profile", region.profile] if region.profile else [])
            url = emulator.start()
        while (rate := search.next_rate()) is not None:
            index = len(results) + 1
            result = runner(region, url, rate, index, stages_dir)
            results.append(result)
            search.record(rate, result.judgement, result.metrics.delivered_rate if result.metrics else None)
            verdict = "holds" if result.judgement.holds else "fails: " + "; ".join(result.judgement.reasons)
            announce(f"{region.name}: stage {index} at {rate:,.0f} msg/s {verdict}")
    except (HarnessError, OSError) as exc:
        error = str(exc)
        announce(f"{region.name}: search failed: {error}")
    except Exception as exc:  # a bug must not cost the other regions their results
        log.debug("region %s: unexpected error", region.name, exc_info=True)
        error = f"unexpected error: {type(exc).__name__}: {exc}"
        announce(f"{region.name}: search failed: {error}")
    except Interrupted:
        outcome = "interrupted"  # the stage under way is incomplete: the stages before it stand
        announce(f"{region.name}: search interrupted")
    finally:
        if emulator is not None:
            emulator.stop()
    return region_entry(region, search, results, folder, error, outcome)


def region_entry(
    region: Region,
    search: RateSearch,
    results: list[StageResult],
    folder: Path,
    error: str | None,
    outcome: str | None = None,
) -> dict[str, Any]:
    """The region's entry of capacity.json; ``outcome`` overrides the search's own (an interruption)."""
    stages = [r.as_dict(folder) for r in results]
    at_capacity: dict[str, Any] = {}
    if search.holding is not None:
        holding = [r for r in results if r.offered_rate == search.holding and r.metrics is not None]
        if holding and holding[-1].metrics is not None:
            m = holding[-1].metrics
            at_capacity = {
                "delivered_rate": m.delivered_rate,
                "p50_ms": m.p50_ms,
                "p99_ms": m.p99_ms,
                "p999_ms": m.p999_ms,
            }
    failing = [r for r in results if not r.judgement.holds]
    first_failing = None
    if failing:
        first = min(failing, key=lambda r: r.offered_rate)  # the failure that bounds the capacity
        first_failing = {
            "index": first.index,
            "offered_rate": first.offered_rate,
            "reasons": list(first.judgement.reasons),
        }
    return {
        "name": region.name,
        "target": region.target,
        "profile": region.profile,
        "outcome": outcome or ("failed" if error else search.outcome),
        "error": error,
        "capacity_msg_s": None if error or outcome else search.capacity,
        # the highest rate that held: the capacity when one was found, else only a lower bound
        "highest_holding_msg_s": search.holding,
        "generator_ceiling_msg_s": search.generator_ceiling,
        "at_capacity": at_capacity,
        "first_failing": first_failing,
        "slo": dataclasses.asdict(region.slo),
        "search": dataclasses.asdict(region.search),
        "stages": stages,
    }
