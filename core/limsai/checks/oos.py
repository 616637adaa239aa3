"""Out-of-specification results: reportable numeric values outside their acceptance criterion after
USP rounding to the limit's decimals.

Only acceptance criteria decide OOS; control ranges are a different question. A value such as 94.95
against NLT 95.0 rounds to 95.0 and conforms, so it is never flagged; 94.94 rounds to 94.9 and is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from limsai.checks.findings import Evidence, Finding, FindingKind, RecordType, Severity
from limsai.model import Result, Specification, SpecificationKind
from limsai.stats.rounding import conforms, usp_round

OOS_NOTE = (
    "Initiate a phase I OOS investigation per SOP; check integration, calculations and standard "
    "preparation before any retest"
)


def acceptance_criteria(specifications: Iterable[Specification]) -> dict[tuple[str, str, str], Specification]:
    """(study, test, component) -> its acceptance criterion (control ranges are left out)."""
    return {
        (s.study_id, s.test, s.component): s for s in specifications if s.kind is SpecificationKind.ACCEPTANCE
    }


def check_oos(
    results: Iterable[Result],
    specifications: Iterable[Specification],
    timepoint_labels: Mapping[str, str] | None = None,
) -> list[Finding]:
    """One critical finding per reportable numeric result that fails its acceptance criterion,
    ordered by result id. ``timepoint_labels`` maps sample id to the time point's label."""
    criteria = acceptance_criteria(specifications)
    labels = timepoint_labels or {}
    findings: list[Finding] = []
    for result in sorted(results, key=lambda r: r.result_id):
        spec = criteria.get((result.study_id, result.test, result.component))
        if spec is None or not result.reportable or result.value is None:
            continue
        if conforms(result.value, spec) is not False:
            continue
        findings.append(_finding(result, spec, labels.get(result.sample_id)))
    return findings


def _finding(result: Result, spec: Specification, label: str | None) -> Finding:
    value = result.value or ""
    rounded = usp_round(value, spec.decimals)
    unit = f" {result.units}" if result.units else ""
    criterion = spec.describe()
    title = f"OOS: {value}{unit} rounds to {rounded}{unit} against {criterion}"
    detail = (
        f"Sample {result.sample_id}, {result.test} / {result.component}: reported value {value}{unit}, "
        f"rounded to {spec.decimals} decimal(s) as the limit is written: {rounded}{unit}; acceptance "
        f"criterion {criterion} (specification {spec.spec_id}); the rounded value is outside it."
    )
    return Finding(
        kind=FindingKind.OOS,
        severity=Severity.CRITICAL,
        study_id=result.study_id,
        sponsor_id=result.sponsor_id,
        title=title,
        detail=detail,
        evidence=(
            Evidence(record_type=RecordType.RESULT, record_id=result.result_id),
            Evidence(record_type=RecordType.SPECIFICATION, record_id=spec.spec_id),
        ),
        sample_id=result.sample_id,
        timepoint_label=label,
        suggested_note=OOS_NOTE,
    )
