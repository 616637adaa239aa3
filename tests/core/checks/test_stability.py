"""Stability trending: series built from records, Q1E shelf life and the prediction-limit OOT chart,
and the acceptance test against the scenario's planted OOT result (found, and nothing else flagged)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from limsai.checks.findings import FindingKind, RecordType, Severity
from limsai.checks.run_all import StudyData
from limsai.checks.stability import (
    SeriesEvaluation,
    StabilityEvaluationConfig,
    build_series,
    evaluate_stability,
    oot_findings,
    to_months,
)
from limsai.lims.scenario import DEFAULT_SEED, REFERENCE_TIME, AnomalyKind, Scenario, generate
from limsai.model import (
    Condition,
    ConditionKind,
    Result,
    Sample,
    SampleKind,
    Specification,
    Study,
    StudyType,
    Timepoint,
    TimeUnit,
)

HAS_OOT_KIND = "oot" in {k.value for k in FindingKind}
SEEDS = (DEFAULT_SEED, 1, 2, 3)


def _evaluations(
    scenario: Scenario, config: StabilityEvaluationConfig | None = None
) -> list[SeriesEvaluation]:
    out: list[SeriesEvaluation] = []
    for study in scenario.dataset.studies:
        if study.study_type is StudyType.STABILITY:
            data = StudyData.from_dataset(scenario.dataset, study.study_id, REFERENCE_TIME)
            out.extend(evaluate_stability(data, config))
    return out


@pytest.fixture(scope="module", params=SEEDS)
def scenario(request: pytest.FixtureRequest) -> Scenario:
    return generate(request.param)


def test_planted_oot_is_the_only_oot(scenario: Scenario) -> None:
    planted = [a for a in scenario.anomalies if a.kind is AnomalyKind.OOT]
    assert len(planted) == 1
    anomaly = planted[0]
    flagged = [(ev, row) for ev in _evaluations(scenario) for _batch, row in ev.oot_points]
    assert len(flagged) == 1, [(row.point.sample_id, ev.test, ev.component) for ev, row in flagged]
    ev, row = flagged[0]
    assert ev.study_id == anomaly.study_id
    assert row.point.result_ids == anomaly.records
    assert row.point.sample_id == anomaly.expected["sample"]
    sample = next(s for s in scenario.dataset.samples if s.sample_id == row.point.sample_id)
    assert row.point.timepoint_id == sample.timepoint_id
    assert (ev.test, ev.component) == (anomaly.expected["test"], anomaly.expected["component"])
    assert row.lower is not None and row.upper is not None
    assert not row.lower <= row.point.value <= row.upper


@pytest.mark.skipif(not HAS_OOT_KIND, reason="FindingKind has no OOT member yet")
def test_oot_findings_carry_the_records(scenario: Scenario) -> None:
    anomaly = next(a for a in scenario.anomalies if a.kind is AnomalyKind.OOT)
    findings = oot_findings(_evaluations(scenario))
    assert len(findings) == 1
    finding = findings[0]
    assert finding.kind.value == "oot" and finding.severity is Severity.MAJOR
    assert finding.primary_record == anomaly.records[0]
    assert finding.sample_id == anomaly.expected["sample"]
    assert finding.records(RecordType.SAMPLE) == (anomaly.expected["sample"],)
    assert finding.timepoint_label and finding.suggested_note
    assert finding.flag.startswith(f"{anomaly.records[0]} OOT: {anomaly.expected['value']}")


def test_oos_points_stay_out_of_oot() -> None:
    """A dissolution sample with an OOS unit is an OOS finding; left in the chart it would also be
    flagged OOT (and distort the lines), which is why OOS points are excluded by default."""
    scenario = generate(DEFAULT_SEED)
    evs = _evaluations(scenario)
    oos_points = [p for ev in evs for p in ev.points if p.oos]
    assert oos_points
    kept = _evaluations(scenario, StabilityEvaluationConfig(exclude_oos_from_oot=False))
    flagged = {row.point.sample_id for ev in kept for _b, row in ev.oot_points}
    assert {p.sample_id for p in oos_points} & flagged
    for ev in evs:
        for chart in ev.oot:
            assert not any(row.point.oos for row in chart.rows)


def test_dissolution_units_are_trended_as_their_mean() -> None:
    scenario = generate(DEFAULT_SEED)
    ev = next(e for e in _evaluations(scenario) if e.test == "Dissolution" and e.points)
    point = ev.points[0]
    assert len(point.result_ids) == len(point.reported) > 1
    assert point.value == pytest.approx(sum(float(v) for v in point.reported) / len(point.reported))


def test_skip_reasons_in_the_scenario() -> None:
    evs = _evaluations(generate(DEFAULT_SEED))
    accelerated = [e for e in evs if e.condition_kind is ConditionKind.ACCELERATED]
    assert accelerated and all(e.shelf_life is None for e in accelerated)
    assert all("long-term conditions only" in (e.shelf_life_skipped or "") for e in accelerated)
    charts = [b for e in accelerated for b in e.oot]
    assert all(b.skipped is not None and not b.rows for b in charts)
    assert any("reference points" in (b.skipped or "") for b in charts)
    long_term = [e for e in evs if e.condition_kind is ConditionKind.LONG_TERM]
    assert long_term and all(e.shelf_life is not None for e in long_term)
    assert all(e.shelf_life_skipped is None for e in long_term)


# hand-made studies

SPONSOR, STUDY = "SP", "ST"


def _study(
    values: dict[str, dict[str, str]],
    *,
    unit: TimeUnit = TimeUnit.MONTH,
    spec_min: str | None = "95.0",
    spec_max: str | None = None,
    kind: ConditionKind = ConditionKind.LONG_TERM,
) -> StudyData:
    """``values``: batch -> {nominal time: reported value} at one condition, one attribute."""
    condition = Condition(
        condition_id=f"{STUDY}:C1",
        study_id=STUDY,
        sponsor_id=SPONSOR,
        label="25C/60%RH",
        kind=kind,
        temperature_c="25",
        humidity_rh="60",
    )
    times = sorted({t for series in values.values() for t in series}, key=float)
    timepoints = [
        Timepoint(
            timepoint_id=f"{STUDY}:C1:T{i}",
            study_id=STUDY,
            sponsor_id=SPONSOR,
            condition_id=condition.condition_id,
            label=f"T{t}",
            nominal=t,
            unit=unit,
        )
        for i, t in enumerate(times)
    ]
    by_time = {t: tp for t, tp in zip(times, timepoints, strict=True)}
    samples, results = [], []
    for batch, series in values.items():
        for t, value in series.items():
            sid = f"{STUDY}-{batch}-T{times.index(t)}"
            samples.append(
                Sample(
                    sample_id=sid,
                    study_id=STUDY,
                    sponsor_id=SPONSOR,
                    kind=SampleKind.STABILITY_PULL,
                    batch=batch,
                    condition_id=condition.condition_id,
                    timepoint_id=by_time[t].timepoint_id,
                )
            )
            results.append(
                Result(
                    result_id=f"{sid}:A",
                    test_id=f"{sid}:T",
                    sample_id=sid,
                    study_id=STUDY,
                    sponsor_id=SPONSOR,
                    test="Assay",
                    component="API",
                    value=value,
                    units="%",
                )
            )
    specs = ()
    if spec_min is not None or spec_max is not None:
        specs = (
            Specification(
                spec_id="SPEC",
                study_id=STUDY,
                sponsor_id=SPONSOR,
                test="Assay",
                component="API",
                min=spec_min,
                max=spec_max,
            ),
        )
    study = Study(
        study_id=STUDY,
        sponsor_id=SPONSOR,
        protocol_number="P-1",
        study_type=StudyType.STABILITY,
        batches=tuple(values),
    )
    return StudyData(
        study=study,
        as_of=datetime(2026, 1, 1, tzinfo=UTC),
        conditions=(condition,),
        timepoints=tuple(timepoints),
        samples=tuple(samples),
        results=tuple(results),
        specifications=specs,
    )


LINE = {"0": "100.1", "3": "99.7", "6": "99.4", "9": "98.9", "12": "98.7", "18": "97.9"}
LINE2 = {"0": "100.4", "3": "100.1", "6": "99.6", "9": "99.3", "12": "98.9", "18": "98.2"}
LINE3 = {"0": "99.8", "3": "99.5", "6": "99.1", "9": "98.8", "12": "98.3", "18": "97.7"}


def test_unit_conversion() -> None:
    assert to_months("12", "month") == 12.0
    assert to_months("91", "day") == pytest.approx(91 / 30.4375)
    assert to_months("13", "week") == to_months("91", "day")
    assert to_months("48", "hour") == to_months("2", "day")
    assert to_months("365.25", "day") == 12.0
    with pytest.raises(ValueError, match="unknown time unit"):
        to_months("1", "fortnight")


def test_days_give_the_same_evaluation_as_months() -> None:
    days = {
        b: {str(round(float(t) * 30.4375, 4)): v for t, v in s.items()}
        for b, s in {"A": LINE, "B": LINE2}.items()
    }
    by_month = evaluate_stability(_study({"A": LINE, "B": LINE2}))[0]
    by_day = evaluate_stability(_study(days, unit=TimeUnit.DAY))[0]
    assert [p.time for p in by_day.points] == pytest.approx([p.time for p in by_month.points])
    assert by_month.shelf_life is not None and by_day.shelf_life is not None
    assert by_day.shelf_life.shelf_life == pytest.approx(by_month.shelf_life.shelf_life)


def test_row_order_does_not_matter() -> None:
    data = _study({"A": LINE, "B": LINE2, "C": LINE3})
    rng = random.Random(7)

    def shuffled(items: tuple[object, ...]) -> tuple[object, ...]:
        out = list(items)
        rng.shuffle(out)
        return tuple(out)

    other = StudyData(
        study=data.study,
        as_of=data.as_of,
        conditions=data.conditions,
        timepoints=shuffled(data.timepoints),  # type: ignore[arg-type]
        samples=shuffled(data.samples),  # type: ignore[arg-type]
        results=shuffled(data.results),  # type: ignore[arg-type]
        specifications=data.specifications,
    )
    assert evaluate_stability(other) == evaluate_stability(data)
    assert build_series(other) == build_series(data)


def test_one_batch_skips_shelf_life_and_oot() -> None:
    (ev,) = evaluate_stability(_study({"A": LINE}))
    assert ev.shelf_life is None and ev.shelf_life_skipped is not None
    assert "at least 2 batches" in ev.shelf_life_skipped and "A: 6" in ev.shelf_life_skipped
    assert ev.oot[0].skipped is not None and "other batches" in ev.oot[0].skipped


def test_short_batches_are_left_out_of_shelf_life() -> None:
    short = {"0": "100.0", "3": "99.6"}
    (ev,) = evaluate_stability(_study({"A": LINE, "B": LINE2, "C": short}))
    assert ev.shelf_life is not None and ev.shelf_life_batches == ("A", "B")
    (ev,) = evaluate_stability(_study({"A": LINE, "B": short}))
    assert ev.shelf_life is None and "B: 2" in (ev.shelf_life_skipped or "")


def test_no_limit_and_other_conditions_skip_shelf_life() -> None:
    (ev,) = evaluate_stability(_study({"A": LINE, "B": LINE2}, spec_min=None))
    assert ev.shelf_life is None and "acceptance criterion" in (ev.shelf_life_skipped or "")
    (ev,) = evaluate_stability(_study({"A": LINE, "B": LINE2}, kind=ConditionKind.INTERMEDIATE))
    assert ev.shelf_life is None and "long-term" in (ev.shelf_life_skipped or "")


def test_limits_follow_the_specification() -> None:
    (ev,) = evaluate_stability(_study({"A": LINE, "B": LINE2}, spec_min="95.0", spec_max="105.0"))
    assert ev.shelf_life is not None and (ev.shelf_life.lower, ev.shelf_life.upper) == (95.0, 105.0)
    (ev,) = evaluate_stability(_study({"A": LINE, "B": LINE2}, spec_min=None, spec_max="101.0"))
    assert ev.shelf_life is not None and (ev.shelf_life.lower, ev.shelf_life.upper) == (None, 101.0)


def test_off_trend_point_is_flagged_and_left_out_of_the_line() -> None:
    off = dict(LINE3, **{"12": "97.0"})
    (ev,) = evaluate_stability(_study({"A": LINE, "B": LINE2, "C": off}))
    flagged = ev.oot_points
    assert [(b, row.point.time) for b, row in flagged] == [("C", 12.0)]
    chart = next(c for c in ev.oot if c.batch == "C")
    assert chart.historical == ("A", "B") and [r.reference for r in chart.rows] == [True] * 3 + [False] * 3
    config = StabilityEvaluationConfig(reference_points=4)
    (ev,) = evaluate_stability(_study({"A": LINE, "B": LINE2, "C": off}), config)
    chart = next(c for c in ev.oot if c.batch == "C")
    assert [r.reference for r in chart.rows] == [True] * 4 + [False] * 2
