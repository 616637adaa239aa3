"""``package.assemble``: a sponsor-ready data package for a study milestone, drafted for review.

Through the scoped gateway only, it reads the study's records, runs the checks (OOS after USP
rounding, completeness, unjustified invalidations, calibrations, lot changes), builds the tables the
sponsor's profile asks for (values exactly as reported unless the profile rounds), drafts the summary
from the computed facts, and renders the package in the profile's formats (DOCX from the
sponsor-editable template, PDF, XLSX, one CSV per table). The executive summary is drafted from
counts only, through the approved template the drafter names (loaded via the gateway, so the load
is audited and the draft is attributed to the template's version and hash). The files and a
``manifest.json`` (study, sponsor, milestone, included tables, validation flags, file hashes,
status DRAFT, provenance) are written to ``DIR/out/<study_id>/<milestone>/``; the package is
attached to the study as a DRAFT under ``data-package/<milestone>/`` and a review task is opened
for the study director. A retry reuses the first attempt's package time, so the same data gives the
same bytes and the LIMS hands back the first attachments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from importlib.resources import files as resource_files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from limsai.ai.drafting import DraftedText, draft_checked, drafter_for, paragraphs
from limsai.checks.findings import Finding
from limsai.checks.run_all import StudyData, run_checks
from limsai.checks.stability import SeriesEvaluation, evaluate_stability
from limsai.governance.drafts import DraftFile, DraftPackage
from limsai.governance.gateway import ScopedGateway, records_hash
from limsai.governance.policy import PHASE_WRITES, Permission
from limsai.model import DeviationStatus, LimsModel, SignatureMeaning, StudyType, TaskRequest, utcnow
from limsai.packages.profiles import load_profile, profile_sha256, render_package_name, slug
from limsai.packages.render import PackageContent, RenderedTable, SignatureBlock, render_all
from limsai.packages.render_docx import TEMPLATE_NAME
from limsai.packages.stability_tables import attribute, stability_tables
from limsai.packages.tables import build_table
from limsai.packages.trend_plot import trend_plot
from limsai.runtime.registry import StepOutcome, StepPhase, StepRun, StepSpec
from limsai.steps._drafting import (
    DRAFTING_PERMISSIONS,
    STUDY_DRAFTING_CAPABILITIES,
    attach_package,
    draft_rows,
    earlier_manifest,
    earlier_narrative,
    reference_passages,
)

PREFIX = "data-package"
OUT = "out"
MEDIA_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".png": "image/png",
}


class PackageAssembleParams(LimsModel):
    package_version: int = Field(default=1, ge=1, description="the package's revision at this milestone")
    as_of: datetime | None = Field(default=None, description="date the schedule is judged at (default: now)")


def read_study(gateway: ScopedGateway, as_of: datetime) -> tuple[StudyData, dict[str, str]]:
    """Every record the package needs, through the gateway (each read paged and audited), with the
    hash of each read for the provenance."""
    reads: dict[str, Sequence[BaseModel]] = {
        "conditions": gateway.list_conditions(),
        "timepoints": gateway.list_timepoints(),
        "samples": gateway.list_samples(),
        "tests": gateway.list_tests(),
        "results": gateway.list_results(),
        "specifications": gateway.list_specifications(),
        "instruments": gateway.list_instruments(),
        "calibrations": gateway.list_calibrations(),
        "reagent_lots": gateway.list_reagent_lots(),
        "deviations": gateway.list_deviations(),
    }
    study = gateway.get_study()
    hashes = {"study": records_hash([study]), **{name: records_hash(items) for name, items in reads.items()}}
    data = StudyData(study=study, as_of=as_of, **{name: tuple(items) for name, items in reads.items()})  # type: ignore[arg-type]
    return data, hashes


SUMMARY_TASK = "package_executive_summary"


def summary_facts(
    data: StudyData, findings: list[Finding], tables: list[RenderedTable], milestone: str
) -> dict[str, Any]:
    """What the executive summary may say: identifiers and counts computed here, never values."""
    study = data.study
    kinds: dict[str, int] = {}
    for f in findings:
        kinds[f.kind.value] = kinds.get(f.kind.value, 0) + 1
    return {
        "study_id": study.study_id,
        "protocol_number": study.protocol_number,
        "milestone": milestone or "unspecified",
        "samples": len(data.samples),
        "reportable_results": sum(1 for r in data.results if r.reportable),
        "tables": len(tables),
        "findings": len(findings),
        "findings_by_kind": [f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(kinds.items())],
        "open_deviations": sum(1 for d in data.deviations if d.status is not DeviationStatus.CLOSED),
    }


def trend_plots(evaluations: list[SeriesEvaluation]) -> dict[str, bytes]:
    """``plots/trend-<attribute>-<condition>.png`` for every series judged for shelf life or OOT
    (the long-term condition, and any series with an out-of-trend result)."""
    chosen = [ev for ev in evaluations if ev.shelf_life is not None or ev.oot_points]
    return {f"plots/trend-{slug(attribute(ev))}-{slug(ev.condition)}.png": trend_plot(ev) for ev in chosen}


def package_prefix(milestone: str) -> str:
    """Where a milestone's package sits among the study's documents: ``data-package/<milestone>``."""
    return f"{PREFIX}/{slug(milestone) if milestone else 'no-milestone'}"


def run(step_run: StepRun) -> StepOutcome:
    """Assemble, render, write and attach the package; open the review task when the phase allows."""
    STEP.check_agent(step_run.context)
    params = step_run.params
    if not isinstance(params, PackageAssembleParams):
        raise TypeError(f"package.assemble expects PackageAssembleParams, not {type(params).__name__}")
    ctx, gateway = step_run.context, step_run.gateway
    allowed = PHASE_WRITES[ctx.rollout_phase]
    drafting = Permission.WRITE_DRAFTS in allowed
    prefix = package_prefix(step_run.milestone)
    documents = gateway.list_documents() if drafting else None  # read once: first attempt, references
    earlier = earlier_manifest(gateway, prefix, documents) if drafting else None
    created_at = earlier.provenance.created_at if earlier else utcnow()
    data, inputs = read_study(gateway, params.as_of or created_at)
    evaluations = evaluate_stability(data) if data.study.study_type is StudyType.STABILITY else []
    findings = run_checks(data, evaluations)
    profile = load_profile(ctx.sponsor_id, workdir=step_run.workdir, study_id=ctx.study_id)
    milestone = step_run.milestone
    package_name = render_package_name(
        profile,
        milestone=milestone or "package",
        package_version=params.package_version,
        sponsor_code=ctx.sponsor_id.removeprefix("SPN-"),
        study_id=ctx.study_id,
        protocol_number=ctx.protocol_number,
    )
    tables = []
    for spec in profile.tables_for(data.study.study_type):
        headings, rows = build_table(spec, data, profile)
        tables.append(RenderedTable(name=spec.table, title=spec.title, headings=headings, rows=tuple(rows)))
    if evaluations:  # a stability package also shows the Q1E estimates, the OOT list and the trends
        tables.extend(t for t in stability_tables(evaluations) if t.name not in {x.name for x in tables})
    flags = tuple(f.flag for f in findings)
    facts_for_summary = summary_facts(data, findings, tables, milestone)
    prompt_facts = {
        **facts_for_summary,
        "study_title": data.study.title,
        "sponsor_name": ctx.sponsor_id,
        "package_files": [f"{package_name}.{fmt.value}" for fmt in profile.output_formats],
        "facts": facts_for_summary,
    }
    narrative = earlier_narrative(earlier, "summary")
    if narrative is None:
        drafter = drafter_for(step_run.llm)
        if drafter.model_id != "deterministic":  # a model also reads the sponsor's own documents
            query = " ".join([milestone, data.study.study_type.value, *sorted({t.name for t in data.tests})])
            prompt_facts["document"], reference_flags = reference_passages(
                gateway, query, documents=documents
            )
            flags = (*flags, *reference_flags)
        narrative = draft_checked(gateway, drafter, SUMMARY_TASK, prompt_facts)
    ctx = gateway.context  # now attributed to the approved prompt (and model) as well
    if not narrative.verified:
        flags = (*flags, "summary: claims not found in the facts: " + "; ".join(narrative.unverified_claims))
    content = PackageContent(
        title=f"Data package {package_name}",
        subtitle=f"{ctx.protocol_number} · study {ctx.study_id} · {milestone or 'no milestone'}",
        package_name=package_name,
        generated_at=created_at,
        summary=paragraphs(narrative.text),
        tables=tuple(tables),
        flags=flags,
        qc_statement=profile.render_qc_statement(
            sponsor_id=ctx.sponsor_id,
            study_id=ctx.study_id,
            protocol_number=ctx.protocol_number,
            milestone=milestone,
            package_name=package_name,
        ),
        signature_blocks=tuple(
            SignatureBlock(
                role=role.value, meaning=profile.signature_meanings.get(role, SignatureMeaning.APPROVAL).value
            )
            for role in profile.reviewer_roles
        ),
    )
    rendered = render_all(content, [f.value for f in profile.output_formats])
    rendered.update(trend_plots(evaluations))
    files = [
        DraftFile(name=Path(name).name, media_type=MEDIA_TYPES[Path(name).suffix], content=body)
        for name, body in sorted(rendered.items())
    ]
    provenance = {
        "step_id": ctx.agent.step_id,
        "step_version": ctx.agent.step_version,
        "run_id": ctx.run_id,
        "inputs": inputs,
        "templates": {
            f"prompt:{ctx.agent.prompt_id}@{ctx.agent.prompt_version}": ctx.agent.prompt_sha256,
            f"profile:{profile.sponsor_id}@{profile.version}": profile_sha256(profile),
            f"docx:{TEMPLATE_NAME}": hashlib.sha256(
                resource_files("limsai.packages").joinpath("templates", TEMPLATE_NAME).read_bytes()
            ).hexdigest(),
        },
    }
    facts: dict[str, Any] = {
        "study_id": ctx.study_id,
        "sponsor": ctx.sponsor_id,
        "milestone": milestone,
        "package_name": package_name,
        "included_tables": [t.name for t in tables],
        "validation_flags": list(flags),
        "summary_facts": facts_for_summary,
        "summary": narrative.model_dump(mode="json"),
        "templates": provenance["templates"],
    }
    package = DraftPackage.for_run(
        ctx, files, milestone=milestone, inputs=inputs, facts=facts, created_at=created_at
    )
    manifest = {
        **{k: facts[k] for k in ("study_id", "sponsor", "milestone", "included_tables", "validation_flags")},
        "files": [
            {"name": f.name, "path": output_path(f.name), "sha256": hashlib.sha256(f.content).hexdigest()}
            for f in files
        ],
        "status": "DRAFT",
        "narrative_checks": narrative.narrative_checks,
        "provenance": {**provenance, "model_id": ctx.agent.model_id, "llm_call": narrative.llm_call},
        "draft_manifest_sha256": package.manifest_hash,
    }
    out_dir = write_outputs(step_run.workdir, ctx.study_id, milestone, files, manifest)
    summary: dict[str, Any] = {
        "tables": len(tables),
        "files": len(files),
        "flags": len(flags),
        "findings_by_kind": {f.kind.value: sum(1 for g in findings if g.kind is f.kind) for f in findings},
        "out_dir": str(out_dir) if out_dir else None,
        "manifest_sha256": package.manifest_hash,
        "narrative_verified": narrative.verified,
    }
    message = f"{package_name}: {len(tables)} tables, {len(files)} files, {len(flags)} flag(s)"
    if not drafting:
        return StepOutcome(
            summary=summary, message=f"{message}; rollout phase {ctx.rollout_phase.value}: not attached"
        )
    documents = attach_package(gateway, package, prefix)
    drafts = draft_rows(documents)
    tasks: list[str] = []
    if Permission.CREATE_TASKS in allowed:
        signed = documents[0]
        task = gateway.create_task(
            TaskRequest(
                title=("ATTENTION — " if not narrative.verified else "")
                + f"Review data package {package_name}",
                assignee=data.study.study_director or ctx.principal.user_id,
                document_id=signed.document_id,
                document_version=signed.version,
                instructions=(
                    attention(narrative)
                    + f"Review the package and its {len(flags)} flag(s); e-sign the manifest "
                    f"(sha256 {signed.sha256}) with meaning approval to allow its release to the sponsor."
                ),
                required_meaning=SignatureMeaning.APPROVAL.value,
            ),
            idempotency_key=f"{ctx.run_id}:review",
        )
        tasks.append(task.task_id)
    return StepOutcome(summary=summary, drafts=drafts, tasks=tasks, message=message)


def attention(narrative: DraftedText) -> str:
    """What a review task says first when the drafted narrative holds claims not in the facts."""
    if narrative.verified:
        return ""
    return (
        f"ATTENTION: the drafted summary states {len(narrative.unverified_claims)} number(s), date(s) or "
        "unit(s) not found in the computed facts; check them before signing. "
    )


def output_path(name: str) -> str:
    """Where a package file sits in its output folder: CSVs under ``tables/``, charts under ``plots/``."""
    folder = {".csv": "tables", ".png": "plots"}.get(Path(name).suffix)
    return f"{folder}/{name}" if folder else name


def write_outputs(
    workdir: Path | None, study_id: str, milestone: str, files: list[DraftFile], manifest: dict[str, Any]
) -> Path | None:
    """``DIR/out/<study_id>/<milestone>/``: every file, CSVs under ``tables/``, trend charts under
    ``plots/``, and manifest.json."""
    if workdir is None:
        return None
    out = workdir / OUT / study_id / (slug(milestone) if milestone else "no-milestone")
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    for f in files:
        (out / output_path(f.name)).write_bytes(f.content)
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return out


STEP = StepSpec(
    id="package.assemble",
    version="1.0.0",
    title="Assemble a sponsor data package",
    description=(
        "A sponsor-ready data package for a study milestone: checks flag what needs investigation, tables "
        "follow the sponsor's profile, DOCX/PDF/XLSX/CSV outputs and a manifest are drafted into the LIMS "
        "with a review task for the study director."
    ),
    input_model=PackageAssembleParams,
    permissions=DRAFTING_PERMISSIONS,
    phase=StepPhase.READ_ONLY,
    capabilities=STUDY_DRAFTING_CAPABILITIES,
    run=run,
)
