"""``status.update``: where a study stands, for its sponsor, drafted for the study director.

Sponsors ask every week how their study is going; the answer is counts and dates the LIMS already
holds. This step reads them through the scoped gateway (one sponsor, one study), computes the
progress deterministically (no model, no prompt) and drafts ``status.md`` (for people) and
``status.json`` (for systems) with the same facts: counts and dates only, never a result value.

How it counts:

* A timepoint's samples are the study's samples logged against it, except reanalysis and aliquot
  records (``parent_sample_id`` set), which repeat a sample already counted. Samples on no timepoint
  (calibration standards, QCs) and reanalyses are counted apart as ``other_samples``.
* A result is *current* unless invalidated or cancelled. A sample is *received* when it has a
  ``received_at``; *tested* when it has a current result with a value; *reviewed* when it is tested
  and every current result is reviewed or approved.
* A pull's due date (month and day timepoints) is the due date of the study's ``T<n> pull complete``
  milestone, or its completion date when it has none; without that milestone, n calendar months
  (days) after the earliest collection of a scheduled sample (the T0 pull). Hour timepoints (PK
  nominal times) run from each subject's dose and have no study-level due date.
* A pull is overdue when its timepoint has planned tests and no sample, and ``as_of`` is later than
  its due date plus the timepoint's window.

What it writes: READ_DATA is always used; READ_DOCUMENTS, WRITE_DRAFTS and CREATE_TASKS only when
the rollout phase allows drafts. Under ``read-only`` nothing is attached: the outcome alone carries
the counts and the flagged records (overdue timepoints, open deviations). Otherwise the package
(manifest, ``status.md``, ``status.json``) is attached as ``status-update/<file>`` with idempotency
keys ``<run id>:<document name>``, and one review task is opened for the study director (key
``<run id>:review``). A retry of a run takes the package time (and the default ``as_of``) from the
manifest its first attempt attached, so the same data yields the same bytes and the LIMS hands back
the first attachments instead of writing twice.
"""

from __future__ import annotations

import calendar
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from limsai.governance.drafts import DraftFile, DraftPackage
from limsai.governance.gateway import ScopedGateway, records_hash
from limsai.governance.policy import PHASE_WRITES, Permission
from limsai.lims.port import Capability
from limsai.model import (
    Condition,
    Deviation,
    DeviationStatus,
    Result,
    ResultStatus,
    Sample,
    SignatureMeaning,
    Study,
    TaskRequest,
    Timepoint,
    TimeUnit,
    utcnow,
)
from limsai.runtime.registry import StepOutcome, StepPhase, StepRun, StepSpec
from limsai.steps._drafting import earlier_attempt

PREFIX = "status-update"
FORMAT = "limsai.status-update/1"
NOT_CURRENT = frozenset({ResultStatus.INVALIDATED, ResultStatus.CANCELLED})
DONE = frozenset({ResultStatus.REVIEWED, ResultStatus.APPROVED})
COUNTS = ("samples", "received", "tested", "reviewed")
OVERDUE_KEYS = ("timepoint_id", "timepoint", "due", "due_basis")
STUDY_FIELDS = {"study_id", "sponsor_id", "protocol_number", "title", "study_type", "study_director"}
LABELS = dict(study_id="Study", sponsor_id="Sponsor", protocol_number="Protocol", deviation_id="Deviation")
LABELS |= dict(samples="Scheduled samples", other_samples="Other samples (standards, QCs, reanalyses)")
MARKDOWN = "text/markdown; charset=utf-8"
C = Capability
READ_CAPABILITIES = frozenset(
    {C.READ_STUDIES, C.READ_SCHEDULE, C.READ_SAMPLES, C.READ_RESULTS, C.READ_DEVIATIONS}
)
DRAFT_CAPABILITIES = frozenset({C.READ_DOCUMENTS, C.ATTACH_DRAFTS, C.CREATE_TASKS})
DRAFT_PERMISSIONS = frozenset({Permission.READ_DOCUMENTS, Permission.WRITE_DRAFTS, Permission.CREATE_TASKS})
"""Used only when the rollout phase allows drafts (documents are read to find a first attempt's package)."""


