"""What ``limsai demo`` does: seed the reference LIMS once, run ``status.update`` for every study
through the job queue (each on behalf of its study director, through the scoped gateway, audited,
its draft and review task attached to the LIMS), then verify the audit log — the path a click in a
LIMS takes, shown end to end on the embedded LIMS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from limsai.workdir import SCENARIO_MANIFEST, WorkdirError, lims_path, open_lims

DEMO_STEP = "status.update"
DEMO_LOG = "limsai-demo.jsonl"


def run_status_updates(workdir: Path) -> list[dict[str, Any]]:
    """Queue ``status.update`` for every study (as its study director, for the milestone it has
    reached), work the queue, sign an audit checkpoint; one row per run. A second demo run finds the
    same runs by their idempotency keys and writes nothing new."""
    from limsai.governance.audit_log import AuditLog
    from limsai.lims.port import Scope
    from limsai.model import MilestoneStatus
    from limsai.runtime.logs import configure
    from limsai.runtime.queue import JobQueue, RecordRef, RunRequest
    from limsai.runtime.registry import load_registry
    from limsai.runtime.runner import StepRunner
    from limsai.runtime.settings import load_settings
    from limsai.runtime.worker import drain

    settings = load_settings(workdir)
    configure(settings.log_file or workdir / DEMO_LOG)  # the console shows tables; events go to a file
    lims = open_lims(workdir)
    queue = JobQueue(workdir, lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts)
    submitted = []
    for sponsor in lims.list_sponsors():
        for study in lims.list_studies(Scope(sponsor_id=sponsor.sponsor_id)):
            if study.study_director is None:
                continue
            reached = [m.name for m in study.milestones if m.status is MilestoneStatus.COMPLETE]
            request = RunRequest(
                step=DEMO_STEP,
                lims="embedded",
                record=RecordRef(type="study", id=study.study_id),
                milestone=reached[-1] if reached else "",
                requested_by=study.study_director,
            )
            submitted.append(queue.submit(request)[0].run_id)
    lims.close()
    drain(queue, StepRunner(settings, load_registry()).handle, "demo", timeout=600)
    with AuditLog(workdir) as audit:
        latest = audit.latest_checkpoint()
        if audit.size() > (latest.tree_size if latest else 0):
            audit.checkpoint()  # the demo ends on a fully covered log
    rows = []
    for run_id in submitted:
        job = queue.get(run_id)
        result = job.result or {}
        rows.append(
            {
                "run_id": job.run_id,
                "study_id": job.request.record.id,
                "milestone": job.request.milestone,
                "status": job.state.value,
                "summary": result.get("summary", {}),
                "drafts": len(result.get("drafts", [])),
                "tasks": len(result.get("tasks", [])),
                "error": job.last_error,
            }
        )
    return rows


def verify_audit(workdir: Path) -> dict[str, Any]:
    """``limsai audit verify`` on the work directory's audit log."""
    from limsai.governance.audit_log import AuditLog

    with AuditLog(workdir) as audit:
        report = audit.verify()
    return {**report.model_dump(mode="json"), "summary": report.summary()}


def demo_state(workdir: Path, *, lims: str, seed: int | None) -> dict[str, Any]:
    """Seed (or reuse) the demo LIMS, run the audited inventory, and gather what the demo shows."""
    from limsai.lims.inventory import study_rows
    from limsai.lims.scenario import DEFAULT_SEED
    from limsai.runtime.plugins import discover
    from limsai.seeding import seed_workdir, seeded_with

    found = discover()
    if lims != "embedded":
        names = ", ".join(p.entry_point for p in found) or "none"
        raise WorkdirError(
            f"--lims {lims}: no simulator for that LIMS is available yet (installed plugins: {names}); "
            "use --lims embedded"
        )
    seed = DEFAULT_SEED if seed is None else seed
    reused = seeded_with(workdir) == str(seed)
    if not reused:
        seed_workdir(workdir, seed=seed, results=None, force=True)
    manifest = json.loads((workdir / SCENARIO_MANIFEST).read_text(encoding="utf-8"))
    runs = run_status_updates(workdir)
    rows = study_rows(open_lims(workdir))
    sponsors: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = sponsors.setdefault(
            row.sponsor_id,
            {
                "sponsor_id": row.sponsor_id,
                "name": row.sponsor_name,
                "studies": 0,
                "samples": 0,
                "results": 0,
            },
        )
        entry["studies"] += 1
        entry["samples"] += row.samples
        entry["results"] += row.results
    return {
        "workdir": str(workdir),
        "lims": str(lims_path(workdir)),
        "seed": seed,
        "reused": reused,
        "sponsors": list(sponsors.values()),
        "studies": [r.model_dump(mode="json") for r in rows],
        "anomalies": manifest["anomalies"],
        "plugins": [p.model_dump(mode="json") for p in found],
        "runs": runs,
        "audit": verify_audit(workdir),
    }
