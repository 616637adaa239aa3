"""What a check reports: a finding with its kind, severity, evidence and a reviewer's next step.

Findings are the common currency between the checks and whatever packages them for a reviewer, so
they carry everything needed to understand one issue without re-reading the data: the records it
rests on (``evidence``), a short manifest line (``flag``) and a plain-language ``detail``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from limsai.model import Sample, Timepoint


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


class FindingKind(StrEnum):
    OOS = "oos"
    OOT = "oot"
    MISSING_TIMEPOINT = "missing_timepoint"
    MISSING_SAMPLE = "missing_sample"
    MISSING_TEST = "missing_test"
    INVALIDATED_WITHOUT_JUSTIFICATION = "invalidated_without_justification"
    EXPIRED_CALIBRATION = "expired_calibration"
    REAGENT_LOT_CHANGE = "reagent_lot_change"


class RecordType(StrEnum):
    """The kind of LIMS record a piece of evidence points at."""

    RESULT = "result"
    SPECIFICATION = "specification"
    SAMPLE = "sample"
    TEST = "test"
    TIMEPOINT = "timepoint"
    INSTRUMENT = "instrument"
    CALIBRATION = "calibration"
    REAGENT_LOT = "reagent_lot"
    DEVIATION = "deviation"


class Evidence(BaseModel):
    """One LIMS record a finding rests on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_type: RecordType
    record_id: str


class Finding(BaseModel):
    """One issue found by a check. ``evidence[0]`` is the primary record (the result, timepoint or
    sample a reviewer should open first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FindingKind
    severity: Severity
    study_id: str
    sponsor_id: str
    title: str
    detail: str
    evidence: tuple[Evidence, ...]
    sample_id: str | None = None
    timepoint_label: str | None = None
    suggested_note: str = ""

    @property
    def primary_record(self) -> str:
        """The id of the record the finding is about (empty when there is no evidence)."""
        return self.evidence[0].record_id if self.evidence else ""

    @property
    def flag(self) -> str:
        """One short manifest line: the primary record followed by the title."""
        return f"{self.primary_record} {self.title}".strip()

    def records(self, record_type: RecordType) -> tuple[str, ...]:
        """Ids of the evidence records of one type, in evidence order."""
        return tuple(e.record_id for e in self.evidence if e.record_type is record_type)


def timepoint_labels(samples: Iterable[Sample], timepoints: Iterable[Timepoint]) -> dict[str, str]:
    """sample id -> the label of its time point, so a finding names the pull a reviewer knows."""
    labels = {t.timepoint_id: t.label for t in timepoints}
    return {
        s.sample_id: labels[s.timepoint_id]
        for s in samples
        if s.timepoint_id is not None and s.timepoint_id in labels
    }