class StatusUpdateParams(BaseModel):
    """Input of ``status.update``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date | None = Field(default=None, description="the day the update speaks for; default today (UTC)")


@dataclass(frozen=True)
class Inputs:
    """Everything the step reads, once, through the gateway."""

    study: Study
    conditions: list[Condition]
    timepoints: list[Timepoint]
    samples: list[Sample]
    results: list[Result]
    deviations: list[Deviation]

    @classmethod
    def read(cls, gateway: ScopedGateway) -> Inputs:
        return cls(
            gateway.get_study(),
            gateway.list_conditions(),
            gateway.list_timepoints(),
            gateway.list_samples(),
            gateway.list_results(),
            gateway.list_deviations(),
        )

    def hashes(self) -> dict[str, str]:
        """sha256 of each input as read (the package's provenance)."""
        lists = ("conditions", "timepoints", "samples", "results", "deviations")
        return {"study": records_hash([self.study]), **{n: records_hash(getattr(self, n)) for n in lists}}


def add_months(day: date, months: int) -> date:
    """Calendar months later, clamped to the end of a shorter month (31 Jan + 1 month = 28/29 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def nominal_text(tp: Timepoint) -> str:
    """The nominal time without trailing zeros ("9", "0.5")."""
    return format(Decimal(tp.nominal).normalize(), "f")


def due_date(tp: Timepoint, study: Study, anchor: date | None) -> tuple[date | None, str]:
    """When the pull of ``tp`` is due, and on what basis (see the module docstring)."""
    if tp.unit is TimeUnit.HOUR:
        return None, "per subject dose"
    milestone = study.milestone(f"T{nominal_text(tp)} pull complete")
    if milestone is not None and milestone.due_date is not None:
        return milestone.due_date, f"milestone '{milestone.name}' due date"
    if milestone is not None and milestone.completed_at is not None:
        return milestone.completed_at.date(), f"milestone '{milestone.name}' completed"
    n = tp.nominal_value
    if anchor is None or n != n.to_integral_value():
        return None, "unknown"
    if tp.unit is TimeUnit.MONTH:
        return add_months(anchor, int(n)), "months after first collection"
    return anchor + timedelta(days=int(n)), "days after first collection"


def sample_progress(results: list[Result]) -> dict[str, tuple[bool, bool]]:
    """sample id -> (tested, reviewed)."""
    current: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        if r.status not in NOT_CURRENT:
            current[r.sample_id].append(r)
    out: dict[str, tuple[bool, bool]] = {}
    for sample_id, rs in current.items():
        tested = any(r.value is not None for r in rs)
        out[sample_id] = (tested, tested and all(r.status in DONE for r in rs))
    return out


def _state(counts: dict[str, int], due: date | None, overdue: bool, as_of: date) -> str:
    n = counts["samples"]
    if n == 0:
        return "overdue" if overdue else ("due" if due is not None and due <= as_of else "scheduled")
    for name in ("reviewed", "tested"):
        if counts[name] == n:
            return name
    return "in testing" if counts["tested"] else ("received" if counts["received"] else "logged")


def compute_facts(inputs: Inputs, as_of: date) -> dict[str, Any]:
    """The study's progress as JSON-ready facts (what both files say)."""
    study, progress = inputs.study, sample_progress(inputs.results)
    known = {t.timepoint_id for t in inputs.timepoints}
    by_tp: dict[str, list[Sample]] = defaultdict(list)
    for s in inputs.samples:
        if s.timepoint_id in known and s.parent_sample_id is None:
            by_tp[s.timepoint_id].append(s)
    scheduled = [s for samples in by_tp.values() for s in samples]
    collected = [s.collected_at for s in scheduled if s.collected_at is not None]
    anchor = min(collected).date() if collected else None
    labels = {c.condition_id: c.label for c in inputs.conditions}
    groups: dict[str | None, list[dict[str, Any]]] = {c.condition_id: [] for c in inputs.conditions}
    overdue: list[dict[str, Any]] = []
    for tp in sorted(inputs.timepoints, key=lambda t: (t.nominal_value, t.label, t.timepoint_id)):
        samples = by_tp[tp.timepoint_id]
        flags = [(s.received_at is not None, *progress.get(s.sample_id, (False, False))) for s in samples]
        counts = {"samples": len(samples), **{k: sum(f[i] for f in flags) for i, k in enumerate(COUNTS[1:])}}
        due, basis = due_date(tp, study, anchor)
        window_end = None if due is None else due + timedelta(days=tp.window_days or 0)
        late = not samples and bool(tp.planned_tests) and window_end is not None and as_of > window_end
        condition = tp.condition_id if tp.condition_id in labels else None
        row = {
            "timepoint_id": tp.timepoint_id,
            "timepoint": tp.label,
            "nominal": tp.nominal,
            "unit": tp.unit.value,
            "planned_tests": len(tp.planned_tests),
            "due": None if due is None else due.isoformat(),
            "due_basis": basis,
            **counts,
            "state": _state(counts, due, late, as_of),
        }
        groups.setdefault(condition, []).append(row)
        if late and window_end is not None:
            closed = {"window_closed": window_end.isoformat(), "days_overdue": (as_of - window_end).days}
            where = {"condition": labels.get(condition or ""), **{k: row[k] for k in OVERDUE_KEYS}}
            overdue.append({**where, **closed})
    open_deviations = [
        {
            "deviation_id": d.deviation_id,
            "title": d.title,
            "category": d.category,
            "opened": d.opened_at.date().isoformat(),
            "related_records": list(d.related_records),
        }
        for d in sorted(inputs.deviations, key=lambda d: (d.opened_at, d.deviation_id))
        if d.status is DeviationStatus.OPEN
    ]
    rows = [row for group in groups.values() for row in group]
    by_status = Counter(r.status.value for r in inputs.results)
    return {
        "format": FORMAT,
        "as_of": as_of.isoformat(),
        "study": study.model_dump(mode="json", include=STUDY_FIELDS),
        "summary": {
            **{k: sum(row[k] for row in rows) for k in COUNTS},
            "other_samples": len(inputs.samples) - len(scheduled),
            "overdue_pulls": len(overdue),
            "open_deviations": len(open_deviations),
            "results": len(inputs.results),
        },
        "results_by_status": {s.value: by_status[s.value] for s in ResultStatus},
        "schedule": [
            {"condition_id": cid, "condition": labels.get(cid or ""), "timepoints": tps}
            for cid, tps in groups.items()
            if tps
        ],
        "overdue_pulls": overdue,
        "open_deviations": open_deviations,
        "milestones": [
            {
                "name": m.name,
                "status": m.status.value,
                "due": None if m.due_date is None else m.due_date.isoformat(),
                "completed": None if m.completed_at is None else m.completed_at.date().isoformat(),
            }
            for m in study.milestones
        ],
    }


def _cell(value: object) -> str:
    text = "—" if value is None or value == "" else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["None.", ""]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return [*lines, *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows), ""]


