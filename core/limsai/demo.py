"""What ``limsai demo`` does: the path a click in a LIMS takes, shown end to end on the embedded LIMS.

1. Seed the reference LIMS once (a second demo reuses it) and give the demo deployment a
   ``limsai.toml`` in the write-back phase, so that a release can be shown.
2. Through the job queue, on behalf of each study's director and for the milestone it has reached:
   ``status.update`` and ``package.assemble`` for every study (scoped gateway, audited, drafts and
   review tasks attached to the LIMS).
3. The director of one study e-signs its package manifest with his password (what
   ``limsai lims sign`` does), and ``package.release`` marks it released; releasing a package nobody
   signed is refused, with the reason.
4. ``audit verify`` on the audit log, which ends on a signed checkpoint.

A second demo run finds every run by its idempotency key and writes nothing new to the LIMS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from limsai.workdir import SCENARIO_MANIFEST, WorkdirError, lims_path, open_lims

DEMO_LOG = "limsai-demo.jsonl"
DEMO_CONFIG = """# Written by `limsai demo`: the demo deployment runs in the write-back phase so that it
# can show a package release. A real deployment starts in read-only or review-assisted.
rollout_phase = "write-back"
"""
RELEASED_STUDY = "AUR-STB-014"
UNSIGNED_STUDY = "AUR-PK-007"


def ensure_demo_config(workdir: Path) -> None:
    """Write the demo's ``limsai.toml`` unless the work directory already has one."""
    from limsai.runtime.settings import CONFIG_FILE

    config = workdir / CONFIG_FILE
    if not config.exists():
        config.write_text(DEMO_CONFIG, encoding="utf-8")


def run_requests(workdir: Path, requests: list[Any], lims_tables: dict[str, Any] | None = None) -> list[Any]:
    """Submit ``requests`` (RunRequest) to the work directory's queue, work it, and return the jobs
    in order; the audit log ends on a signed checkpoint. ``lims_tables`` adds LIMS instances (a
    running simulator) to the settings."""
    from limsai.governance.audit_log import AuditLog
    from limsai.runtime.logs import configure
    from limsai.runtime.queue import JobQueue
    from limsai.runtime.registry import load_registry
    from limsai.runtime.runner import StepRunner
    from limsai.runtime.settings import load_settings
    from limsai.runtime.worker import drain

    settings = load_settings(workdir, lims=lims_tables) if lims_tables else load_settings(workdir)
    configure(settings.log_file or workdir / DEMO_LOG)  # the console shows tables; events go to a file
    queue = JobQueue(workdir, lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts)
    submitted = [queue.submit(request)[0].run_id for request in requests]
    drain(queue, StepRunner(settings, load_registry()).handle, "demo", timeout=600)
    with AuditLog(workdir) as audit:
        latest = audit.latest_checkpoint()
        if audit.size() > (latest.tree_size if latest else 0):
            audit.checkpoint()  # the demo ends on a fully covered log
    return [queue.get(run_id) for run_id in submitted]


def study_requests(
    workdir: Path,
    step: str,
    parameters: dict[str, Any],
    lims: str = "embedded",
    study_type: str | None = None,
) -> list[Any]:
    """One request of ``step`` per study (of ``study_type``, when given) with a study director, as
    that director, for the latest milestone the study has completed."""
    from limsai.lims.port import Scope
    from limsai.model import MilestoneStatus
    from limsai.runtime.queue import RecordRef, RunRequest

    store = open_lims(workdir)
    requests = []
    for sponsor in store.list_sponsors():
        for study in store.list_studies(Scope(sponsor_id=sponsor.sponsor_id)):
            if study.study_director is None or (study_type and study.study_type.value != study_type):
                continue
            reached = [m.name for m in study.milestones if m.status is MilestoneStatus.COMPLETE]
            requests.append(
                RunRequest(
                    step=step,
                    lims=lims,
                    record=RecordRef(type="study", id=study.study_id),
                    milestone=reached[-1] if reached else "",
                    requested_by=study.study_director,
                    parameters=parameters,
                )
            )
    store.close()
    return requests


def run_row(job: Any) -> dict[str, Any]:
    result = job.result or {}
    return {
        "run_id": job.run_id,
        "step": job.request.step,
        "study_id": job.request.record.id,
        "sponsor_id": result.get("sponsor_id"),
        "milestone": job.request.milestone,
        "requested_by": job.request.requested_by,
        "status": job.state.value,
        "summary": result.get("summary", {}),
        "drafts": result.get("drafts", []),
        "tasks": result.get("tasks", []),
        "message": result.get("message", ""),
        "error": job.last_error,
    }


