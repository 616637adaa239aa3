"""The records one study builder produces, before they are merged into the scenario's dataset.

Builders return a :class:`Bundle` each; the scenario concatenates them in sponsor order, so the
dataset's lists (and therefore its bytes) only depend on the seed and the size knob.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from limsai.lims.scenario.anomalies import PlantedAnomaly
from limsai.model import (
    AuditEvent,
    Condition,
    Deviation,
    Result,
    Sample,
    Specification,
    Study,
    Test,
    Timepoint,
)


@dataclass(frozen=True)
class CalibrationGapRequest:
    """A result that must be analysed while its instrument's calibration has lapsed."""

    result_id: str
    sponsor_id: str
    study_id: str
    instrument_id: str
    analysed_at: datetime
    what: str  # reviewer-readable context ("Water of batch ... at 25°C/60%RH, 12 months")


@dataclass
class Bundle:
    studies: list[Study] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    timepoints: list[Timepoint] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    tests: list[Test] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    specifications: list[Specification] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    audit_trail: list[AuditEvent] = field(default_factory=list)
    anomalies: list[PlantedAnomaly] = field(default_factory=list)
    calibration_gaps: list[CalibrationGapRequest] = field(default_factory=list)

    def extend(self, other: Bundle) -> None:
        self.studies += other.studies
        self.conditions += other.conditions
        self.timepoints += other.timepoints
        self.samples += other.samples
        self.tests += other.tests
        self.results += other.results
        self.specifications += other.specifications
        self.deviations += other.deviations
        self.audit_trail += other.audit_trail
        self.anomalies += other.anomalies
        self.calibration_gaps += other.calibration_gaps
