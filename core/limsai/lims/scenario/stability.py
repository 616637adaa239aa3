"""Stability studies (ICH Q1A(R2)): three batches at long-term, intermediate and accelerated
conditions, pulled on schedule and tested for assay, related substances, dissolution and water.

The plan comes from :mod:`~limsai.lims.scenario.protocol` and the values from
:mod:`~limsai.lims.scenario.values`; this module builds the samples, tests and results with their
analysts, instruments and reagent lots (one analytical sequence per pull month and test), the
invalidations and retests, and hands the planted points to :mod:`~limsai.lims.scenario.planting`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from limsai.lims.scenario import planting
from limsai.lims.scenario.base import REFERENCE_TIME, at, days, fixed
from limsai.lims.scenario.bundle import Bundle, CalibrationGapRequest
from limsai.lims.scenario.catalog import (
    CONDITIONS,
    KF_REAGENT_LOT,
    STABILITY_TESTS,
    ComponentDef,
    ConditionDef,
    SponsorDef,
    TestDef,
    window_days,
)
from limsai.lims.scenario.people import Staff
from limsai.lims.scenario.protocol import (
    Schedule,
    component_name,
    layout,
    method_of,
    specifications,
    study_record,
    timepoint_id,
)
from limsai.lims.scenario.studies import StabilityDef
from limsai.lims.scenario.values import StudyValues
from limsai.model import AuditEvent, Result, ResultStatus, Sample, SampleKind, Test, TestStatus

APPROVAL_LAG = timedelta(days=30)
"""Results analysed within this time before the reference time are reviewed but not yet approved."""
SEQUENCE_STEP = timedelta(minutes=20)
RETEST_DELAY = timedelta(days=2)


@dataclass(frozen=True)
class Sequence:
    """One analytical sequence: all samples of one pull month for one test."""

    start: datetime
    instrument: str
    analyst: str


@dataclass(frozen=True)
class Slot:
    """Where one result sits: condition, pull month, batch index, test, component, replicate."""

    cond: ConditionDef
    month: int
    batch: int
    test: TestDef
    comp: ComponentDef
    rep: int

    @property
    def key(self) -> tuple[str, int, int, str, str, int]:
        return (self.cond.code, self.month, self.batch, self.test.code, self.comp.code, self.rep)


@dataclass(frozen=True)
class Point:
    """One reportable value of a series (for trend evaluation)."""

    month: int
    value: str
    result_id: str


def result_status(analysed_at: datetime) -> ResultStatus:
    return ResultStatus.REVIEWED if analysed_at > REFERENCE_TIME - APPROVAL_LAG else ResultStatus.APPROVED


class StabilityBuilder:
    """Builds one stability study's records; :meth:`build` returns them as a :class:`Bundle`."""

    def __init__(
        self, defn: StabilityDef, sponsor: SponsorDef, canary: str, staff: Staff, rng: random.Random
    ) -> None:
        self.defn, self.sponsor, self.canary, self.staff, self.rng = defn, sponsor, canary, staff, rng
        self.study_id = defn.study_id
        self.out = Bundle()
        self.schedule = Schedule.of(defn)
        self.scheduled = self.schedule.scheduled
        self.pulled: dict[int, date] = {}
        self.series: dict[tuple[str, int, str, str, int], list[Point]] = {}
        self.result_index: dict[tuple[str, int, int, str, str, int], Result] = {}
        self.specs, self.out.specifications = specifications(defn, sponsor)
        self.invalidations = {(p.condition, p.month, p.batch, p.test): p for p in defn.invalidations}
        self.values = StudyValues(defn, self.schedule.due_months, rng)

    def timepoint_id(self, cond: ConditionDef, month: int) -> str:
        return timepoint_id(self.study_id, cond, month)

    def build(self) -> Bundle:
        due = sorted(self.schedule.due_months)
        for m in due:
            spread = min(3, window_days(m))
            self.pulled[m] = self.scheduled[m] + days(self.rng.randint(-spread, spread))
        self.values.draw()
        sequences = self._sequences(due)
        self.out.conditions, self.out.timepoints = layout(self.defn)
        for m in due:
            position = 0
            for cond in CONDITIONS:
                if m not in cond.months or (cond.code, m) in self.defn.missing:
                    continue
                for b in range(len(self.defn.batches)):
                    self._pull(cond, m, b, position, sequences)
                    position += 1
        self.out.studies.append(
            study_record(
                self.defn, self.sponsor, self.canary, self.staff.study_director, self.schedule, self.pulled
            )
        )
        planting.stability_anomalies(self)
        return self.out

    def _sequences(self, due: list[int]) -> dict[tuple[int, str], Sequence]:
        out: dict[tuple[int, str], Sequence] = {}
        gap = self.defn.calibration_gap
        for m in due:
            for test in STABILITY_TESTS:
                day = self.pulled[m] + days(self.rng.randint(2, 12))
                start = at(day, 8, self.rng.choice((0, 15, 30, 45)))
                instrument = self.rng.choice(test.instruments)
                analyst = self.rng.choice(self.staff.analysts)
                if gap is not None and gap.month == m and gap.test == test.code:
                    instrument = gap.instrument
                out[(m, test.code)] = Sequence(start, instrument, analyst)
        return out

    def lot_for(self, test: TestDef, month: int) -> str:
        change = self.defn.lot_change
        if change is not None and change.test == test.code and month >= change.from_month:
            return change.new_lot
        if test.lot_role == "api_rs":
            return self.sponsor.api_rs_lot
        if test.lot_role == "impurity_rs":
            return self.sponsor.impurity_lot
        return KF_REAGENT_LOT

    def _pull(
        self, cond: ConditionDef, m: int, b: int, position: int, sequences: dict[tuple[int, str], Sequence]
    ) -> None:
        batch = self.defn.batches[b]
        sample_id = f"{self.study_id}-{batch}-{cond.code}-M{m:02d}"
        collected = at(self.pulled[m], 9) + timedelta(minutes=5 * position)
        self.out.samples.append(
            Sample(
                sample_id=sample_id,
                study_id=self.study_id,
                sponsor_id=self.defn.sponsor_id,
                kind=SampleKind.STABILITY_PULL,
                matrix=self.defn.dosage_form,
                batch=batch,
                condition_id=f"{self.study_id}:{cond.code}",
                timepoint_id=self.timepoint_id(cond, m),
                storage_condition=cond.label,
                collected_at=collected,
                received_at=collected + timedelta(hours=1),
                comment=f"{cond.label} T{m} pull of batch {batch}; sponsor reference {self.canary}",
            )
        )
        for test in STABILITY_TESTS:
            seq = sequences[(m, test.code)]
            test_id = f"{sample_id}:{test.code}"
            self.out.tests.append(
                Test(
                    test_id=test_id,
                    sample_id=sample_id,
                    study_id=self.study_id,
                    sponsor_id=self.defn.sponsor_id,
                    name=test.name,
                    method=method_of(test, self.sponsor),
                    status=TestStatus.COMPLETE,
                )
            )
            analysed = seq.start + SEQUENCE_STEP * position
            common = {
                "test_id": test_id,
                "sample_id": sample_id,
                "study_id": self.study_id,
                "sponsor_id": self.defn.sponsor_id,
                "test": test.name,
                "units": test.units,
                "analyst_id": seq.analyst,
                "instrument_id": seq.instrument,
                "reagent_lot_id": self.lot_for(test, m),
            }
            for comp in test.components:
                for rep in range(1, comp.replicates + 1):
                    self._result(Slot(cond, m, b, test, comp, rep), analysed, seq, common)

    def _result(self, slot: Slot, analysed: datetime, seq: Sequence, common: dict[str, Any]) -> None:
        cond, m, b, comp = slot.cond, slot.month, slot.batch, slot.comp
        result_id = f"{common['test_id']}:{comp.code}" + (str(slot.rep) if comp.replicates > 1 else "")
        value = self.values.table[(cond.code, b, comp.code, slot.rep, m)]
        fields = {**common, "component": component_name(comp, self.sponsor), "replicate": slot.rep}
        series = self.series.setdefault((cond.code, b, slot.test.code, comp.code, slot.rep), [])
        invalidation = self.invalidations.get((cond.code, m, b, slot.test.code))
        if invalidation is not None and invalidation.component == comp.code:
            original = self.values.expected(b, cond.code, comp.code, m) + invalidation.offset
            self.out.results.append(
                Result(
                    result_id=result_id,
                    value=fixed(original, comp.places),
                    status=ResultStatus.INVALIDATED,
                    reportable=False,
                    analysed_at=analysed,
                    invalidation_reason=invalidation.reason,
                    **fields,
                )
            )
            retest_at = analysed + RETEST_DELAY
            result = Result(
                result_id=f"{result_id}:RT1",
                value=value,
                status=result_status(retest_at),
                analysed_at=retest_at,
                retest_of=result_id,
                comment=f"Retest of {result_id}",
                **fields,
            )
            self._audit_invalidation(result_id, result, analysed, invalidation.reason, seq)
        else:
            result = Result(
                result_id=result_id,
                value=value,
                status=result_status(analysed),
                analysed_at=analysed,
                **fields,
            )
        self.out.results.append(result)
        self.result_index[slot.key] = result
        series.append(Point(m, value, result.result_id))
        gap = self.defn.calibration_gap
        if gap is not None and (gap.condition, gap.month, gap.batch, gap.test) == slot.key[:4]:
            what = f"{slot.test.name} of batch {self.defn.batches[b]} at {cond.label}, {m} months"
            self.out.calibration_gaps.append(
                CalibrationGapRequest(
                    result.result_id, self.defn.sponsor_id, self.study_id, seq.instrument, analysed, what
                )
            )

    def _audit_invalidation(
        self, result_id: str, retest: Result, analysed: datetime, reason: str | None, seq: Sequence
    ) -> None:
        assert retest.analysed_at is not None
        scope = {"record_type": "result", "sponsor_id": self.defn.sponsor_id, "study_id": self.study_id}
        self.out.audit_trail.append(
            AuditEvent(
                at=analysed + timedelta(hours=5),
                user_id=seq.analyst,
                action="result invalidated",
                record_id=result_id,
                field="status",
                old_value=ResultStatus.ENTERED.value,
                new_value=ResultStatus.INVALIDATED.value,
                reason=reason or "",
                **scope,
            )
        )
        self.out.audit_trail.append(
            AuditEvent(
                at=retest.analysed_at,
                user_id=seq.analyst,
                action="retest result entered",
                record_id=retest.result_id,
                field="value",
                new_value=retest.value,
                details={"retest_of": result_id},
                **scope,
            )
        )


def build_stability(
    defn: StabilityDef, sponsor: SponsorDef, canary: str, staff: Staff, rng: random.Random
) -> Bundle:
    """All records of one stability study, with its planted anomalies."""
    return StabilityBuilder(defn, sponsor, canary, staff, rng).build()
