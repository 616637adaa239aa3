"""Recording what a stability study planted: each planted value, gap or change becomes a
:class:`PlantedAnomaly` whose verdict is re-derived from the records just built (USP rounding for
OOS, a least-squares trend for OOT), so the record can never disagree with the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from limsai.lims.scenario.anomalies import AnomalyKind, PlantedAnomaly
from limsai.lims.scenario.base import at, days, fixed, iso, limit_places, usp_conforms, usp_rounded
from limsai.lims.scenario.catalog import CONDITIONS, STABILITY_TESTS, window_days
from limsai.lims.scenario.trend import least_squares
from limsai.model import AuditEvent, Deviation, DeviationStatus, ResultStatus

if TYPE_CHECKING:
    from limsai.lims.scenario.stability import StabilityBuilder


def limit_text(minimum: str | None, maximum: str | None, units: str) -> str:
    if minimum is not None and maximum is not None:
        return f"{minimum} - {maximum} {units}"
    return f"NMT {maximum} {units}" if maximum is not None else f"NLT {minimum} {units}"


def stability_anomalies(sb: StabilityBuilder) -> None:
    """Append the anomalies (and their deviations/audit events) planted in ``sb``'s study."""
    _value_plants(sb)
    _off_trend(sb)
    _missing(sb)
    _invalidations(sb)
    _lot_change(sb)


def _where(sb: StabilityBuilder, condition: str, month: int, batch: int) -> str:
    label = next(c.label for c in CONDITIONS if c.code == condition)
    return f"batch {sb.defn.batches[batch]} at {label}, {month} months"


def _value_plants(sb: StabilityBuilder) -> None:
    for plant in sb.defn.values:
        result = sb.result_index[
            (plant.condition, plant.month, plant.batch, plant.test, plant.component, plant.replicate)
        ]
        spec = sb.specs[(plant.test, plant.component)]
        assert result.value == plant.value
        places = limit_places(spec.min, spec.max)
        rounded = usp_rounded(plant.value, places)
        conforms = usp_conforms(plant.value, spec.min, spec.max)
        if conforms != (plant.kind is AnomalyKind.OOS_BOUNDARY_PASS):
            raise ValueError(f"planted value {plant.value} for {spec.spec_id} does not give a {plant.kind}")
        criterion = limit_text(spec.min, spec.max, spec.units)
        unit = f" {spec.units}" if spec.units else ""
        what = f"{spec.test} ({spec.component}) of {_where(sb, plant.condition, plant.month, plant.batch)}"
        if plant.replicate > 1 or spec.test == "Dissolution":
            what += f", unit {plant.replicate}"
        if conforms:
            description = (
                f"{what}: reported {plant.value}{unit}, which rounds half-up to {rounded}{unit} "
                f"and meets {criterion}; conforming - a correct check must not flag it."
            )
        else:
            description = (
                f"{what}: reported {plant.value}{unit}, rounded to {rounded}{unit} against "
                f"{criterion}: out of specification."
            )
        expected = {
            "test": spec.test,
            "component": spec.component,
            "sample": result.sample_id,
            "value": plant.value,
            "criterion": criterion,
            "decimals": str(places),
            "rounded": str(rounded),
            "verdict": "pass" if conforms else "OOS",
            "specification": spec.spec_id,
        }
        if spec.min is not None:
            expected["minimum"] = spec.min
        if spec.max is not None:
            expected["maximum"] = spec.max
        sb.out.anomalies.append(
            PlantedAnomaly(
                kind=plant.kind,
                sponsor_id=sb.defn.sponsor_id,
                study_id=sb.study_id,
                records=(result.result_id, spec.spec_id),
                description=description,
                expected=expected,
            )
        )


def _off_trend(sb: StabilityBuilder) -> None:
    for plant in sb.defn.off_trend:
        series = sb.series[(plant.condition, plant.batch, plant.test, plant.component, 1)]
        target = next(p for p in series if p.month == plant.month)
        others = [(float(p.month), float(p.value)) for p in series if p is not target]
        line = least_squares(others)
        predicted = line.at(plant.month)
        residuals = [y - line.at(x) for x, y in others]
        sd = (sum(r * r for r in residuals) / (len(others) - 2)) ** 0.5
        spec = sb.specs[(plant.test, plant.component)]
        if not usp_conforms(target.value, spec.min, spec.max):
            raise ValueError(f"planted OOT value {target.value} is out of specification")
        criterion = limit_text(spec.min, spec.max, spec.units)
        places = limit_places(spec.min, spec.max) + 1
        result = sb.result_index[(plant.condition, plant.month, plant.batch, plant.test, plant.component, 1)]
        residual = float(target.value) - predicted
        description = (
            f"{spec.test} ({spec.component}) of {_where(sb, plant.condition, plant.month, plant.batch)}: "
            f"reported {target.value} {spec.units}, within {criterion} but {fixed(abs(residual), places)} "
            f"{spec.units} {'below' if residual < 0 else 'above'} the batch's trend "
            f"({fixed(predicted, places)} {spec.units} from the other time points): out of trend."
        )
        sb.out.anomalies.append(
            PlantedAnomaly(
                kind=AnomalyKind.OOT,
                sponsor_id=sb.defn.sponsor_id,
                study_id=sb.study_id,
                records=(result.result_id,),
                description=description,
                expected={
                    "test": spec.test,
                    "component": spec.component,
                    "sample": result.sample_id,
                    "value": target.value,
                    "trend_value": fixed(predicted, places),
                    "residual": fixed(residual, places),
                    "residual_sd_of_trend": fixed(sd, places + 1),
                    "criterion": criterion,
                    "verdict": "OOT",
                },
            )
        )


