"""Studies and their schedule: milestones, stability conditions and timepoints (pull points)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator

from limsai.model.common import DecimalString, Identifier, LimsModel, NonEmptyStr, UtcDatetime


class StudyType(StrEnum):
    STABILITY = "stability"
    BIOANALYTICAL_PK = "bioanalytical_pk"
    OTHER = "other"


class StudyPhase(StrEnum):
    NONCLINICAL = "nonclinical"
    PHASE_1 = "phase_1"
    PHASE_2 = "phase_2"
    PHASE_3 = "phase_3"
    PHASE_4 = "phase_4"
    NOT_APPLICABLE = "not_applicable"


class MilestoneStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"


class Milestone(LimsModel):
    """A named point in the study plan ("T12 pull complete", "Analysis Complete")."""

    name: NonEmptyStr
    status: MilestoneStatus = MilestoneStatus.PLANNED
    due_date: date | None = None
    completed_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _completed_needs_time(self) -> Milestone:
        if self.status is MilestoneStatus.COMPLETE and self.completed_at is None:
            raise ValueError(f"milestone {self.name!r} is complete but has no completed_at time")
        if self.status is not MilestoneStatus.COMPLETE and self.completed_at is not None:
            raise ValueError(f"milestone {self.name!r} has completed_at but status {self.status}")
        return self


class Study(LimsModel):
    """One study run for one sponsor under one protocol."""

    study_id: Identifier
    sponsor_id: Identifier
    protocol_number: NonEmptyStr
    title: str = ""
    description: str = ""
    study_type: StudyType
    phase: StudyPhase = StudyPhase.NOT_APPLICABLE
    product: str = ""
    batches: tuple[str, ...] = Field(default=(), description="stability: the batches (lots) on study")
    study_director: Identifier | None = Field(
        default=None, description="user id of the LIMS user who reviews and signs the study's drafts"
    )
    milestones: tuple[Milestone, ...] = ()

    @model_validator(mode="after")
    def _unique_milestones(self) -> Study:
        names = [m.name for m in self.milestones]
        if len(names) != len(set(names)):
            raise ValueError(f"study {self.study_id}: milestone names must be unique")
        return self

    def milestone(self, name: str) -> Milestone | None:
        return next((m for m in self.milestones if m.name == name), None)


class ConditionKind(StrEnum):
    LONG_TERM = "long_term"
    INTERMEDIATE = "intermediate"
    ACCELERATED = "accelerated"
    REFRIGERATED = "refrigerated"
    FROZEN = "frozen"
    OTHER = "other"


class Condition(LimsModel):
    """A stability storage condition, e.g. 25°C/60%RH long term."""

    condition_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    label: NonEmptyStr
    kind: ConditionKind
    temperature_c: DecimalString
    humidity_rh: DecimalString | None = None


class TimeUnit(StrEnum):
    MONTH = "month"
    DAY = "day"
    HOUR = "hour"


class Timepoint(LimsModel):
    """A planned pull (stability: months at a condition) or nominal sampling time (PK: hours
    relative to dose). ``planned_tests`` is the schedule the completeness check compares against."""

    timepoint_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    condition_id: Identifier | None = None
    label: NonEmptyStr
    nominal: DecimalString
    unit: TimeUnit
    window_days: int | None = Field(default=None, ge=0)
    planned_tests: tuple[str, ...] = ()

    @property
    def nominal_value(self) -> Decimal:
        return Decimal(self.nominal)
