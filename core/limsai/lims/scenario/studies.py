"""The stability studies the scenario runs, and what each one plants: values on or off trend, a
missing pull, invalidations, a reagent lot change and a calibration lapse.

Positions are constants (condition, month, batch index, test and component codes from
:mod:`~limsai.lims.scenario.catalog`), so every seed plants the same anomalies in the same records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from limsai.lims.scenario.anomalies import AnomalyKind
from limsai.lims.scenario.catalog import ACCELERATED, INTERMEDIATE, LONG_TERM


@dataclass(frozen=True)
class ValuePlant:
    """A reported value planted at one point; ``on_trend`` bends the batch's trend through it."""

    kind: AnomalyKind
    condition: str
    month: int
    batch: int
    test: str
    component: str
    value: str
    replicate: int = 1
    on_trend: bool = True


@dataclass(frozen=True)
class OffTrendPlant:
    condition: str
    month: int
    batch: int
    test: str
    component: str
    offset: float


@dataclass(frozen=True)
class InvalidationPlant:
    """An original result invalidated (``reason`` None: without justification) and retested."""

    condition: str
    month: int
    batch: int
    test: str
    component: str
    reason: str | None
    offset: float


@dataclass(frozen=True)
class LotChangePlant:
    test: str
    from_month: int
    new_lot: str


@dataclass(frozen=True)
class CalibrationGapPlant:
    condition: str
    month: int
    batch: int
    test: str
    instrument: str


@dataclass(frozen=True)
class Stress:
    """Non-planted batches of ``component`` at ``condition`` end their series inside ``band``
    (so a planted boundary value sits on a believable trend)."""

    condition: str
    component: str
    band: tuple[float, float]


@dataclass(frozen=True)
class StabilityDef:
    study_id: str
    sponsor_id: str
    protocol_number: str
    strength: str
    dosage_form: str
    start: date
    batches: tuple[str, ...]
    control_range: tuple[str, str]
    values: tuple[ValuePlant, ...] = ()
    off_trend: tuple[OffTrendPlant, ...] = ()
    invalidations: tuple[InvalidationPlant, ...] = ()
    lot_change: LotChangePlant | None = None
    calibration_gap: CalibrationGapPlant | None = None
    missing: tuple[tuple[str, int], ...] = ()
    stresses: tuple[Stress, ...] = field(default=())


_ACCELERATED_STRESS = (Stress(ACCELERATED, "ASSAY", (95.9, 96.6)), Stress(ACCELERATED, "IMPB", (0.36, 0.42)))

STABILITY_STUDIES: tuple[StabilityDef, ...] = (
    StabilityDef(
        "AUR-STB-014",
        "SPN-AURORA",
        "AUR-STB-2024-014",
        "50 mg",
        "film-coated tablets",
        date(2024, 5, 6),
        ("AX50-24001", "AX50-24002", "AX50-24003"),
        ("98.0", "102.0"),
        values=(
            ValuePlant(AnomalyKind.OOS, ACCELERATED, 6, 2, "ASSAY", "ASSAY", "94.94"),
            ValuePlant(AnomalyKind.OOS_BOUNDARY_PASS, ACCELERATED, 6, 1, "RS", "IMPB", "0.54"),
        ),
        stresses=_ACCELERATED_STRESS,
    ),
    StabilityDef(
        "AUR-STB-019",
        "SPN-AURORA",
        "AUR-STB-2025-019",
        "100 mg",
        "film-coated tablets",
        date(2025, 2, 10),
        ("AX100-25011", "AX100-25012", "AX100-25013"),
        ("97.0", "103.0"),
        invalidations=(
            InvalidationPlant(
                LONG_TERM,
                6,
                1,
                "KF",
                "WATER",
                "Assignable cause: titrator drift above 20 ug/min at the start of the "
                "determination (lab investigation LI-2025-117); sample re-tested.",
                0.05,
            ),
        ),
    ),
    StabilityDef(
        "BOR-STB-022",
        "SPN-BOREAL",
        "BOR-STB-2024-022",
        "10 mg",
        "tablets",
        date(2024, 9, 16),
        ("BLM10-2406A", "BLM10-2406B", "BLM10-2407A"),
        ("98.0", "102.0"),
        values=(
            ValuePlant(AnomalyKind.OOS_BOUNDARY_PASS, ACCELERATED, 6, 0, "ASSAY", "ASSAY", "94.95"),
            ValuePlant(AnomalyKind.OOS, ACCELERATED, 6, 2, "RS", "IMPB", "0.55"),
        ),
        missing=((INTERMEDIATE, 9),),
        calibration_gap=CalibrationGapPlant(LONG_TERM, 12, 1, "KF", "KF-02"),
        stresses=_ACCELERATED_STRESS,
    ),
    StabilityDef(
        "CAS-STB-031",
        "SPN-CASCADE",
        "CAS-STB-2025-031",
        "20 mg",
        "gastro-resistant tablets",
        date(2025, 3, 24),
        ("CPZ20-0125", "CPZ20-0225", "CPZ20-0325"),
        ("98.0", "102.0"),
        values=(
            ValuePlant(AnomalyKind.OOS, LONG_TERM, 12, 0, "DISS", "DISS", "74", replicate=4, on_trend=False),
        ),
        off_trend=(OffTrendPlant(LONG_TERM, 12, 1, "ASSAY", "ASSAY", -2.4),),
        invalidations=(InvalidationPlant(INTERMEDIATE, 6, 2, "ASSAY", "ASSAY", None, -0.6),),
        lot_change=LotChangePlant("RS", 9, "IMP-CASCO-25L03"),
    ),
)
