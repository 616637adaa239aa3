"""What a stability protocol fixes before any sample exists: the pull schedule and which pulls are
due at the reference time, the conditions and time points, the acceptance criteria and control
ranges, and the study record with its milestones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from limsai.lims.scenario.base import DUE_MARGIN, REFERENCE_TIME, add_months, at, days, midday
from limsai.lims.scenario.catalog import (
    CONDITIONS,
    CONTROL_COMPONENT,
    STABILITY_TESTS,
    ComponentDef,
    ConditionDef,
    SponsorDef,
    TestDef,
    window_days,
)
from limsai.lims.scenario.studies import StabilityDef
from limsai.model import (
    Condition,
    Milestone,
    MilestoneStatus,
    Specification,
    SpecificationKind,
    Study,
    StudyType,
    Timepoint,
    TimeUnit,
)

MONTHS: tuple[int, ...] = tuple(sorted({m for c in CONDITIONS for m in c.months}))


def method_of(test: TestDef, sponsor: SponsorDef) -> str:
    return test.method.format(prefix=sponsor.method_prefix)


def component_name(component: ComponentDef, sponsor: SponsorDef) -> str:
    return component.name.format(api=sponsor.api)


def timepoint_id(study_id: str, cond: ConditionDef, month: int) -> str:
    return f"{study_id}:{cond.code}:M{month:02d}"


def is_due(scheduled: date) -> bool:
    """True when a pull scheduled on ``scheduled`` has been pulled and tested by the reference time."""
    moment = midday(scheduled)
    if moment <= REFERENCE_TIME - DUE_MARGIN:
        return True
    if moment > REFERENCE_TIME:
        return False
    raise ValueError(f"pull scheduled on {scheduled} is too close to the reference time to be unambiguous")


@dataclass(frozen=True)
class Schedule:
    """Scheduled date of every pull month and whether it is due at the reference time."""

    scheduled: dict[int, date]
    due: dict[int, bool]

    @classmethod
    def of(cls, defn: StabilityDef) -> Schedule:
        scheduled = {m: add_months(defn.start, m) for m in MONTHS}
        return cls(scheduled, {m: is_due(day) for m, day in scheduled.items()})

    @property
    def due_months(self) -> set[int]:
        return {m for m, due in self.due.items() if due}


def layout(defn: StabilityDef) -> tuple[list[Condition], list[Timepoint]]:
    """The storage conditions and every planned time point, due or not."""
    conditions: list[Condition] = []
    timepoints: list[Timepoint] = []
    for cond in CONDITIONS:
        condition_id = f"{defn.study_id}:{cond.code}"
        conditions.append(
            Condition(
                condition_id=condition_id,
                study_id=defn.study_id,
                sponsor_id=defn.sponsor_id,
                label=cond.label,
                kind=cond.kind,
                temperature_c=cond.temperature,
                humidity_rh=cond.humidity,
            )
        )
        timepoints += [
            Timepoint(
                timepoint_id=timepoint_id(defn.study_id, cond, m),
                study_id=defn.study_id,
                sponsor_id=defn.sponsor_id,
                condition_id=condition_id,
                label=f"T{m}" if m else "T0 (initial)",
                nominal=str(m),
                unit=TimeUnit.MONTH,
                window_days=window_days(m),
                planned_tests=tuple(t.name for t in STABILITY_TESTS),
            )
            for m in cond.months
        ]
    return conditions, timepoints


def specifications(
    defn: StabilityDef, sponsor: SponsorDef
) -> tuple[dict[tuple[str, str], Specification], list[Specification]]:
    """Acceptance criteria by (test code, component code), and every specification of the study
    including the assay method's control range."""
    by_code: dict[tuple[str, str], Specification] = {}
    for test in STABILITY_TESTS:
        for comp in test.components:
            by_code[(test.code, comp.code)] = Specification(
                spec_id=f"{defn.study_id}:SPEC:{test.code}:{comp.code}",
                study_id=defn.study_id,
                sponsor_id=defn.sponsor_id,
                test=test.name,
                component=component_name(comp, sponsor),
                kind=SpecificationKind.ACCEPTANCE,
                min=comp.minimum,
                max=comp.maximum,
                text=comp.text,
                units=test.units,
                method=method_of(test, sponsor),
            )
    low, high = defn.control_range
    assay = STABILITY_TESTS[0]
    control = Specification(
        spec_id=f"{defn.study_id}:CTRL:{assay.code}",
        study_id=defn.study_id,
        sponsor_id=defn.sponsor_id,
        test=assay.name,
        component=CONTROL_COMPONENT,
        kind=SpecificationKind.CONTROL,
        min=low,
        max=high,
        text=f"Control sample recovery {low} - {high} %",
        units="%",
        method=method_of(assay, sponsor),
    )
    return by_code, [*by_code.values(), control]


def study_record(
    defn: StabilityDef,
    sponsor: SponsorDef,
    canary: str,
    director: str,
    schedule: Schedule,
    pulled: dict[int, date],
) -> Study:
    """The study with its milestones: one "T<n> pull complete" per pull month, complete when due."""
    start = defn.start
    milestones = [
        Milestone(
            name="Protocol approved",
            status=MilestoneStatus.COMPLETE,
            due_date=start - days(45),
            completed_at=at(start - days(40), 15),
        ),
        Milestone(
            name="Samples received",
            status=MilestoneStatus.COMPLETE,
            due_date=start - days(7),
            completed_at=at(start - days(6), 11),
        ),
    ]
    for m in MONTHS:
        name, due_date = f"T{m} pull complete", schedule.scheduled[m]
        if schedule.due[m]:
            milestones.append(
                Milestone(
                    name=name,
                    status=MilestoneStatus.COMPLETE,
                    due_date=due_date,
                    completed_at=at(pulled[m], 16),
                )
            )
        else:
            milestones.append(Milestone(name=name, due_date=due_date))
    milestones.append(Milestone(name="Final report", due_date=schedule.scheduled[MONTHS[-1]] + days(60)))
    product = f"{sponsor.api} {defn.strength} {defn.dosage_form}"
    return Study(
        study_id=defn.study_id,
        sponsor_id=defn.sponsor_id,
        protocol_number=defn.protocol_number,
        title=f"ICH stability study of {product}",
        description=(
            f"Long-term (25°C/60%RH), intermediate (30°C/65%RH) and accelerated (40°C/75%RH) "
            f"stability of {product}, batches {', '.join(defn.batches)}, placed on station "
            f"{start.isoformat()}. Sponsor reference {canary}."
        ),
        study_type=StudyType.STABILITY,
        product=product,
        batches=defn.batches,
        study_director=director,
        milestones=tuple(milestones),
    )