def _records(title: str, items: list[dict[str, Any]], keys: tuple[str, ...]) -> list[str]:
    body = _table([_label(k) for k in keys], [[i[k] for k in keys] for i in items])
    return [f"## {_cell(title)}", "", *body]


def render_markdown(facts: dict[str, Any]) -> str:
    """``status.md``: the facts for a reader; counts and dates only."""
    study, summary = facts["study"], facts["summary"]
    out = [f"# Status update: {_cell(study['protocol_number'])}", ""]
    out += _table(["", ""], [*([_label(k), v] for k, v in study.items()), ["As of", facts["as_of"]]])
    out += ["_AI draft for review: counts and dates from the LIMS, no result values._", "", "## Summary", ""]
    by_status = [[f"Results {status}", n] for status, n in facts["results_by_status"].items() if n]
    out += _table(["Measure", "Count"], [*([_label(k), v] for k, v in summary.items()), *by_status])
    for group in facts["schedule"]:
        keys = ("timepoint", "due", *COUNTS, "state")
        out += _records(group["condition"] or "Nominal timepoints", group["timepoints"], keys)
    late = ("timepoint", "condition", "due", "window_closed", "days_overdue")
    out += _records("Overdue pulls", facts["overdue_pulls"], late)
    out += _records(
        "Open deviations", facts["open_deviations"], ("deviation_id", "opened", "category", "title")
    )
    out += _records("Milestones", facts["milestones"], ("name", "status", "due", "completed"))
    return "\n".join(out).rstrip() + "\n"


