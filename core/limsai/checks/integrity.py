"""Data-integrity checks on how results were produced: invalidations without a recorded reason,
analyses on instruments whose calibration had lapsed, and mid-study changes of reagent lot.

Each is a question an auditor asks of the raw records (ALCOA+: a result may only be set aside with a
documented, attributable reason; an instrument must be in calibration when used; a lot change can
shift a series and must be visible to whoever trends it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from limsai.checks.findings import Evidence, Finding, FindingKind, RecordType, Severity
from limsai.model import Calibration, Result, ResultStatus

INVALIDATION_NOTE = (
    "Ask the analyst and QA for the assignable cause; document it on the invalidated result or "
    "reinstate the original value and open an OOS/deviation record"
)
CALIBRATION_NOTE = (
    "Assess the impact of the lapsed calibration (check the next calibration's as-found data); "
    "open a deviation and consider repeating the analysis on a calibrated instrument"
)
LOT_NOTE = (
    "Confirm the new lot was qualified against the old one and check the series for a step change "
    "at the switch before trending across it"
)


def _timestamp(result: Result) -> str:
    return result.analysed_at.strftime("%Y-%m-%dT%H:%M:%SZ") if result.analysed_at else "unknown time"


def check_invalidated_without_justification(
    results: Iterable[Result], timepoint_labels: Mapping[str, str] | None = None
) -> list[Finding]:
    """One major finding per invalidated result with no (or a blank) invalidation reason, with the
    retest that replaced it as further evidence; ordered by result id."""
    labels = timepoint_labels or {}
    all_results = sorted(results, key=lambda r: r.result_id)
    retests: dict[str, list[str]] = defaultdict(list)
    for r in all_results:
        if r.retest_of is not None:
            retests[r.retest_of].append(r.result_id)
    findings: list[Finding] = []
    for r in all_results:
        if r.status is not ResultStatus.INVALIDATED or (r.invalidation_reason or "").strip():
            continue
        replaced_by = retests.get(r.result_id, [])
        retest_text = f"; replaced by retest {', '.join(replaced_by)}" if replaced_by else ""
        findings.append(
            Finding(
                kind=FindingKind.INVALIDATED_WITHOUT_JUSTIFICATION,
                severity=Severity.MAJOR,
                study_id=r.study_id,
                sponsor_id=r.sponsor_id,
                title=f"invalidated without justification: {r.test} / {r.component} value {r.value}",
                detail=(
                    f"Sample {r.sample_id}, {r.test} / {r.component}: result {r.result_id} (value "
                    f"{r.value}{' ' + r.units if r.units else ''}) is invalidated but records no "
                    f"invalidation reason{retest_text}."
                ),
                evidence=(
                    Evidence(record_type=RecordType.RESULT, record_id=r.result_id),
                    *(Evidence(record_type=RecordType.RESULT, record_id=rid) for rid in replaced_by),
                ),
                sample_id=r.sample_id,
                timepoint_label=labels.get(r.sample_id),
                suggested_note=INVALIDATION_NOTE,
            )
        )
    return findings


def check_expired_calibration(
    results: Iterable[Result],
    calibrations: Iterable[Calibration],
    timepoint_labels: Mapping[str, str] | None = None,
) -> list[Finding]:
    """One major finding per result analysed at a moment no calibration of its instrument covers,
    naming the calibration that lapsed before it (when there is one); ordered by result id."""
    labels = timepoint_labels or {}
    by_instrument: dict[str, list[Calibration]] = defaultdict(list)
    for c in calibrations:
        by_instrument[c.instrument_id].append(c)
    findings: list[Finding] = []
    for r in sorted(results, key=lambda r: r.result_id):
        if r.instrument_id is None or r.analysed_at is None:
            continue
        moment = r.analysed_at
        own = by_instrument.get(r.instrument_id, [])
        if any(c.covers(moment) for c in own):
            continue
        lapsed = max((c for c in own if c.valid_to < moment), key=lambda c: c.valid_to, default=None)
        following = min((c for c in own if c.valid_from > moment), key=lambda c: c.valid_from, default=None)
        evidence = [
            Evidence(record_type=RecordType.RESULT, record_id=r.result_id),
            Evidence(record_type=RecordType.INSTRUMENT, record_id=r.instrument_id),
        ]
        if lapsed is not None:
            evidence.append(Evidence(record_type=RecordType.CALIBRATION, record_id=lapsed.calibration_id))
            why = f"its calibration {lapsed.calibration_id} expired {lapsed.valid_to:%Y-%m-%dT%H:%M:%SZ}"
        else:
            why = "no calibration of it was valid before that time"
        if following is not None:
            starts = following.valid_from.strftime("%Y-%m-%dT%H:%M:%SZ")
            why += f"; the next calibration {following.calibration_id} starts {starts}"
        findings.append(
            Finding(
                kind=FindingKind.EXPIRED_CALIBRATION,
                severity=Severity.MAJOR,
                study_id=r.study_id,
                sponsor_id=r.sponsor_id,
                title=f"analysed on {r.instrument_id} outside calibration at {_timestamp(r)}",
                detail=(
                    f"Sample {r.sample_id}, {r.test} / {r.component} (value {r.value}) was analysed on "
                    f"{r.instrument_id} at {_timestamp(r)}, when no calibration covered it: {why}."
                ),
                evidence=tuple(evidence),
                sample_id=r.sample_id,
                timepoint_label=labels.get(r.sample_id),
                suggested_note=CALIBRATION_NOTE,
            )
        )
    return findings


def check_reagent_lot_changes(
    results: Iterable[Result], timepoint_labels: Mapping[str, str] | None = None
) -> list[Finding]:
    """One minor finding per change of reagent lot within a study's test, in order of analysis: the
    first result on the new lot, with the old and new lots as evidence. Ordered by study, test and
    time of the change."""
    labels = timepoint_labels or {}
    series: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        if r.reagent_lot_id is not None and r.analysed_at is not None:
            series[(r.study_id, r.test)].append(r)
    findings: list[Finding] = []
    for (_, test), used in sorted(series.items()):
        used.sort(key=lambda r: (r.analysed_at, r.result_id))
        previous = used[0]
        for r in used[1:]:
            if r.reagent_lot_id != previous.reagent_lot_id:
                findings.append(_lot_change(test, previous, r, labels.get(r.sample_id)))
            previous = r
    return findings


def _lot_change(test: str, last_old: Result, first_new: Result, label: str | None) -> Finding:
    old_lot, new_lot = last_old.reagent_lot_id or "", first_new.reagent_lot_id or ""
    return Finding(
        kind=FindingKind.REAGENT_LOT_CHANGE,
        severity=Severity.MINOR,
        study_id=first_new.study_id,
        sponsor_id=first_new.sponsor_id,
        title=f"{test} reagent lot changed from {old_lot} to {new_lot}",
        detail=(
            f"{test}: results up to {_timestamp(last_old)} (last: {last_old.result_id}) used lot "
            f"{old_lot}; from {_timestamp(first_new)} (first: {first_new.result_id}, sample "
            f"{first_new.sample_id}) lot {new_lot} is used."
        ),
        evidence=(
            Evidence(record_type=RecordType.RESULT, record_id=first_new.result_id),
            Evidence(record_type=RecordType.REAGENT_LOT, record_id=old_lot),
            Evidence(record_type=RecordType.REAGENT_LOT, record_id=new_lot),
            Evidence(record_type=RecordType.RESULT, record_id=last_old.result_id),
        ),
        sample_id=first_new.sample_id,
        timepoint_label=label,
        suggested_note=LOT_NOTE,
    )