def sign_package(workdir: Path, package: dict[str, Any]) -> dict[str, Any]:
    """The study director e-signs the package manifest with meaning approval, using the scenario's
    demo password (once: a second demo finds the signature already there)."""
    from limsai.lims.embedded.signing import find_document, sign_with_password
    from limsai.lims.port import Scope
    from limsai.model import SignatureMeaning
    from limsai.seeding import demo_password

    manifest = package["drafts"][0]
    signer = package["requested_by"]
    lims = open_lims(workdir)
    try:
        document = find_document(lims, manifest["document_id"], manifest["version"])
        scope = Scope(sponsor_id=document.sponsor_id, study_id=document.study_id)
        existing = [
            s
            for s in lims.list_signatures(scope, document.document_id)
            if s.signer == signer and s.meaning is SignatureMeaning.APPROVAL and s.version == document.version
        ]
        signature = (
            existing[0]
            if existing
            else sign_with_password(
                lims,
                document,
                signer=signer,
                password=demo_password(signer),
                meaning=SignatureMeaning.APPROVAL,
            )
        )
    finally:
        lims.close()
    return {
        "command": (
            f"LIMSAI_SIGN_PASSWORD=demo-pass-{signer} limsai lims sign --workdir {workdir} "
            f"--document {document.document_id} --as {signer} --meaning approval"
        ),
        "signature": signature.model_dump(mode="json"),
        "reused": bool(existing),
    }


def release_requests(packages: list[dict[str, Any]], lims: str = "embedded") -> list[Any]:
    from limsai.runtime.queue import RecordRef, RunRequest

    return [
        RunRequest(
            step="package.release",
            lims=lims,
            record=RecordRef(type="study", id=p["study_id"]),
            milestone=p["milestone"],
            requested_by=p["requested_by"],
        )
        for p in packages
    ]


def run_demo_steps(
    workdir: Path, as_of: str, lims: str = "embedded", lims_tables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Steps 2 and 3 of the module docstring, over ``lims``; what the demo shows of them."""
    jobs = run_requests(
        workdir,
        study_requests(workdir, "status.update", {}, lims)
        + study_requests(workdir, "package.assemble", {"as_of": as_of}, lims)
        + study_requests(workdir, "report.draft", {"as_of": as_of}, lims, study_type="stability"),
        lims_tables,
    )
    rows = [run_row(job) for job in jobs]
    packages = {
        r["study_id"]: r for r in rows if r["step"] == "package.assemble" and r["status"] == "succeeded"
    }
    signing = None
    releases: list[dict[str, Any]] = []
    if RELEASED_STUDY in packages and UNSIGNED_STUDY in packages:
        signing = sign_package(workdir, packages[RELEASED_STUDY])
        chosen = [packages[RELEASED_STUDY], packages[UNSIGNED_STUDY]]
        releases = [
            run_row(job) for job in run_requests(workdir, release_requests(chosen, lims), lims_tables)
        ]
    return {
        "via": lims,
        "runs": [r for r in rows if r["step"] == "status.update"],
        "packages": [r for r in rows if r["step"] == "package.assemble"],
        "reports": [r for r in rows if r["step"] == "report.draft"],
        "signing": signing,
        "releases": releases,
    }


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
    factory = None
    if lims != "embedded":
        from limsai.runtime.adapters import adapter_factories

        factory = adapter_factories().get(lims)
        if factory is None or factory.start_simulator is None:
            with_simulator = sorted(v for v, f in adapter_factories().items() if f.start_simulator)
            raise WorkdirError(
                f"--lims {lims}: no simulator for that LIMS is installed (with a simulator: "
                f"{', '.join(['embedded', *with_simulator])})"
            )
    seed = DEFAULT_SEED if seed is None else seed
    reused = seeded_with(workdir) == str(seed)
    if not reused:
        seed_workdir(workdir, seed=seed, results=None, force=True)
    manifest = json.loads((workdir / SCENARIO_MANIFEST).read_text(encoding="utf-8"))
    ensure_demo_config(workdir)
    if factory is None:
        steps = run_demo_steps(workdir, manifest["reference_time"])
    else:
        assert factory.start_simulator is not None
        simulator = factory.start_simulator(workdir)  # the vendor's wire protocol over DIR/lims.db
        try:
            table = simulator.lims_settings(workdir, lims)
            steps = run_demo_steps(workdir, manifest["reference_time"], lims, {lims: table})
        finally:
            simulator.stop()
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
        **steps,
        "audit": verify_audit(workdir),
    }
