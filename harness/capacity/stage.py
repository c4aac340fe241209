"""One stage of a capacity search: a load run at one offered rate, checked and judged.

Each stage is a run of its own (its own run folder, summary.json and report.html, linked from the
capacity report), driven through the same Locust entry point as ``streamharness load``. Every
stage subscribes under a name of its own: a durable subscription starts at the latest message,
so what an overloaded stage left behind can never reach the next one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.capacity import StageJudgement, StageMetrics, judge_stage, stage_metrics
from harness.capacity.regions import Region
from harness.errors import HarnessError
from harness.settings import LoadSettings


class StageError(HarnessError):
    """A stage whose load run could not start: the endpoint or the set-up failed, not the load."""


@dataclass(frozen=True)
class StageResult:
    index: int
    offered_rate: float
    metrics: StageMetrics | None
    judgement: StageJudgement
    run_dir: Path

    def as_dict(self, relative_to: Path) -> dict[str, Any]:
        metrics = dataclasses.asdict(self.metrics) if self.metrics else {}
        report = self.run_dir / "report.html"
        return {
            "index": self.index,
            **metrics,
            "offered_rate": self.offered_rate,
            "holds": self.judgement.holds,
            "reasons": list(self.judgement.reasons),
            "limited_by_generator": self.judgement.limited_by_generator,
            "run_dir": str(self.run_dir.relative_to(relative_to)),
            "report": str(report.relative_to(relative_to)) if report.exists() else None,
        }


def stage_settings(region: Region, url: str, offered_rate: float, index: int, stages_dir: Path) -> LoadSettings:
    """The load settings of one stage: the region's endpoint at ``offered_rate`` msg/s in total."""
    plan = region.search
    return LoadSettings(
        target=region.target,
        url=url,
        api_key=region.secret("api_key_env"),
        email=region.secret("email_env"),
        password=region.secret("password_env"),
        token=region.secret("token_env"),
        fabric=region.fabric,
        stream=region.stream,
        local_stream=region.local,
        topic=f"persistent://public/default/{region.stream}",
        subscription=f"{region.subscription}-{index:02d}",
        subscription_type="Shared",
        producers=plan.producers,
        consumers=plan.consumers,
        rate=offered_rate / plan.producers,
        size=plan.size,
        duration=plan.warmup_seconds + plan.stage_seconds,
        drain_timeout=plan.drain_timeout,
        reports_dir=str(stages_dir),
        run_id=f"{region.name}-{index:02d}-{offered_rate:.0f}",
    )


def run_stage(region: Region, url: str, offered_rate: float, index: int, stages_dir: Path) -> StageResult:
    """Run, check and judge one stage; raises StageError when its load run could not even start."""
    from harness.analysis.load import load_run
    from harness.analysis.summary import Options, analyse, write_summary
    from harness.load.command import run_locust
    from harness.report.html import write_report

    settings = stage_settings(region, url, offered_rate, index, stages_dir)
    settings.validate()
    code = run_locust(settings, quiet=True)
    run_dir = stages_dir / settings.run_id
    if not (run_dir / "run.json").exists():
        raise StageError(f"stage {index} at {offered_rate:,.0f} msg/s did not start (Locust exit code {code})")
    run = load_run(run_dir)
    analysis = analyse(run, Options(thresholds=region.slo.thresholds()))
    write_summary(run_dir, analysis.summary)
    write_report(run_dir, analysis.summary)
    metrics = stage_metrics(run, analysis, region.search.warmup_seconds)
    return StageResult(index, offered_rate, metrics, judge_stage(metrics, region.slo), run_dir)
