"""The record checks: unit behaviour on hand-made records, and the acceptance test against the
scenario's planted anomalies (every one found with its records, nothing else flagged)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from limsai.checks.completeness import check_missing_pulls, check_missing_tests, pull_is_due
from limsai.checks.findings import Finding, FindingKind, RecordType, Severity
from limsai.checks.integrity import (
    check_expired_calibration,
    check_invalidated_without_justification,
    check_reagent_lot_changes,
)
from limsai.checks.oos import check_oos
from limsai.checks.run_all import StudyData, run_checks
from limsai.lims.scenario import DEFAULT_SEED, REFERENCE_TIME, AnomalyKind, Scenario, generate
from limsai.model import (
    Calibration,
    Milestone,
    MilestoneStatus,
    Result,
    ResultStatus,
    Sample,
    SampleKind,
    Specification,
    SpecificationKind,
    Study,
    StudyType,
    Test,
    Timepoint,
    TimeUnit,
)

COVERED = {
    AnomalyKind.OOS: FindingKind.OOS,
    AnomalyKind.OOT: FindingKind.OOT,
    AnomalyKind.MISSING_TIMEPOINT: FindingKind.MISSING_TIMEPOINT,
    AnomalyKind.EXPIRED_CALIBRATION: FindingKind.EXPIRED_CALIBRATION,
    AnomalyKind.REAGENT_LOT_CHANGE: FindingKind.REAGENT_LOT_CHANGE,
    AnomalyKind.INVALIDATED_WITHOUT_JUSTIFICATION: FindingKind.INVALIDATED_WITHOUT_JUSTIFICATION,
}
T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)


def at(day: int, hour: int = 8) -> datetime:
    return datetime(2025, 1, day, hour, 0, tzinfo=UTC)


def result(rid: str, value: str = "99.0", **kw: object) -> Result:
    fields: dict[str, object] = {
        "result_id": rid,
        "test_id": f"{kw.get('sample_id', 'S1')}:T",
        "sample_id": "S1",
        "study_id": "ST",
        "sponsor_id": "SP",
        "test": "Assay",
        "component": "A",
        "value": value,
        "units": "%",
        "analysed_at": at(10),
    }
    fields.update(kw)
    return Result.model_validate(fields)


def spec(kind: SpecificationKind = SpecificationKind.ACCEPTANCE, **kw: str) -> Specification:
    return Specification(
        spec_id=f"SPEC-{kind.value}",
        study_id="ST",
        sponsor_id="SP",
        test="Assay",
        component="A",
        kind=kind,
        units="%",
        **kw,
    )


def stability_study(pull: MilestoneStatus = MilestoneStatus.COMPLETE, due: date | None = None) -> Study:
    completed = T0 if pull is MilestoneStatus.COMPLETE else None
    return Study(
        study_id="ST",
        sponsor_id="SP",
        protocol_number="P-1",
        study_type=StudyType.STABILITY,
        batches=("B1", "B2"),
        milestones=(Milestone(name="T3 pull complete", status=pull, due_date=due, completed_at=completed),),
    )


def timepoint(planned: tuple[str, ...] = ("Assay", "Water")) -> Timepoint:
    return Timepoint(
        timepoint_id="TP3",
        study_id="ST",
        sponsor_id="SP",
        label="T3",
        nominal="3",
        unit=TimeUnit.MONTH,
        window_days=7,
        planned_tests=planned,
    )


def pull(sid: str, batch: str) -> Sample:
    return Sample(
        sample_id=sid,
        study_id="ST",
        sponsor_id="SP",
        kind=SampleKind.STABILITY_PULL,
        batch=batch,
        timepoint_id="TP3",
    )


# ------------------------------------------------------------------------------------ OOS


def test_oos_rounds_to_the_limit_and_ignores_controls_text_and_non_reportable() -> None:
    results = [
        result("R1", "94.94"),
        result("R2", "94.95"),
        result("R3", "BLQ"),
        result("R4", "90.0", reportable=False, status=ResultStatus.INVALIDATED, invalidation_reason="x"),
        result("R5", "93.0", component="B"),
    ]
    specs = [spec(min="95.0", max="105.0"), spec(SpecificationKind.CONTROL, min="98.0", max="102.0")]
    (finding,) = check_oos(results, specs, {"S1": "T6"})
    assert finding.kind is FindingKind.OOS and finding.severity is Severity.CRITICAL
    assert finding.records(RecordType.RESULT) == ("R1",)
    assert finding.records(RecordType.SPECIFICATION) == ("SPEC-acceptance",)
    assert finding.flag == "R1 OOS: 94.94 % rounds to 94.9 % against 95.0 - 105.0 %"
    assert "94.9 %" in finding.detail and "S1" in finding.detail and finding.timepoint_label == "T6"
    assert "OOS investigation" in finding.suggested_note


def test_oos_against_a_maximum() -> None:
    specs = [spec(max="0.5")]
    flagged = check_oos([result("R1", "0.55"), result("R2", "0.54"), result("R3", "0.5")], specs)
    assert [f.primary_record for f in flagged] == ["R1"]
    assert "rounds to 0.6 %" in flagged[0].title


def test_control_range_alone_never_makes_an_oos() -> None:
    assert check_oos([result("R1", "90.0")], [spec(SpecificationKind.CONTROL, min="98.0")]) == []


# ------------------------------------------------------------------------------------ completeness


def test_due_rule_follows_milestone_or_date_plus_window() -> None:
    tp = timepoint()
    assert pull_is_due(stability_study(), tp, T0)
    planned = MilestoneStatus.PLANNED
    assert not pull_is_due(stability_study(planned, date(2025, 3, 1)), tp, datetime(2025, 3, 5, tzinfo=UTC))
    assert pull_is_due(stability_study(planned, date(2025, 3, 1)), tp, datetime(2025, 3, 9, tzinfo=UTC))
    assert not pull_is_due(stability_study(planned, None), tp, T0)


def test_missing_pull_and_missing_batch() -> None:
    study, tp = stability_study(), timepoint()
    (empty,) = check_missing_pulls(study, [tp], [], T0)
    assert empty.kind is FindingKind.MISSING_TIMEPOINT and empty.primary_record == "TP3"
    (partial,) = check_missing_pulls(study, [tp], [pull("S1", "B1")], T0)
    assert partial.kind is FindingKind.MISSING_SAMPLE and "B2" in partial.detail
    assert check_missing_pulls(study, [tp], [pull("S1", "B1"), pull("S2", "B2")], T0) == []
    assert check_missing_pulls(stability_study(MilestoneStatus.PLANNED, date(2026, 1, 1)), [tp], [], T0) == []


def test_missing_planned_test() -> None:
    study, tp = stability_study(), timepoint()
    tests = [Test(test_id="S1:T", sample_id="S1", study_id="ST", sponsor_id="SP", name="Assay")]
    found = check_missing_tests(study, [tp], [pull("S1", "B1")], tests, [result("R1")], T0)
    assert [(f.kind, f.sample_id, f.title) for f in found] == [
        (FindingKind.MISSING_TEST, "S1", "planned test Water was not ordered")
    ]
    no_result = check_missing_tests(study, [tp], [pull("S1", "B1")], tests, [], T0)
    assert {f.title for f in no_result} == {
        "planned test Assay has no result",
        "planned test Water was not ordered",
    }


# ------------------------------------------------------------------------------------ integrity


def test_invalidated_with_and_without_reason() -> None:
    bad = result("R1", reportable=False, status=ResultStatus.INVALIDATED)
    blank = result("R2", reportable=False, status=ResultStatus.INVALIDATED, invalidation_reason="  ")
    good = result(
        "R3", reportable=False, status=ResultStatus.INVALIDATED, invalidation_reason="Assignable cause"
    )
    retest = result("R1:RT1", retest_of="R1")
    found = check_invalidated_without_justification([retest, good, blank, bad])
    assert [f.primary_record for f in found] == ["R1", "R2"]
    assert found[0].records(RecordType.RESULT) == ("R1", "R1:RT1")


def test_expired_calibration_names_the_lapsed_one() -> None:
    cal = Calibration(calibration_id="C1", instrument_id="I1", valid_from=at(1), valid_to=at(5))
    nxt = Calibration(calibration_id="C2", instrument_id="I1", valid_from=at(20), valid_to=at(30))
    results = [
        result("R1", instrument_id="I1", analysed_at=at(5)),
        result("R2", instrument_id="I1", analysed_at=at(10)),
    ]
    (finding,) = check_expired_calibration(results, [nxt, cal])
    assert finding.primary_record == "R2"
    assert finding.records(RecordType.CALIBRATION) == ("C1",) and "C2" in finding.detail


def test_reagent_lot_change_flags_first_result_on_the_new_lot() -> None:
    results = [
        result("R3", reagent_lot_id="L2", analysed_at=at(12)),
        result("R1", reagent_lot_id="L1", analysed_at=at(10)),
        result("R2", reagent_lot_id="L1", analysed_at=at(11)),
        result("R4", reagent_lot_id="L2", analysed_at=at(13)),
        result("X1", reagent_lot_id="L9", analysed_at=at(2), test="Water"),
    ]
    (finding,) = check_reagent_lot_changes(results)
    assert finding.primary_record == "R3"
    assert finding.records(RecordType.REAGENT_LOT) == ("L1", "L2")


# ------------------------------------------------------------------------------------ acceptance


def findings_for(scenario: Scenario) -> list[Finding]:
    ds = scenario.dataset
    out: list[Finding] = []
    for study in ds.studies:
        out += run_checks(StudyData.from_dataset(ds, study.study_id, REFERENCE_TIME))
    return out


@pytest.mark.parametrize("seed", [DEFAULT_SEED, 1, 42, 987_654_321])
def test_run_checks_finds_exactly_the_planted_anomalies(seed: int) -> None:
    scenario = generate(seed)
    findings = findings_for(scenario)
    found = {(f.kind, f.study_id, f.primary_record): f for f in findings}
    assert len(found) == len(findings)  # no finding reported twice
    planted = {
        (COVERED[a.kind], a.study_id, a.records[0]): a for a in scenario.anomalies if a.kind in COVERED
    }
    true_positives = found.keys() & planted.keys()
    precision = len(true_positives) / len(found)
    recall = len(true_positives) / len(planted)
    assert (precision, recall) == (1.0, 1.0), (
        sorted(found.keys() - planted.keys()),
        sorted(planted.keys() - found.keys()),
    )
    for key, anomaly in planted.items():
        evidence = {e.record_id for e in found[key].evidence}
        assert set(anomaly.records) <= evidence, (anomaly.records, evidence)
        assert found[key].sponsor_id == anomaly.sponsor_id
    traps = {a.records[0] for a in scenario.anomalies if a.kind is AnomalyKind.OOS_BOUNDARY_PASS}
    assert traps and not traps & {f.primary_record for f in findings}
    justified = [
        r for r in scenario.dataset.results if r.status is ResultStatus.INVALIDATED and r.invalidation_reason
    ]
    assert justified and not {r.result_id for r in justified} & {f.primary_record for f in findings}


def test_findings_are_deterministic_and_carry_what_a_reviewer_needs() -> None:
    scenario = generate()
    first, second = findings_for(scenario), findings_for(scenario)
    assert first == second
    for f in first:
        assert f.title and f.detail and f.suggested_note and f.flag.startswith(f.primary_record)
    oos = {f.primary_record: f for f in first if f.kind is FindingKind.OOS}
    for a in scenario.anomalies:
        if a.kind is AnomalyKind.OOS:
            finding = oos[a.records[0]]
            assert (
                a.expected["value"] in finding.title and f"rounds to {a.expected['rounded']}" in finding.title
            )
            assert finding.sample_id == a.expected["sample"] and finding.timepoint_label
