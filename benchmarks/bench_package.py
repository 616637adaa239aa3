"""Benchmark: ``package.assemble`` end to end on the embedded LIMS for a study of about 2,000 and about
20,000 results — reads through the scoped gateway (paged, audited), checks, the sponsor's tables,
DOCX + PDF + XLSX rendering, files written, drafts attached and a review task opened.

The study is the scenario's Aurora PK study (its profile asks for DOCX, PDF and XLSX, the costliest
mix), scaled by the scenario's ``results`` argument. Reported per size: wall time of the step, peak
Python heap (tracemalloc) and peak resident set of the process, and LIMS calls (SQL queries the
embedded LIMS ran for the step), which must grow with pages, not samples.

The same runs are repeated through the LabVantage adapter over its simulator on loopback (HTTP
calls counted), when the limsai-labvantage plugin is installed.

Targets: under 5 s and under 500 MB at 20,000 results on the embedded LIMS (issue 5); under 10 s
over the simulator (issue 9). Prints one JSON document.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STUDY = "AUR-PK-007"
SCENARIO_RESULTS = {2_000: 8_400, 20_000: 62_400}  # total scenario size giving ~N results in STUDY


def assemble_once(total: int, vendor: str = "embedded") -> dict[str, Any]:
    from limsai.governance.audit_log import AuditLog
    from limsai.governance.context import ClientProjectContext
    from limsai.governance.gateway import ScopedGateway
    from limsai.governance.identity import AgentIdentity
    from limsai.governance.policy import RolloutPhase
    from limsai.lims.port import Scope, StudyScope
    from limsai.lims.scenario import REFERENCE_TIME
    from limsai.runtime.registry import StepRun
    from limsai.seeding import seed_workdir
    from limsai.steps import package_assemble
    from limsai.workdir import open_lims

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seed_workdir(workdir, seed=None, results=total, force=False)
        store = open_lims(workdir)
        study = store.get_study(StudyScope(sponsor_id="SPN-AURORA", study_id=STUDY))
        results = store.count("results", Scope(sponsor_id=study.sponsor_id, study_id=STUDY))
        scope = StudyScope(sponsor_id=study.sponsor_id, study_id=STUDY)
        with contextlib.ExitStack() as stack:
            if vendor == "labvantage":
                from limsai_labvantage.harness import simulated_adapter

                lims, _ = stack.enter_context(simulated_adapter(workdir))
                calls_of = lambda: lims.http_calls  # noqa: E731
            else:
                lims = store
                calls_of = lambda: store.query_count  # noqa: E731
            audit = stack.enter_context(AuditLog(workdir))
            context = ClientProjectContext.for_study(
                lims,
                scope,
                user_id=study.study_director or "",
                agent=AgentIdentity(
                    step_id=package_assemble.STEP.id, step_version=package_assemble.STEP.version
                ),
                rollout_phase=RolloutPhase.REVIEW_ASSISTED,
                run_id="bench-package",
            )
            gateway = ScopedGateway(lims, context, audit)
            params = package_assemble.PackageAssembleParams(as_of=REFERENCE_TIME)
            queries_before = calls_of()
            started = time.perf_counter()
            outcome = package_assemble.run(
                StepRun(
                    context=context,
                    gateway=gateway,
                    params=params,
                    milestone="Analysis Complete",
                    workdir=workdir,
                )
            )
            seconds = time.perf_counter() - started
            calls = calls_of() - queries_before
        store.close()
        return {
            "lims": vendor,
            "results": results,
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "lims_calls": calls,
            "files": outcome.summary["files"],
            "drafts": len(outcome.drafts),
            "bytes": sum(
                p.stat().st_size for p in Path(outcome.summary["out_dir"]).rglob("*") if p.is_file()
            ),
        }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(assemble_once(int(sys.argv[2]), sys.argv[3])))
        return
    vendors = ["embedded"] + (["labvantage"] if importlib.util.find_spec("limsai_labvantage") else [])
    runs = {}
    for vendor in vendors:
        for size, total in SCENARIO_RESULTS.items():
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(total), vendor],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[f"{vendor}:{size}"] = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({"benchmark": "package_assemble", "study": STUDY, "runs": runs}))


if __name__ == "__main__":
    main()
