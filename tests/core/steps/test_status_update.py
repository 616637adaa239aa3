"""status.update on the seeded CRO scenario: exact progress counts for a stability and a PK study
(derived here from the dataset and the protocol, not from the step), the planted missed pull shown
as overdue, the draft package stored as a DRAFT with matching sha256s and one review task, an
idempotent retry, nothing attached in the read-only phase, and no result value or canary in the
Markdown."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from limsai.governance.context import ClientProjectContext
from limsai.governance.drafts import DraftManifest
from limsai.governance.gateway import ScopedGateway
from limsai.governance.identity import AgentIdentity
from limsai.governance.policy import RolloutPhase
from limsai.lims.embedded import EmbeddedLims
from limsai.lims.port import StudyScope
from limsai.lims.scenario import AnomalyKind, Scenario, generate
from limsai.model import (
    DeviationStatus,
    DocumentStatus,
    Milestone,
    MilestoneStatus,
    ResultStatus,
    Study,
    StudyType,
    Timepoint,
    TimeUnit,
)
from limsai.runtime.registry import AgentMismatch, StepOutcome, StepRun
from limsai.steps.status_update import STEP, StatusUpdateParams, add_months, due_date
from limsai.testing.audit import ListAuditSink

AS_OF = date(2026, 6, 30)
STABILITY, PK = "BOR-STB-022", "CAS-PK-004"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate()


@pytest.fixture
def lims(tmp_path: Path, scenario: Scenario) -> Iterator[EmbeddedLims]:
    store = EmbeddedLims(tmp_path / "lims.db")
    store.load(scenario.dataset, actor="system:test")
    yield store
    store.close()


def study_of(scenario: Scenario, study_id: str) -> Study:
    return next(s for s in scenario.dataset.studies if s.study_id == study_id)


def execute(
    lims: EmbeddedLims,
    study: Study,
    *,
    phase: RolloutPhase = RolloutPhase.REVIEW_ASSISTED,
    run_id: str = "run-0001",
    as_of: date | None = AS_OF,
    agent: AgentIdentity | None = None,
) -> tuple[StepOutcome, ListAuditSink]:
    assert study.study_director is not None
    context = ClientProjectContext.for_study(
        lims,
        StudyScope(sponsor_id=study.sponsor_id, study_id=study.study_id),
        user_id=study.study_director,
        agent=agent or STEP.agent(),
        rollout_phase=phase,
        run_id=run_id,
    )
    audit = ListAuditSink()
    gateway = ScopedGateway(lims, context, audit)
    run = StepRun(
        context=context, gateway=gateway, params=StatusUpdateParams(as_of=as_of), milestone="weekly"
    )
    return STEP.run(run), audit


def expected_counts(scenario: Scenario, study: Study) -> dict[str, int]:
    """What the update must report, counted from the dataset and, for stability, the protocol."""
    ds = scenario.dataset
    timepoints = {t.timepoint_id: t for t in ds.timepoints if t.study_id == study.study_id}
    samples = [s for s in ds.samples if s.study_id == study.study_id]
    results = [r for r in ds.results if r.study_id == study.study_id]
    on_schedule = [s for s in samples if s.timepoint_id in timepoints and s.parent_sample_id is None]
    valued = {
        r.sample_id for r in results if r.value is not None and r.status is not ResultStatus.INVALIDATED
    }
    unreviewed = {r.sample_id for r in results if r.status is ResultStatus.ENTERED}
    if study.study_type is StudyType.STABILITY:  # batches x pulls due by AS_OF, less the missed one
        start = study.milestones[2].due_date
        assert start is not None and study.milestones[2].name == "T0 pull complete"
        due = [t for t in timepoints.values() if add_months(start, int(t.nominal)) <= AS_OF]
        assert len(on_schedule) == len(study.batches) * (len(due) - 1)
    else:  # every dosed subject is sampled at every nominal time
        subjects = {s.subject_id for s in on_schedule}
        assert len(on_schedule) == len(subjects) * len(timepoints)
    return {
        "samples": len(on_schedule),
        "received": sum(s.received_at is not None for s in on_schedule),
        "tested": sum(s.sample_id in valued for s in on_schedule),
        "reviewed": sum(s.sample_id in valued and s.sample_id not in unreviewed for s in on_schedule),
        "other_samples": len(samples) - len(on_schedule),
        "open_deviations": sum(
            d.study_id == study.study_id and d.status is DeviationStatus.OPEN for d in ds.deviations
        ),
        "results": len(results),
    }


def test_stability_study_counts_and_the_planted_missed_pull(lims: EmbeddedLims, scenario: Scenario) -> None:
    study = study_of(scenario, STABILITY)
    outcome, _ = execute(lims, study)
    missing = scenario.anomalies_of(AnomalyKind.MISSING_TIMEPOINT)
    assert [a.study_id for a in missing] == [STABILITY]
    expected = expected_counts(scenario, study)
    assert expected["samples"] == 39 and expected["other_samples"] == 0  # 3 batches x 13 pulls
    assert {k: outcome.summary[k] for k in expected} == expected
    assert outcome.summary["overdue_pulls"] == 1
    assert outcome.summary["overdue_timepoints"] == [missing[0].expected["timepoint"]]
    assert outcome.summary["open_deviation_ids"] == [missing[0].expected["deviation"]]
    assert outcome.summary["as_of"] == "2026-06-30"

    facts = json.loads(document_text(lims, study, outcome, "status.json"))
    (overdue,) = facts["overdue_pulls"]
    assert overdue["timepoint_id"] == missing[0].expected["timepoint"]
    assert overdue["condition"] == missing[0].expected["condition"]
    assert overdue["due"] == missing[0].expected["scheduled"]  # the "T9 pull complete" due date
    assert overdue["window_closed"] == "2025-06-23" and overdue["days_overdue"] == 372
    results = [r for r in scenario.dataset.results if r.study_id == STABILITY]
    by_status = Counter(r.status.value for r in results)
    assert facts["results_by_status"] == {s.value: by_status[s.value] for s in ResultStatus}
    long_term = facts["schedule"][0]
    assert long_term["condition"] == "25°C/60%RH"
    assert [(t["timepoint"], t["state"]) for t in long_term["timepoints"]][-2:] == [
        ("T18", "reviewed"),
        ("T24", "scheduled"),
    ]


def test_pk_study_counts_per_nominal_timepoint(lims: EmbeddedLims, scenario: Scenario) -> None:
    study = study_of(scenario, PK)
    outcome, _ = execute(lims, study)
    expected = expected_counts(scenario, study)
    assert {k: outcome.summary[k] for k in expected} == expected
    assert outcome.summary["overdue_pulls"] == 0 and outcome.summary["overdue_timepoints"] == []
    facts = json.loads(document_text(lims, study, outcome, "status.json"))
    (schedule,) = facts["schedule"]
    assert schedule["condition"] is None
    subjects = len({s.subject_id for s in scenario.dataset.samples if s.study_id == PK and s.subject_id})
    assert [t["nominal"] for t in schedule["timepoints"]] == ["0", "0.5", "1", "2", "4", "8", "12", "24"]
    assert {t["samples"] for t in schedule["timepoints"]} == {subjects}
    assert {t["due"] for t in schedule["timepoints"]} == {None}  # PK times run from each dose


def document_text(lims: EmbeddedLims, study: Study, outcome: StepOutcome, filename: str) -> str:
    entry = next(d for d in outcome.drafts if d["name"] == f"status-update/{filename}")
    scope = StudyScope(sponsor_id=study.sponsor_id, study_id=study.study_id)
    return lims.get_document_content(scope, entry["document_id"], entry["version"]).decode("utf-8")


def test_the_draft_package_is_a_draft_with_the_right_hashes_and_one_review_task(
    lims: EmbeddedLims, scenario: Scenario
) -> None:
    study = study_of(scenario, STABILITY)
    outcome, audit = execute(lims, study)
    scope = StudyScope(sponsor_id=study.sponsor_id, study_id=study.study_id)
    documents = {d.name: d for d in lims.list_documents(scope)}
    names = ["status-update/manifest.json", "status-update/status.md", "status-update/status.json"]
    assert sorted(documents) == sorted(names) and [d["name"] for d in outcome.drafts] == names
    contents = {}
    for entry in outcome.drafts:
        stored = documents[entry["name"]]
        assert stored.status is DocumentStatus.DRAFT and stored.version == entry["version"] == 1
        assert stored.attribution is not None and stored.attribution.run_id == "run-0001"
        assert stored.attribution.step_id == "status.update" and stored.attribution.step_version == "1.0.0"
        assert stored.milestone == "weekly"
        content = lims.get_document_content(scope, stored.document_id, stored.version)
        assert hashlib.sha256(content).hexdigest() == stored.sha256 == entry["sha256"]
        contents[entry["name"].split("/")[1]] = content
    manifest = DraftManifest.model_validate_json(contents["manifest.json"])
    assert {f.name: f.sha256 for f in manifest.files} == {
        name: hashlib.sha256(contents[name]).hexdigest() for name in ("status.md", "status.json")
    }
    assert manifest.provenance.on_behalf_of == study.study_director
    assert json.loads(contents["status.json"]) == manifest.provenance.facts

    (task,) = lims.list_tasks(scope)
    assert outcome.tasks == [task.task_id]
    assert task.assignee == study.study_director
    manifest_doc = documents["status-update/manifest.json"]
    assert (task.document_id, task.document_version) == (manifest_doc.document_id, 1)
    assert task.required_meaning == "approval"
    assert audit.actions().count("attach_draft") == 3 and audit.actions().count("create_task") == 1


def test_a_second_run_with_the_same_run_id_attaches_nothing_new(
    lims: EmbeddedLims, scenario: Scenario
) -> None:
    study = study_of(scenario, STABILITY)
    scope = StudyScope(sponsor_id=study.sponsor_id, study_id=study.study_id)
    first, _ = execute(lims, study, as_of=None)  # the default as_of comes back from the first attempt
    again, audit = execute(lims, study, as_of=None)
    assert again.drafts == first.drafts and again.tasks == first.tasks
    assert len(lims.list_documents(scope)) == 3 and len(lims.list_tasks(scope)) == 1
    replays = [r.details["replay"] for r in audit.records if r.action == "attach_draft"]
    assert replays == [True, True, True]
    other, _ = execute(lims, study, run_id="run-0002")  # a new run supersedes the earlier draft
    assert [d["version"] for d in other.drafts] == [2, 2, 2]
    statuses = Counter(d.status for d in lims.list_documents(scope))
    assert statuses == {DocumentStatus.DRAFT: 3, DocumentStatus.SUPERSEDED: 3}


def test_the_read_only_phase_attaches_nothing(lims: EmbeddedLims, scenario: Scenario) -> None:
    study = study_of(scenario, STABILITY)
    outcome, audit = execute(lims, study, phase=RolloutPhase.READ_ONLY)
    scope = StudyScope(sponsor_id=study.sponsor_id, study_id=study.study_id)
    assert outcome.drafts == [] and outcome.tasks == []
    assert lims.list_documents(scope) == [] and lims.list_tasks(scope) == []
    assert outcome.summary["overdue_pulls"] == 1 and outcome.summary["samples"] == 39
    assert outcome.message.endswith("rollout phase read-only: nothing attached")
    assert set(audit.actions()) == {"read"}


@pytest.mark.parametrize("study_id", [STABILITY, PK])
def test_the_markdown_holds_no_result_value_and_no_canary(
    lims: EmbeddedLims, scenario: Scenario, study_id: str
) -> None:
    study = study_of(scenario, study_id)
    outcome, _ = execute(lims, study)
    markdown = document_text(lims, study, outcome, "status.md")
    for needle in (study.study_id, study.protocol_number, study.sponsor_id, "2026-06-30"):
        assert needle in markdown
    values = {r.value for r in scenario.dataset.results if r.study_id == study_id and r.value}
    decimals = {v.lstrip("<>") for v in values if "." in v}
    assert decimals and not decimals & set(re.findall(r"\d+(?:\.\d+)+", markdown))
    assert not {v for v in values if not v[0].isdigit()} & set(re.findall(r"[A-Za-z<>][\w.<>]*", markdown))
    for sponsor_id, canary in scenario.canaries.items():
        assert canary not in markdown, sponsor_id
    assert "|" in markdown and "## Overdue pulls" in markdown


def test_the_context_must_be_built_for_this_step(lims: EmbeddedLims, scenario: Scenario) -> None:
    with pytest.raises(AgentMismatch):
        execute(
            lims, study_of(scenario, PK), agent=AgentIdentity(step_id="report.draft", step_version="1.0.0")
        )


def test_the_due_date_rule() -> None:
    def tp(nominal: str, unit: TimeUnit = TimeUnit.MONTH) -> Timepoint:
        return Timepoint(
            timepoint_id=f"T{nominal}", study_id="S", sponsor_id="P", label="x", nominal=nominal, unit=unit
        )

    done = datetime(2025, 4, 2, 16, tzinfo=UTC)
    study = Study(
        study_id="S",
        sponsor_id="P",
        protocol_number="P-1",
        study_type=StudyType.STABILITY,
        milestones=(
            Milestone(name="T3 pull complete", due_date=date(2025, 4, 1)),
            Milestone(name="T6 pull complete", status=MilestoneStatus.COMPLETE, completed_at=done),
        ),
    )
    anchor = date(2025, 1, 31)
    assert due_date(tp("3"), study, anchor) == (date(2025, 4, 1), "milestone 'T3 pull complete' due date")
    assert due_date(tp("6.0"), study, anchor) == (date(2025, 4, 2), "milestone 'T6 pull complete' completed")
    assert due_date(tp("1"), study, anchor) == (date(2025, 2, 28), "months after first collection")
    assert due_date(tp("10", TimeUnit.DAY), study, anchor) == (
        date(2025, 2, 10),
        "days after first collection",
    )
    assert due_date(tp("1"), study, None) == (None, "unknown")
    assert due_date(tp("1.5"), study, anchor) == (None, "unknown")
    assert due_date(tp("4", TimeUnit.HOUR), study, anchor) == (None, "per subject dose")


def test_a_pull_is_overdue_only_after_its_window(lims: EmbeddedLims, scenario: Scenario) -> None:
    study = study_of(scenario, STABILITY)
    inside, _ = execute(lims, study, phase=RolloutPhase.READ_ONLY, as_of=date(2025, 6, 23))
    after, _ = execute(lims, study, phase=RolloutPhase.READ_ONLY, as_of=date(2025, 6, 24))
    assert inside.summary["overdue_timepoints"] == []
    assert after.summary["overdue_timepoints"] == ["BOR-STB-022:C30-65:M09"]
