"""``report.draft``: the stability section of a study report, drafted for the study director.

For a stability study it reads the study through the scoped gateway, evaluates every attribute and
condition (:mod:`limsai.checks.stability`: ICH Q1E poolability, model and shelf life at the long-term
condition; out-of-trend results by the prediction-limit regression control chart), runs the other
checks for the OOS list, and drafts, per attribute and condition, the trend chart, the shelf-life
estimate with the chosen model and why, and the OOT and OOS results with suggested commentary; then
the report's summary section from the approved deterministic template. The proposed shelf life is
the shortest estimate, capped by the ICH Q1E extrapolation limit for the months of long-term data
(significant change at accelerated/intermediate judged from the data: any OOS result there, or an
assay mean 5% or more from its initial value). The DOCX (with the plots) and the two tables as CSV
are attached to the study as a DRAFT with a review task; nothing here sets a shelf life.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import Field

from limsai.ai.drafting import draft_checked, drafter_for, paragraphs
from limsai.checks.findings import Finding, FindingKind
from limsai.checks.run_all import run_checks
from limsai.checks.stability import SeriesEvaluation, StabilityEvaluationConfig, evaluate_stability
from limsai.governance.drafts import DraftFile, DraftPackage
from limsai.governance.policy import PHASE_WRITES, Permission
from limsai.lims.errors import LimsRejected
from limsai.model import ConditionKind, LimsModel, SignatureMeaning, StudyType, TaskRequest, utcnow
from limsai.packages.profiles import slug
from limsai.packages.render import RenderedTable
from limsai.packages.render_report import Figure, ReportContent, ReportSection, render_report_docx
from limsai.packages.stability_tables import (
    OOT_HEADINGS,
    SHELF_LIFE_HEADINGS,
    attribute,
    months,
    oot_rows,
    shelf_life_rows,
)
from limsai.packages.trend_plot import trend_plot
from limsai.runtime.registry import StepOutcome, StepPhase, StepRun, StepSpec
from limsai.stats.q1e import Storage, max_extrapolation
from limsai.steps._drafting import (
    DRAFTING_PERMISSIONS,
    STUDY_DRAFTING_CAPABILITIES,
    attach_package,
    draft_rows,
    earlier_manifest,
    earlier_narrative,
)
from limsai.steps.package_assemble import MEDIA_TYPES, read_study

PREFIX = "report-draft"
CONFIG = StabilityEvaluationConfig()  # Q1E at 95% / pool at 0.25, OOT by prediction limits (defaults)
SUMMARY_TASK = "stability_report_summary"
SIGNIFICANT_ASSAY_CHANGE = 0.05  # Q1A(R2) 2.2.7: a 5% change in assay from its initial value
_STORAGE: dict[ConditionKind, Storage] = {
    ConditionKind.LONG_TERM: "room",
    ConditionKind.REFRIGERATED: "refrigerated",
    ConditionKind.FROZEN: "frozen",
}


class ReportDraftParams(LimsModel):
    as_of: datetime | None = Field(default=None, description="date the schedule is judged at (default: now)")


def significant_change(evaluations: list[SeriesEvaluation], kind: ConditionKind) -> tuple[bool, list[str]]:
    """Q1A(R2) 2.2.7 as far as the data show it at the ``kind`` condition: a result out of
    specification, or an assay mean moving 5% or more from its initial (time 0) value."""
    reasons: list[str] = []
    for ev in evaluations:
        if ev.condition_kind is not kind:
            continue
        if any(p.oos for p in ev.points):
            reasons.append(f"{attribute(ev)} out of specification at {ev.condition}")
        if ev.test.lower() == "assay":
            initial = [p.value for p in ev.points if p.time == 0]
            by_time: dict[float, list[float]] = defaultdict(list)
            for p in ev.points:
                by_time[p.time].append(p.value)
            if initial:
                start = sum(initial) / len(initial)
                moved = [
                    t
                    for t, v in by_time.items()
                    if abs(sum(v) / len(v) - start) >= SIGNIFICANT_ASSAY_CHANGE * start
                ]
                if moved:
                    reasons.append(f"assay mean changed by 5% or more from initial at {ev.condition}")
    return bool(reasons), reasons


def _csv(headings: tuple[str, ...], rows: list[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headings)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def summary_facts(
    ctx_milestone: str, data_study: Any, evaluations: list[SeriesEvaluation], findings: list[Finding]
) -> dict[str, Any]:
    """The facts the summary template may use: identifiers, counts and computed estimates."""
    long_term = [ev for ev in evaluations if ev.condition_kind in _STORAGE]
    covered = max((p.time for ev in long_term for p in ev.points), default=0.0)
    estimates = [
        {
            "attribute": attribute(ev),
            "estimate": months(ev.shelf_life.shelf_life),
            "model": ev.shelf_life.model,
        }
        for ev in long_term
        if ev.shelf_life is not None and ev.shelf_life.shelf_life is not None
    ]
    change_acc, _ = significant_change(evaluations, ConditionKind.ACCELERATED)
    change_int, _ = significant_change(evaluations, ConditionKind.INTERMEDIATE)
    facts: dict[str, Any] = {
        "study_id": data_study.study_id,
        "protocol_number": data_study.protocol_number,
        "milestone": ctx_milestone or "unspecified",
        "long_term_months": months(covered),
        "batches": sorted({b for ev in evaluations for b in ev.batches}),
        "batch_count": len({b for ev in evaluations for b in ev.batches}),
        "guideline": "ICH Q1E",
        "confidence": f"{(1 - CONFIG.shelf_life_alpha) * 100:g}%",
        "alpha_pool": f"{CONFIG.alpha_pool:g}",
        "series": len(evaluations),
        "estimates": estimates,
        "oot_count": sum(1 for f in findings if f.kind is FindingKind.OOT),
        "oos_count": sum(1 for f in findings if f.kind is FindingKind.OOS),
        "change_accelerated": "yes" if change_acc else "no",
        "change_intermediate": "yes" if change_int else "no",
    }
    if estimates and covered > 0:
        limiting = min(estimates, key=lambda e: float(e["estimate"]))
        storage = _STORAGE[long_term[0].condition_kind]
        limit = max_extrapolation(
            covered,
            storage,
            change_accelerated=change_acc,
            change_intermediate=change_int,
        )
        facts |= {
            "limiting": limiting,
            "max_shelf_life": months(limit.max_shelf_life),
            "extrapolation_rule": limit.rule,
            "proposed": str(math.floor(min(float(limiting["estimate"]), limit.max_shelf_life))),
        }
    return facts


def series_section(ev: SeriesEvaluation, findings: list[Finding]) -> ReportSection:
    result = ev.shelf_life
    if result is not None:
        estimate = (
            "not reached within the search range"
            if result.shelf_life is None
            else (f"{months(result.shelf_life)} months")
        )
        worst = f" (worst batch {result.worst_batch})." if result.worst_batch else "."
        reason = result.reason.rstrip(".")
        text = f"ICH Q1E model {result.model}: {reason}. Estimated shelf life: {estimate}{worst}"
    else:
        text = f"No shelf-life estimate: {ev.shelf_life_skipped}."
    oot = ev.oot_points
    results = {rid for p in ev.points for rid in p.result_ids}
    related = [
        f for f in findings if f.kind in (FindingKind.OOS, FindingKind.OOT) and f.primary_record in results
    ]
    lines = [text, f"{len(oot)} out-of-trend result(s) by the prediction-limit regression control chart."]
    lines += [
        f"{f.kind.value.upper()} {f.primary_record}: {f.detail} Suggested: {f.suggested_note}"
        for f in related
    ]
    tables: tuple[RenderedTable, ...] = ()
    if oot:
        rows = tuple(r for r in oot_rows([ev]))
        tables = (RenderedTable(name="oot", title="Out-of-trend results", headings=OOT_HEADINGS, rows=rows),)
    return ReportSection(
        heading=ev.condition,
        paragraphs=tuple(lines),
        figures=(Figure(png=trend_plot(ev), caption=f"{attribute(ev)} at {ev.condition}: trend by batch"),),
        tables=tables,
    )


def run(step_run: StepRun) -> StepOutcome:
    STEP.check_agent(step_run.context)
    params = step_run.params
    if not isinstance(params, ReportDraftParams):
        raise TypeError(f"report.draft expects ReportDraftParams, not {type(params).__name__}")
    ctx, gateway = step_run.context, step_run.gateway
    allowed = PHASE_WRITES[ctx.rollout_phase]
    drafting = Permission.WRITE_DRAFTS in allowed
    milestone = step_run.milestone
    prefix = f"{PREFIX}/{slug(milestone) if milestone else 'no-milestone'}"
    earlier = earlier_manifest(gateway, prefix) if drafting else None
    created_at = earlier.provenance.created_at if earlier else utcnow()
    data, inputs = read_study(gateway, params.as_of or created_at)
    if data.study.study_type is not StudyType.STABILITY:
        raise LimsRejected(
            f"report.draft drafts stability reports; {ctx.study_id} is {data.study.study_type.value}"
        )
    evaluations = evaluate_stability(data, CONFIG)
    findings = run_checks(data, evaluations)
    facts = summary_facts(milestone, data.study, evaluations, findings)
    prompt_facts = {
        **facts,
        "study_title": data.study.title,
        "sponsor_name": ctx.sponsor_id,
        "as_of": (params.as_of or created_at).isoformat(),
        "facts": facts,
    }
    narrative = earlier_narrative(earlier, "summary") or draft_checked(
        gateway, drafter_for(step_run.llm), SUMMARY_TASK, prompt_facts
    )
    ctx = gateway.context  # now attributed to the approved prompt (and model) as well
    by_attribute: dict[str, list[SeriesEvaluation]] = defaultdict(list)
    for ev in evaluations:
        by_attribute[attribute(ev)].append(ev)
    shelf = shelf_life_rows(evaluations)
    oot = oot_rows(evaluations)
    sections = [
        ReportSection(
            heading="Summary",
            paragraphs=paragraphs(narrative.text),
            tables=(
                RenderedTable(
                    name="shelf_life",
                    title="Shelf life by ICH Q1E",
                    headings=SHELF_LIFE_HEADINGS,
                    rows=tuple(shelf),
                ),
            ),
        ),
        *(
            ReportSection(heading=name, subsections=tuple(series_section(ev, findings) for ev in group))
            for name, group in by_attribute.items()
        ),
    ]
    content = ReportContent(
        title=f"Stability report draft — study {ctx.study_id}",
        subtitle=f"{ctx.protocol_number} · {milestone or 'no milestone'}",
        generated_at=created_at,
        sections=tuple(sections),
    )
    files = [
        DraftFile(
            name=f"{slug(ctx.study_id)}-stability-report.docx",
            media_type=MEDIA_TYPES[".docx"],
            content=render_report_docx(content),
        ),
        DraftFile(name="shelf-life.csv", media_type="text/csv", content=_csv(SHELF_LIFE_HEADINGS, shelf)),
        DraftFile(name="out-of-trend.csv", media_type="text/csv", content=_csv(OOT_HEADINGS, oot)),
    ]
    package = DraftPackage.for_run(
        ctx,
        files,
        milestone=milestone,
        inputs=inputs,
        facts={**facts, "summary": narrative.model_dump(mode="json")},
        created_at=created_at,
    )
    summary: dict[str, Any] = {
        "series": len(evaluations),
        "figures": len(evaluations),
        "shelf_life_estimates": len(shelf),
        "proposed_shelf_life_months": facts.get("proposed"),
        "oot": facts["oot_count"],
        "oos": facts["oos_count"],
        "manifest_sha256": package.manifest_hash,
        "narrative_checks": narrative.narrative_checks,
    }
    message = (
        f"stability report draft: {len(evaluations)} series, proposed shelf life "
        f"{facts.get('proposed', '—')} months, {facts['oot_count']} OOT, {facts['oos_count']} OOS"
    )
    if not drafting:
        return StepOutcome(
            summary=summary, message=f"{message}; rollout phase {ctx.rollout_phase.value}: not attached"
        )
    documents = attach_package(gateway, package, prefix)
    drafts = draft_rows(documents)
    tasks: list[str] = []
    if Permission.CREATE_TASKS in allowed:
        task = gateway.create_task(
            TaskRequest(
                title=("ATTENTION — " if not narrative.verified else "")
                + f"Review the stability report draft of {ctx.study_id}",
                assignee=data.study.study_director or ctx.principal.user_id,
                document_id=documents[0].document_id,
                document_version=documents[0].version,
                instructions=(
                    f"Review the shelf-life estimates, {facts['oot_count']} OOT and {facts['oos_count']} OOS "
                    "result(s) and the drafted summary; e-sign the manifest to accept the draft."
                ),
                required_meaning=SignatureMeaning.APPROVAL.value,
            ),
            idempotency_key=f"{ctx.run_id}:review",
        )
        tasks.append(task.task_id)
    return StepOutcome(summary=summary, drafts=drafts, tasks=tasks, message=message)


STEP = StepSpec(
    id="report.draft",
    version="1.0.0",
    title="Draft the stability section of a study report",
    description=(
        "Per attribute and condition of a stability study: trend chart, ICH Q1E shelf-life estimate with "
        "the chosen model, OOT and OOS results with suggested commentary; the summary section; a DRAFT DOCX "
        "with the plots attached to the study with a review task."
    ),
    input_model=ReportDraftParams,
    permissions=DRAFTING_PERMISSIONS,
    phase=StepPhase.READ_ONLY,
    capabilities=STUDY_DRAFTING_CAPABILITIES,
    run=run,
)
