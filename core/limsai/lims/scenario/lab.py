"""The lab-wide resources results point at: instruments with unbroken calibration histories, and
the reagent / reference-standard lots.

Calibrations run back to back (each overlapping the next by two days) from before the first
analysis to after the reference time, except where a study asks for a planted lapse: there the
instrument's calibration expires a few days before the planted result and is renewed a few days
after it, and any other result that happened to run on that instrument in the lapse is moved to a
calibrated twin, so the planted result is the only one analysed out of calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from limsai.lims.scenario.anomalies import AnomalyKind, PlantedAnomaly
from limsai.lims.scenario.base import REFERENCE_TIME, at, iso
from limsai.lims.scenario.bundle import CalibrationGapRequest
from limsai.lims.scenario.catalog import KF_REAGENT_LOT
from limsai.model import Calibration, Instrument, ReagentLot, Result


@dataclass(frozen=True)
class InstrumentDef:
    instrument_id: str
    name: str
    instrument_type: str
    location: str
    service: str


INSTRUMENTS: tuple[InstrumentDef, ...] = (
    InstrumentDef("HPLC-01", "Agilent 1290 Infinity II LC", "HPLC", "QC lab 2.14", "Agilent Technologies"),
    InstrumentDef("HPLC-02", "Agilent 1290 Infinity II LC", "HPLC", "QC lab 2.14", "Agilent Technologies"),
    InstrumentDef("HPLC-03", "Waters ACQUITY UPLC H-Class", "HPLC", "QC lab 2.16", "Waters Corporation"),
    InstrumentDef("HPLC-04", "Waters ACQUITY UPLC H-Class", "HPLC", "QC lab 2.16", "Waters Corporation"),
    InstrumentDef(
        "KF-01", "Metrohm 851 Titrando coulometric KF", "Karl Fischer titrator", "QC lab 2.10", "Metrohm"
    ),
    InstrumentDef("KF-02", "Metrohm 756 KF Coulometer", "Karl Fischer titrator", "QC lab 2.10", "Metrohm"),
    InstrumentDef(
        "DISS-01",
        "Agilent 708-DS dissolution apparatus",
        "Dissolution bath",
        "QC lab 2.12",
        "Agilent Technologies",
    ),
    InstrumentDef(
        "DISS-02",
        "Agilent 708-DS dissolution apparatus",
        "Dissolution bath",
        "QC lab 2.12",
        "Agilent Technologies",
    ),
    InstrumentDef(
        "LCMS-01", "SCIEX Triple Quad 6500+ LC-MS/MS", "LC-MS/MS", "Bioanalytical lab B1.03", "SCIEX"
    ),
    InstrumentDef(
        "LCMS-02", "SCIEX Triple Quad 6500+ LC-MS/MS", "LC-MS/MS", "Bioanalytical lab B1.03", "SCIEX"
    ),
    InstrumentDef(
        "LCMS-03", "Waters Xevo TQ-XS LC-MS/MS", "LC-MS/MS", "Bioanalytical lab B1.05", "Waters Corporation"
    ),
)
LCMS_INSTRUMENTS = ("LCMS-01", "LCMS-02", "LCMS-03")

CALIBRATION_START = date(2023, 11, 6)
CALIBRATION_PERIOD_DAYS = 182
CALIBRATION_VALID_DAYS = 184


@dataclass(frozen=True)
class LotDef:
    lot_id: str
    reagent: str
    lot_number: str
    received: date
    expires: date


REAGENT_LOTS: tuple[LotDef, ...] = (
    LotDef(
        "RS-AUREX-23K07",
        "Aurexitinib reference standard",
        "AX-RS-23K07",
        date(2024, 2, 12),
        date(2027, 11, 30),
    ),
    LotDef(
        "IMP-AUREX-24B02",
        "Aurexitinib impurity A/B reference mixture",
        "AX-IM-24B02",
        date(2024, 3, 4),
        date(2027, 8, 31),
    ),
    LotDef(
        "RS-BORAL-24D15", "Boralimod reference standard", "BLM-RS-24D15", date(2024, 6, 3), date(2027, 12, 31)
    ),
    LotDef(
        "IMP-BORAL-24E03",
        "Boralimod impurity A/B reference mixture",
        "BLM-IM-24E03",
        date(2024, 6, 17),
        date(2027, 10, 31),
    ),
    LotDef(
        "RS-CASCO-24L20",
        "Cascoprazan reference standard",
        "CPZ-RS-24L20",
        date(2025, 1, 13),
        date(2028, 1, 31),
    ),
    LotDef(
        "IMP-CASCO-25A11",
        "Cascoprazan impurity A/B reference mixture",
        "CPZ-IM-25A11",
        date(2025, 2, 3),
        date(2027, 12, 31),
    ),
    LotDef(
        "IMP-CASCO-25L03",
        "Cascoprazan impurity A/B reference mixture",
        "CPZ-IM-25L03",
        date(2025, 12, 8),
        date(2028, 6, 30),
    ),
    LotDef(
        KF_REAGENT_LOT, "Hydranal-Coulomat AG (KF anolyte)", "HYD-24C19", date(2024, 3, 18), date(2027, 3, 31)
    ),
    LotDef(
        "IS-AUREX-D4-25H01",
        "Aurexitinib-d4 internal standard",
        "AX-IS-25H01",
        date(2025, 8, 18),
        date(2027, 8, 31),
    ),
    LotDef(
        "IS-BORAL-C13-25G14",
        "Boralimod-13C6 internal standard",
        "BLM-IS-25G14",
        date(2025, 9, 1),
        date(2027, 9, 30),
    ),
    LotDef(
        "IS-CASCO-D6-25F02",
        "Cascoprazan-d6 internal standard",
        "CPZ-IS-25F02",
        date(2025, 7, 21),
        date(2027, 7, 31),
    ),
)

PERIOD = timedelta(days=CALIBRATION_PERIOD_DAYS)
VALIDITY = timedelta(days=CALIBRATION_VALID_DAYS)


@dataclass
class Lab:
    instruments: list[Instrument] = field(default_factory=list)
    calibrations: list[Calibration] = field(default_factory=list)
    reagent_lots: list[ReagentLot] = field(default_factory=list)
    anomalies: list[PlantedAnomaly] = field(default_factory=list)


def _calibration(spec: InstrumentDef, valid_from: datetime, valid_to: datetime) -> Calibration:
    return Calibration(
        calibration_id=f"{spec.instrument_id}:CAL-{valid_from:%Y%m%d}",
        instrument_id=spec.instrument_id,
        valid_from=valid_from,
        valid_to=valid_to,
        performed_by=f"{spec.service} field service",
        certificate=f"CERT-{spec.instrument_id}-{valid_from:%y%m%d}",
    )


def _regular(spec: InstrumentDef, index: int) -> list[Calibration]:
    out: list[Calibration] = []
    valid_from = at(CALIBRATION_START, 8) + timedelta(days=9 * index)
    while valid_from <= REFERENCE_TIME:
        out.append(_calibration(spec, valid_from, valid_from + VALIDITY))
        valid_from += PERIOD
    return out


def _lapsed(spec: InstrumentDef, gap_start: datetime, gap_end: datetime) -> list[Calibration]:
    """Back-to-back calibrations with one lapse between ``gap_start`` and ``gap_end``."""
    before: list[Calibration] = []
    valid_to = gap_start
    start = at(CALIBRATION_START, 8)
    while True:
        before.append(_calibration(spec, valid_to - VALIDITY, valid_to))
        if valid_to - VALIDITY <= start:
            break
        valid_to -= PERIOD
    after: list[Calibration] = []
    valid_from = gap_end
    while valid_from <= REFERENCE_TIME:
        after.append(_calibration(spec, valid_from, valid_from + VALIDITY))
        valid_from += PERIOD
    return list(reversed(before)) + after


def _twin(instrument_id: str) -> str:
    kind = next(i.instrument_type for i in INSTRUMENTS if i.instrument_id == instrument_id)
    return next(
        i.instrument_id for i in INSTRUMENTS if i.instrument_type == kind and i.instrument_id != instrument_id
    )


def build_lab(gaps: list[CalibrationGapRequest], results: list[Result]) -> tuple[Lab, list[Result]]:
    """Instruments, calibrations and lots; returns them with ``results`` adjusted so that only the
    planted results fall in a calibration lapse."""
    lab = Lab()
    windows: dict[str, tuple[datetime, datetime, CalibrationGapRequest]] = {}
    for gap in gaps:
        gap_start = at((gap.analysed_at - timedelta(days=3)).date(), 17)
        gap_end = at((gap.analysed_at + timedelta(days=6)).date(), 9)
        if gap.instrument_id in windows:
            raise ValueError(f"only one planted calibration lapse per instrument ({gap.instrument_id})")
        windows[gap.instrument_id] = (gap_start, gap_end, gap)
    for index, spec in enumerate(INSTRUMENTS):
        lab.instruments.append(
            Instrument(
                instrument_id=spec.instrument_id,
                name=spec.name,
                instrument_type=spec.instrument_type,
                location=spec.location,
            )
        )
        if spec.instrument_id in windows:
            gap_start, gap_end, _ = windows[spec.instrument_id]
            lab.calibrations += _lapsed(spec, gap_start, gap_end)
        else:
            lab.calibrations += _regular(spec, index)
    for lot in REAGENT_LOTS:
        lab.reagent_lots.append(
            ReagentLot(
                lot_id=lot.lot_id,
                reagent=lot.reagent,
                lot_number=lot.lot_number,
                received_at=at(lot.received, 10),
                expires_at=at(lot.expires, 23, 59),
            )
        )
    planted = {gap.result_id for gap in gaps}
    adjusted: list[Result] = []
    for result in results:
        window = windows.get(result.instrument_id or "")
        if (
            window is not None
            and result.analysed_at is not None
            and result.result_id not in planted
            and window[0] < result.analysed_at < window[1]
        ):
            result = result.model_copy(update={"instrument_id": _twin(window[2].instrument_id)})
        adjusted.append(result)
    for gap_start, gap_end, gap in windows.values():
        lapsed = next(
            c for c in lab.calibrations if c.instrument_id == gap.instrument_id and c.valid_to == gap_start
        )
        renewed = next(
            c for c in lab.calibrations if c.instrument_id == gap.instrument_id and c.valid_from == gap_end
        )
        lab.anomalies.append(
            PlantedAnomaly(
                kind=AnomalyKind.EXPIRED_CALIBRATION,
                sponsor_id=gap.sponsor_id,
                study_id=gap.study_id,
                records=(gap.result_id, gap.instrument_id, lapsed.calibration_id),
                description=(
                    f"{gap.what} (result {gap.result_id}) was analysed on {gap.instrument_id} at "
                    f"{iso(gap.analysed_at)}, after its calibration {lapsed.calibration_id} expired "
                    f"({iso(lapsed.valid_to)}) and before the next one ({iso(renewed.valid_from)})."
                ),
                expected={
                    "result": gap.result_id,
                    "instrument": gap.instrument_id,
                    "analysed_at": iso(gap.analysed_at),
                    "calibration": lapsed.calibration_id,
                    "calibration_valid_to": iso(lapsed.valid_to),
                    "next_calibration": renewed.calibration_id,
                    "next_calibration_valid_from": iso(renewed.valid_from),
                    "verdict": "calibration expired",
                },
            )
        )
    return lab, adjusted
