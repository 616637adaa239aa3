"""The bioanalytical PK studies the scenario runs: protocol, analyte and dose arm, sampling times,
calibration and QC levels, the expected exposure (Cmax, half-life) and the dosing, analysis and ISR
windows. The PK studies carry no planted defect beyond their blinded fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from limsai.model import StudyPhase


@dataclass(frozen=True)
class PkDef:
    study_id: str
    sponsor_id: str
    protocol_number: str
    phase: StudyPhase
    product: str
    active_arm: str
    base_subjects: int
    site: str
    cmax: tuple[float, float]
    half_life: tuple[float, float]
    standards: tuple[str, ...]  # nominal ng/mL, LLOQ first, ULOQ last
    qcs: tuple[str, str, str]  # low, mid, high
    dosing_start: date
    analysis_start: date
    analysis_end: date
    isr_start: date
    isr_end: date
    analysis_complete: date
    is_lot: str
    method: str


PK_TIMEPOINTS: tuple[tuple[str, str, str], ...] = (
    ("PRE", "Pre-dose", "0"),
    ("H0.5", "0.5 h", "0.5"),
    ("H1", "1 h", "1"),
    ("H2", "2 h", "2"),
    ("H4", "4 h", "4"),
    ("H8", "8 h", "8"),
    ("H12", "12 h", "12"),
    ("H24", "24 h", "24"),
)
"""(code, label, nominal hours after dose)."""

ISR_TIMEPOINTS = frozenset({"H1", "H2", "H4", "H8"})
"""ISR is drawn around Cmax and in the elimination phase."""

PK_DOSING_DAYS = 100
SUBJECTS_PER_RUN = 10
RANDOMISATION_BLOCK = 4  # three active, one placebo
PLACEBO_ARM = "Placebo"

_STANDARDS_1000 = ("1.00", "2.00", "5.00", "20.0", "100", "400", "800", "1000")
_STANDARDS_500 = ("0.500", "1.00", "2.50", "10.0", "50.0", "200", "400", "500")

PK_STUDIES: tuple[PkDef, ...] = (
    PkDef(
        "AUR-PK-007",
        "SPN-AURORA",
        "AUR-BA-2025-007",
        StudyPhase.PHASE_1,
        "Aurexitinib 50 mg film-coated tablets",
        "Active 50 mg",
        36,
        "101",
        (180.0, 520.0),
        (4.0, 7.0),
        _STANDARDS_1000,
        ("3.00", "400", "800"),
        date(2025, 9, 15),
        date(2026, 1, 19),
        date(2026, 4, 30),
        date(2026, 5, 4),
        date(2026, 5, 15),
        date(2026, 5, 22),
        "IS-AUREX-D4-25H01",
        "LC-MS/MS, AX-BM-201 (human K2EDTA plasma)",
    ),
    PkDef(
        "BOR-PK-011",
        "SPN-BOREAL",
        "BOR-BA-2025-011",
        StudyPhase.PHASE_1,
        "Boralimod 20 mg tablets",
        "Active 20 mg",
        48,
        "204",
        (60.0, 190.0),
        (3.5, 6.0),
        _STANDARDS_500,
        ("1.50", "200", "400"),
        date(2025, 10, 6),
        date(2026, 2, 2),
        date(2026, 5, 8),
        date(2026, 5, 11),
        date(2026, 5, 22),
        date(2026, 5, 29),
        "IS-BORAL-C13-25G14",
        "LC-MS/MS, BLM-BM-110 (human K2EDTA plasma)",
    ),
    PkDef(
        "CAS-PK-004",
        "SPN-CASCADE",
        "CAS-BA-2025-004",
        StudyPhase.PHASE_2,
        "Cascoprazan 100 mg gastro-resistant tablets",
        "Active 100 mg",
        24,
        "312",
        (350.0, 820.0),
        (5.0, 9.0),
        _STANDARDS_1000,
        ("3.00", "400", "800"),
        date(2025, 8, 25),
        date(2025, 12, 15),
        date(2026, 3, 27),
        date(2026, 3, 30),
        date(2026, 4, 10),
        date(2026, 4, 17),
        "IS-CASCO-D6-25F02",
        "LC-MS/MS, CPZ-BM-045 (human K2EDTA plasma)",
    ),
)