def _missing(sb: StabilityBuilder) -> None:
    for n, (condition, month) in enumerate(sb.defn.missing, start=1):
        cond = next(c for c in CONDITIONS if c.code == condition)
        timepoint_id = sb.timepoint_id(cond, month)
        scheduled = sb.scheduled[month]
        deviation_id = f"DEV-{sb.sponsor.code}-{scheduled.year}-{n:03d}"
        sb.out.deviations.append(
            Deviation(
                deviation_id=deviation_id,
                study_id=sb.study_id,
                sponsor_id=sb.defn.sponsor_id,
                title=f"Missed {month}-month pull at {cond.label}",
                description=(
                    f"The {month}-month samples at {cond.label} (batches {', '.join(sb.defn.batches)}) "
                    f"were not pulled within the window ({scheduled.isoformat()} +/- "
                    f"{window_days(month)} days). Impact assessment pending."
                ),
                category="Stability pull",
                status=DeviationStatus.OPEN,
                opened_at=at(scheduled + days(window_days(month) + 3), 10),
                related_records=(timepoint_id,),
            )
        )
        sb.out.anomalies.append(
            PlantedAnomaly(
                kind=AnomalyKind.MISSING_TIMEPOINT,
                sponsor_id=sb.defn.sponsor_id,
                study_id=sb.study_id,
                records=(timepoint_id,),
                description=(
                    f"The {month}-month pull at {cond.label} was due on {scheduled.isoformat()} "
                    f"(+/- {window_days(month)} days) and the 'T{month} pull complete' milestone is "
                    f"complete, but no sample or result exists for any batch (deviation {deviation_id})."
                ),
                expected={
                    "timepoint": timepoint_id,
                    "condition": cond.label,
                    "nominal": str(month),
                    "unit": "month",
                    "scheduled": scheduled.isoformat(),
                    "batches": ",".join(sb.defn.batches),
                    "deviation": deviation_id,
                    "verdict": "missing",
                },
            )
        )


def _invalidations(sb: StabilityBuilder) -> None:
    for plant in sb.defn.invalidations:
        if plant.reason is not None:
            continue
        retest = sb.result_index[(plant.condition, plant.month, plant.batch, plant.test, plant.component, 1)]
        assert retest.retest_of is not None
        original = next(r for r in sb.out.results if r.result_id == retest.retest_of)
        assert original.status is ResultStatus.INVALIDATED and not original.invalidation_reason
        sb.out.anomalies.append(
            PlantedAnomaly(
                kind=AnomalyKind.INVALIDATED_WITHOUT_JUSTIFICATION,
                sponsor_id=sb.defn.sponsor_id,
                study_id=sb.study_id,
                records=(original.result_id, retest.result_id),
                description=(
                    f"{original.test} ({original.component}) of "
                    f"{_where(sb, plant.condition, plant.month, plant.batch)}: result {original.value} "
                    f"was invalidated with no documented assignable cause and replaced by retest "
                    f"{retest.result_id} ({retest.value})."
                ),
                expected={
                    "result": original.result_id,
                    "status": original.status.value,
                    "invalidation_reason": "",
                    "original_value": original.value or "",
                    "retest": retest.result_id,
                    "retest_value": retest.value or "",
                    "verdict": "invalidated without justification",
                },
            )
        )


def _lot_change(sb: StabilityBuilder) -> None:
    change = sb.defn.lot_change
    if change is None:
        return
    test = next(t for t in STABILITY_TESTS if t.code == change.test)
    results = sorted(
        (r for r in sb.out.results if r.test == test.name and r.analysed_at is not None),
        key=lambda r: (r.analysed_at, r.result_id),
    )
    old = [r for r in results if r.reagent_lot_id != change.new_lot]
    new = [r for r in results if r.reagent_lot_id == change.new_lot]
    old_lot = old[0].reagent_lot_id
    assert old_lot is not None and {r.reagent_lot_id for r in old} == {old_lot}
    first, last_old = new[0], old[-1]
    assert first.analysed_at is not None and last_old.analysed_at is not None
    assert last_old.analysed_at < first.analysed_at
    sb.out.audit_trail.append(
        AuditEvent(
            at=first.analysed_at - days(1),
            user_id=first.analyst_id or "",
            action="reagent lot changed",
            record_type="test",
            record_id=first.test_id,
            sponsor_id=sb.defn.sponsor_id,
            study_id=sb.study_id,
            field="reagent_lot_id",
            old_value=old_lot,
            new_value=change.new_lot,
            reason="Previous reference mixture lot consumed; new lot released by QC.",
        )
    )
    sb.out.anomalies.append(
        PlantedAnomaly(
            kind=AnomalyKind.REAGENT_LOT_CHANGE,
            sponsor_id=sb.defn.sponsor_id,
            study_id=sb.study_id,
            records=(first.result_id, old_lot, change.new_lot),
            description=(
                f"{test.name}: the reference mixture lot changed mid-study from {old_lot} to "
                f"{change.new_lot} from the {change.from_month}-month pull on (first used "
                f"{iso(first.analysed_at)}, result {first.result_id}); results before and after "
                f"the change need a bridging assessment."
            ),
            expected={
                "test": test.name,
                "old_lot": old_lot,
                "new_lot": change.new_lot,
                "changed_at": iso(first.analysed_at),
                "last_old_at": iso(last_old.analysed_at),
                "results_with_old_lot": str(len(old)),
                "results_with_new_lot": str(len(new)),
                "from_month": str(change.from_month),
                "verdict": "lot change",
            },
        )
    )
