"""What ``limsai demo`` does: seed the reference LIMS once, read every study through the scoped
gateway on behalf of its study director (each call audited), sign a checkpoint of the audit log and
verify it — the governance loop every AI step runs, shown end to end on the embedded LIMS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from limsai import __version__
from limsai.workdir import SCENARIO_MANIFEST, WorkdirError, lims_path, open_lims

INVENTORY_AGENT_STEP = "demo.inventory"
INVENTORY_READS = (
    "list_samples",
    "list_results",
    "list_specifications",
    "list_instruments",
    "list_calibrations",
)


def audited_inventory(workdir: Path, run_id: str) -> dict[str, Any]:
    """Read each study through a read-only gateway as its study director; return per-study counts."""
    from limsai.governance.audit_log import AuditLog
    from limsai.governance.context import ClientProjectContext
    from limsai.governance.gateway import ScopedGateway
    from limsai.governance.identity import AgentIdentity
    from limsai.governance.policy import RolloutPhase
    from limsai.lims.port import Scope, StudyScope

    lims = open_lims(workdir)
    audit = AuditLog(workdir)
    agent = AgentIdentity(step_id=INVENTORY_AGENT_STEP, step_version=__version__)
    seen: dict[str, Any] = {}
    for sponsor in lims.list_sponsors():
        for study in lims.list_studies(Scope(sponsor_id=sponsor.sponsor_id)):
            if study.study_director is None:
                continue
            ctx = ClientProjectContext.for_study(
                lims,
                StudyScope(sponsor_id=sponsor.sponsor_id, study_id=study.study_id),
                user_id=study.study_director,
                agent=agent,
                rollout_phase=RolloutPhase.READ_ONLY,
                run_id=run_id,
            )
            gateway = ScopedGateway(lims, ctx, audit)
            seen[study.study_id] = {method: len(getattr(gateway, method)()) for method in INVENTORY_READS}
    audit.checkpoint()
    report = audit.verify()
    audit.close()
    lims.close()
    return {"studies": seen, "audit": {**report.model_dump(mode="json"), "summary": report.summary()}}


def demo_state(workdir: Path, *, lims: str, seed: int | None) -> dict[str, Any]:
    """Seed (or reuse) the demo LIMS, run the audited inventory, and gather what the demo shows."""
    from limsai.lims.inventory import study_rows
    from limsai.lims.scenario import DEFAULT_SEED
    from limsai.model import utcnow
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
    inventory = audited_inventory(workdir, run_id=f"demo-{utcnow():%Y%m%dT%H%M%S%fZ}")
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
        "inventory": inventory["studies"],
        "audit": inventory["audit"],
    }
