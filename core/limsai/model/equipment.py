"""Lab-wide resources that results refer to: instruments, their calibrations, reagent lots.

These records belong to the lab, not to a sponsor; scoped reads return the ones a study's results
used."""

from __future__ import annotations

from datetime import datetime

from pydantic import model_validator

from limsai.model.common import Identifier, LimsModel, NonEmptyStr, UtcDatetime


class Instrument(LimsModel):
    instrument_id: Identifier
    name: NonEmptyStr
    instrument_type: str = ""
    location: str = ""


class Calibration(LimsModel):
    """A calibration (or qualification) of an instrument, valid over [valid_from, valid_to]."""

    calibration_id: Identifier
    instrument_id: Identifier
    valid_from: UtcDatetime
    valid_to: UtcDatetime
    performed_by: str = ""
    certificate: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Calibration:
        if self.valid_to <= self.valid_from:
            raise ValueError(f"calibration {self.calibration_id}: valid_to must be after valid_from")
        return self

    def covers(self, moment: datetime) -> bool:
        """True when the calibration was valid at ``moment`` (both ends inclusive)."""
        return self.valid_from <= moment <= self.valid_to


class ReagentLot(LimsModel):
    """A lot of a reagent or reference standard, as used by results (``Result.reagent_lot_id``)."""

    lot_id: Identifier
    reagent: NonEmptyStr
    lot_number: NonEmptyStr
    received_at: UtcDatetime | None = None
    expires_at: UtcDatetime | None = None
