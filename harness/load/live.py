"""The "Delivery" tab of Locust's web UI, the run folder's files, and the analysis after a UI run.

No JavaScript build: the tab and its columns go into the page's template arguments
(``extended_tabs`` / ``extended_tables``), and its rows into every ``/stats/requests`` answer
(``extended_stats``), which the UI polls every two seconds. Rows come from the master's
:class:`~harness.load.stats.LiveView`, fed by the workers' ``report_to_master`` deltas (or, in a
local run, by this process's own counters). When a run started from the UI ends, the analysis runs
as a separate process (``python -m harness analyze RUN_DIR``: this side never imports it) and the
tab links its report. Secret options reach the page with blank values: Locust would otherwise
embed what they were given as the form's defaults.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import gevent
from flask import Response, abort, redirect, request, send_from_directory

from harness.load.runtime import ActiveRun, Runtime
from harness.load.stats import COLUMNS
from harness.settings import LOAD_OPTIONS, environment_without_secrets

log = logging.getLogger("harness.load")

TAB_KEY = "streamharness-delivery"
ROUTE = "/streamharness"
ANALYSIS_TIMEOUT_S = 600.0
#: What the checker leaves in a run folder, best first; the console summary is the fallback.
REPORT_FILES = ("report.html", "analysis.txt")


def install(environment: Any, runtime: Runtime, web_ui: Any) -> None:
    """Add the tab, the stats injection, the run-folder routes, and keep secrets out of the page."""
    web_ui.template_args["extended_tabs"] = [{"title": "Delivery", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": f"{ROUTE}/report", "title": "streamharness report of the last run"},
        {"href": f"{ROUTE}/run.json", "title": "streamharness run.json of the last run"},
    ]
    app = web_ui.app

    def _inject(response: Response) -> Response:
        path = request.path
        if path.endswith("/stats/requests") and response.is_json:
            if runtime.role == "local":
                runtime.live.merge(runtime.counters.take_delta())
            body = response.get_json()
            body["extended_stats"] = [{"key": TAB_KEY, "data": runtime.live.rows()}]
            response.set_data(json.dumps(body))
        return response

    def _report() -> Any:
        run = runtime.run
        if run is None:
            abort(404)
        for name in REPORT_FILES:
            if (run.folder.path / name).is_file():
                return redirect(f"{ROUTE}/runs/{run.folder.run_id}/{name}")
        return Response("The analysis has not finished yet; reload in a moment.\n", mimetype="text/plain")

    def _manifest() -> Any:
        if runtime.run is None:
            abort(404)
        return redirect(f"{ROUTE}/runs/{runtime.run.folder.run_id}/run.json")

    def _run_file(run_id: str, name: str) -> Any:
        settings = runtime.settings
        if settings is None or "/" in run_id or run_id.startswith("."):
            abort(404)
        return send_from_directory(Path(settings.reports_dir).resolve() / run_id, name)

    app.after_request(_inject)
    _blank_secrets_in_template_args(web_ui)
    guard = web_ui.auth_required_if_enabled
    app.add_url_rule(f"{ROUTE}/report", "streamharness_report", guard(_report))
    app.add_url_rule(f"{ROUTE}/run.json", "streamharness_manifest", guard(_manifest))
    app.add_url_rule(f"{ROUTE}/runs/<run_id>/<path:name>", "streamharness_run_file", guard(_run_file))


def _blank_secrets_in_template_args(web_ui: Any) -> None:
    """Secret options' form defaults stay blank: Locust rebuilds its template arguments on every page load."""
    rebuild = web_ui.update_template_args
    secrets = [spec.dest for spec in LOAD_OPTIONS if spec.secret]

    def blank() -> None:
        extra_options = web_ui.template_args.get("extra_options") or {}
        for name in secrets:
            if name in extra_options:
                extra_options[name]["default_value"] = ""

    def update_template_args() -> None:
        rebuild()
        blank()

    web_ui.update_template_args = update_template_args
    blank()


def start_analysis(runtime: Runtime, run: ActiveRun) -> None:
    """Run ``python -m harness analyze`` on ``run``'s folder in the background; link its report."""
    gevent.spawn(_analyse, runtime, run.folder.path)


def _analyse(runtime: Runtime, run_dir: Path) -> None:
    try:
        result = subprocess.run(
            [sys.executable, "-m", "harness", "analyze", str(run_dir)],
            capture_output=True,
            text=True,
            timeout=ANALYSIS_TIMEOUT_S,
            env=environment_without_secrets(),
            check=False,
        )
        output = result.stdout + (f"\n{result.stderr}" if result.stderr.strip() else "")
    except (OSError, subprocess.TimeoutExpired) as exc:
        output = f"the analysis did not finish: {exc}\n"
    (run_dir / "analysis.txt").write_text(output, encoding="utf-8")
    name = next((n for n in REPORT_FILES if (run_dir / n).is_file()), "analysis.txt")
    if runtime.run is not None and runtime.run.folder.path == run_dir:
        runtime.live.report_title = "report" if name == "report.html" else "console summary"
        runtime.live.report_url = f"{ROUTE}/runs/{run_dir.name}/{name}"
    log.info("streamharness: analysis of %s finished: %s", run_dir, runtime.live.report_url)