def run(step_run: StepRun) -> StepOutcome:
    """Compute the study's status; attach it as a draft with a review task when the phase allows."""
    STEP.check_agent(step_run.context)
    params = step_run.params
    if not isinstance(params, StatusUpdateParams):
        raise TypeError(f"status.update expects StatusUpdateParams, not {type(params).__name__}")
    ctx, gateway = step_run.context, step_run.gateway
    allowed = PHASE_WRITES[ctx.rollout_phase]
    drafting = Permission.WRITE_DRAFTS in allowed
    created_at = (earlier_attempt(gateway, PREFIX) if drafting else None) or utcnow()
    as_of = params.as_of or created_at.date()
    inputs = Inputs.read(gateway)
    facts = compute_facts(inputs, as_of)
    summary: dict[str, Any] = {
        **facts["summary"],
        "as_of": facts["as_of"],
        "overdue_timepoints": [p["timepoint_id"] for p in facts["overdue_pulls"]],
        "open_deviation_ids": [d["deviation_id"] for d in facts["open_deviations"]],
    }
    s = facts["summary"]
    message = (
        f"{ctx.protocol_number} as of {as_of.isoformat()}: {s['samples']} scheduled samples "
        f"({s['tested']} tested, {s['reviewed']} reviewed), {s['overdue_pulls']} overdue pull(s), "
        f"{s['open_deviations']} open deviation(s)"
    )
    if not drafting:
        return StepOutcome(
            summary=summary, message=f"{message}; rollout phase {ctx.rollout_phase.value}: nothing attached"
        )
    files = [
        DraftFile(name="status.md", media_type=MARKDOWN, content=render_markdown(facts).encode()),
        DraftFile(
            name="status.json",
            media_type="application/json",
            content=(json.dumps(facts, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
        ),
    ]
    package = DraftPackage.for_run(
        ctx, files, milestone=step_run.milestone, inputs=inputs.hashes(), facts=facts, created_at=created_at
    )
    documents = [
        gateway.attach_draft(draft, idempotency_key=f"{ctx.run_id}:{draft.name}")
        for draft in package.to_documents(PREFIX)
    ]
    drafts = [
        {"document_id": d.document_id, "version": d.version, "name": d.name, "sha256": d.sha256}
        for d in documents
    ]
    tasks: list[str] = []
    if Permission.CREATE_TASKS in allowed:
        manifest = documents[0]
        assignee = inputs.study.study_director or ctx.principal.user_id
        task = gateway.create_task(
            TaskRequest(
                title=f"Review the status update of {ctx.protocol_number} as of {as_of.isoformat()}",
                assignee=assignee,
                document_id=manifest.document_id,
                document_version=manifest.version,
                instructions=(
                    f"Check status.md and status.json against the LIMS, then e-sign the manifest "
                    f"(sha256 {manifest.sha256}) with meaning approval to release it to the sponsor."
                ),
                required_meaning=SignatureMeaning.APPROVAL.value,
            ),
            idempotency_key=f"{ctx.run_id}:review",
        )
        tasks.append(task.task_id)
        message += f"; draft {manifest.document_id} v{manifest.version} awaits review by {assignee}"
    return StepOutcome(summary=summary, drafts=drafts, tasks=tasks, message=message)


STEP = StepSpec(
    id="status.update",
    version="1.0.0",
    title="Study status update",
    description=(
        "The study's progress for its sponsor: samples received, tested and reviewed per condition "
        "and timepoint, overdue pulls, open deviations and result counts, drafted as status.md and "
        "status.json for the study director to review. Counts and dates only, no result values."
    ),
    input_model=StatusUpdateParams,
    permissions=frozenset({Permission.READ_DATA}) | DRAFT_PERMISSIONS,
    phase=StepPhase.READ_ONLY,
    capabilities=READ_CAPABILITIES | DRAFT_CAPABILITIES,
    run=run,
)
