"""The record of what the scenario planted on purpose.

Checks are graded against this list: each planted anomaly must be found, and nothing else may be
flagged. ``OOS_BOUNDARY_PASS`` entries are traps rather than defects: values that sit exactly on a
rounding boundary and conform after USP rounding, which a correct checker must not flag.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class AnomalyKind(StrEnum):
    OOS = "oos"
    """A result outside its acceptance criterion after rounding to the limit's decimals."""
    OOS_BOUNDARY_PASS = "oos_boundary_pass"
    """A value on a rounding boundary that conforms after rounding (must NOT be flagged)."""
    OOT = "oot"
    """A result within specification but off its batch's trend."""
    MISSING_TIMEPOINT = "missing_timepoint"
    """A due stability pull with no samples and no results."""
    REAGENT_LOT_CHANGE = "reagent_lot_change"
    """A mid-study change of the reagent/reference-standard lot used by one test."""
    EXPIRED_CALIBRATION = "expired_calibration"
    """A result analysed on an instrument whose calibration had expired at analysis time."""
    CONFLICTING_CONTROL_RANGE = "conflicting_control_range"
    """Two studies of one sponsor with different control ranges for one test/component/method."""
    BLINDED_FIELD = "blinded_field"
    """PK samples carrying blinded fields (treatment arm, randomisation code)."""
    INVALIDATED_WITHOUT_JUSTIFICATION = "invalidated_without_justification"
    """An invalidated result with no invalidation reason, replaced by a retest."""


TRAP_KINDS = frozenset({AnomalyKind.OOS_BOUNDARY_PASS})
"""Kinds planted to catch false positives: a correct checker reports none of these."""


class PlantedAnomaly(BaseModel):
    """One planted anomaly. ``records`` lists the ids involved, the primary record first (the
    result, timepoint, specification or sample a checker would point at). ``expected`` holds what a
    reviewer should see (value, limit, rounded value, verdict ...), all as text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AnomalyKind
    sponsor_id: str
    study_id: str
    records: tuple[str, ...]
    description: str
    expected: dict[str, str]

    @property
    def should_flag(self) -> bool:
        """False for traps (``oos_boundary_pass``): a correct checker must stay silent on them."""
        return self.kind not in TRAP_KINDS
