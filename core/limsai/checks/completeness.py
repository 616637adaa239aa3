"""Completeness of the study schedule: due pulls with no samples, pulls missing a batch or subject,
and samples missing a planned test.

A pull is due when its "T<n> pull complete" milestone is complete, or when its milestone's due date
plus the pull window has passed at ``as_of``; pulls not yet due are never flagged. Non-stability
time points (PK sampling times) are due once the study's "Samples received" milestone is complete.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from limsai.checks.findings import Evidence, Finding, FindingKind, RecordType, Severity
from limsai.model import (
    Deviation,
    MilestoneStatus,
    Result,
    Sample,
    SampleKind,
    Study,
    StudyType,
    Test,
    TestStatus,
    Timepoint,
    TimeUnit,
)

SCHEDULED_KINDS = frozenset({SampleKind.STABILITY_PULL, SampleKind.PK})
"""Samples that fill a scheduled time point (standards, QCs and ISR repeats do not)."""

MISSING_PULL_NOTE = (
    "Confirm with the stability coordinator whether the pull happened; if not, make sure a deviation "
    "with an impact assessment is open and the report explains the gap"
)
MISSING_SAMPLE_NOTE = "Locate the missing samples (chamber inventory, receipt log) or document why none exist"
MISSING_TEST_NOTE = (
    "Order the planned test or record why it was not performed (protocol amendment or deviation)"
)


def pull_is_due(study: Study, timepoint: Timepoint, as_of: datetime) -> bool:
    """Whether ``timepoint`` should have been pulled (and tested) by ``as_of``."""
    if study.study_type is StudyType.STABILITY and timepoint.unit is TimeUnit.MONTH:
        milestone = study.milestone(f"T{timepoint.nominal} pull complete")
        if milestone is None:
            return False
        if milestone.status is MilestoneStatus.COMPLETE:
            return True
        if milestone.due_date is None:
            return False
        return milestone.due_date + timedelta(days=timepoint.window_days or 0) < as_of.date()
    received = study.milestone("Samples received")
    return received is not None and received.status is MilestoneStatus.COMPLETE


def check_missing_pulls(
    study: Study,
    timepoints: Iterable[Timepoint],
    samples: Iterable[Sample],
    as_of: datetime,
    deviations: Iterable[Deviation] = (),
) -> list[Finding]:
    """Due time points with no sample at all (missing_timepoint), or without a sample for every batch
    (stability) or subject (PK) (missing_sample); ordered by time point id."""
    scheduled = [s for s in samples if s.kind in SCHEDULED_KINDS and s.timepoint_id is not None]
    at_point: dict[str, list[Sample]] = defaultdict(list)
    for s in scheduled:
        at_point[s.timepoint_id or ""].append(s)
    subjects = {s.subject_id for s in scheduled if s.kind is SampleKind.PK and s.subject_id is not None}
    related: dict[str, list[str]] = defaultdict(list)
    for d in sorted(deviations, key=lambda d: d.deviation_id):
        for record in d.related_records:
            related[record].append(d.deviation_id)
    findings: list[Finding] = []
    for tp in sorted(timepoints, key=lambda t: t.timepoint_id):
        if tp.study_id != study.study_id or not pull_is_due(study, tp, as_of):
            continue
        present = at_point.get(tp.timepoint_id, [])
        if study.study_type is StudyType.STABILITY:
            expected, have, what = set(study.batches), {s.batch for s in present}, "batch"
        else:
            expected, have, what = set(subjects), {s.subject_id for s in present}, "subject"
        deviation_ids = related.get(tp.timepoint_id, [])
        if not present and (expected or study.study_type is StudyType.STABILITY):
            findings.append(_missing_pull(study, tp, sorted(expected), deviation_ids))
        elif missing := sorted(x for x in expected - have if x is not None):
            findings.append(_missing_samples(study, tp, what, missing, deviation_ids))
    return findings


def _pull_evidence(tp: Timepoint, deviation_ids: list[str]) -> tuple[Evidence, ...]:
    return (
        Evidence(record_type=RecordType.TIMEPOINT, record_id=tp.timepoint_id),
        *(Evidence(record_type=RecordType.DEVIATION, record_id=d) for d in deviation_ids),
    )


def _deviation_text(deviation_ids: list[str]) -> str:
    return (
        f" Related deviation(s): {', '.join(deviation_ids)}." if deviation_ids else " No deviation names it."
    )


def _missing_pull(study: Study, tp: Timepoint, expected: list[str], deviation_ids: list[str]) -> Finding:
    batches = f" (batches {', '.join(expected)})" if expected else ""
    return Finding(
        kind=FindingKind.MISSING_TIMEPOINT,
        severity=Severity.MAJOR,
        study_id=study.study_id,
        sponsor_id=study.sponsor_id,
        title=f"missing pull: {tp.label} is due but has no samples or results",
        detail=(
            f"Time point {tp.label} ({tp.nominal} {tp.unit.value}(s)) is due, but no sample or result "
            f"exists for it{batches}." + _deviation_text(deviation_ids)
        ),
        evidence=_pull_evidence(tp, deviation_ids),
        timepoint_label=tp.label,
        suggested_note=MISSING_PULL_NOTE,
    )


def _missing_samples(
    study: Study, tp: Timepoint, what: str, missing: list[str], deviation_ids: list[str]
) -> Finding:
    return Finding(
        kind=FindingKind.MISSING_SAMPLE,
        severity=Severity.MAJOR,
        study_id=study.study_id,
        sponsor_id=study.sponsor_id,
        title=f"missing samples at {tp.label}: no sample for {len(missing)} {what} value(s)",
        detail=(
            f"Time point {tp.label} is due but has no sample for {what} {', '.join(missing)}."
            + _deviation_text(deviation_ids)
        ),
        evidence=_pull_evidence(tp, deviation_ids),
        timepoint_label=tp.label,
        suggested_note=MISSING_SAMPLE_NOTE,
    )


def check_missing_tests(
    study: Study,
    timepoints: Iterable[Timepoint],
    samples: Iterable[Sample],
    tests: Iterable[Test],
    results: Iterable[Result],
    as_of: datetime,
    timepoint_labels: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Samples at a due time point lacking a planned test: not ordered, or ordered (and not cancelled)
    with no result at all. One minor finding per sample and test, ordered by sample id then test."""
    points = {t.timepoint_id: t for t in timepoints}
    labels = timepoint_labels or {}
    ordered: dict[str, dict[str, list[Test]]] = defaultdict(lambda: defaultdict(list))
    for order in tests:
        if order.status is not TestStatus.CANCELLED:
            ordered[order.sample_id][order.name].append(order)
    with_results = {r.test_id for r in results}
    findings: list[Finding] = []
    for sample in sorted(samples, key=lambda s: s.sample_id):
        tp = points.get(sample.timepoint_id or "")
        if tp is None or sample.kind not in SCHEDULED_KINDS or not pull_is_due(study, tp, as_of):
            continue
        for name in sorted(set(tp.planned_tests)):
            orders = ordered[sample.sample_id].get(name, [])
            if orders and any(o.test_id in with_results for o in orders):
                continue
            state = "has no result" if orders else "was not ordered"
            evidence = [Evidence(record_type=RecordType.SAMPLE, record_id=sample.sample_id)]
            evidence += [Evidence(record_type=RecordType.TEST, record_id=o.test_id) for o in orders]
            evidence.append(Evidence(record_type=RecordType.TIMEPOINT, record_id=tp.timepoint_id))
            findings.append(
                Finding(
                    kind=FindingKind.MISSING_TEST,
                    severity=Severity.MINOR,
                    study_id=sample.study_id,
                    sponsor_id=sample.sponsor_id,
                    title=f"planned test {name} {state}",
                    detail=(
                        f"Sample {sample.sample_id} at {tp.label}: the schedule plans {name}, which {state}."
                    ),
                    evidence=tuple(evidence),
                    sample_id=sample.sample_id,
                    timepoint_label=labels.get(sample.sample_id, tp.label),
                    suggested_note=MISSING_TEST_NOTE,
                )
            )
    return findings
