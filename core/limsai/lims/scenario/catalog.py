"""The fixed world of the reference CRO: sponsors, products, the stability design (conditions,
tests, acceptance criteria, trends) and where each stability anomaly is planted. The PK design
lives in :mod:`~limsai.lims.scenario.pk`, the instruments and reagent lots in
:mod:`~limsai.lims.scenario.lab`.

Identifiers and designs are constants so that code and tests elsewhere can name a study or a
sponsor; only values (measurements, names, canaries, times of day) vary with the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from limsai.model import ConditionKind

# --------------------------------------------------------------------------------------- sponsors


@dataclass(frozen=True)
class SponsorDef:
    sponsor_id: str
    code: str
    tag: str
    name: str
    api: str
    method_prefix: str
    api_rs_lot: str
    impurity_lot: str


SPONSORS: tuple[SponsorDef, ...] = (
    SponsorDef(
        "SPN-AURORA",
        "AUR",
        "AURORA",
        "Aurora Therapeutics AG",
        "Aurexitinib",
        "AX",
        "RS-AUREX-23K07",
        "IMP-AUREX-24B02",
    ),
    SponsorDef(
        "SPN-BOREAL",
        "BOR",
        "BOREAL",
        "Boreal Biopharma Inc.",
        "Boralimod",
        "BLM",
        "RS-BORAL-24D15",
        "IMP-BORAL-24E03",
    ),
    SponsorDef(
        "SPN-CASCADE",
        "CAS",
        "CASCADE",
        "Cascade Pharmaceuticals Ltd",
        "Cascoprazan",
        "CPZ",
        "RS-CASCO-24L20",
        "IMP-CASCO-25A11",
    ),
)

# ------------------------------------------------------------------------------ stability design


@dataclass(frozen=True)
class ConditionDef:
    code: str
    label: str
    kind: ConditionKind
    temperature: str
    humidity: str
    months: tuple[int, ...]


LONG_TERM, INTERMEDIATE, ACCELERATED = "C25-60", "C30-65", "C40-75"

CONDITIONS: tuple[ConditionDef, ...] = (
    ConditionDef(LONG_TERM, "25°C/60%RH", ConditionKind.LONG_TERM, "25", "60", (0, 3, 6, 9, 12, 18, 24)),
    ConditionDef(INTERMEDIATE, "30°C/65%RH", ConditionKind.INTERMEDIATE, "30", "65", (0, 3, 6, 9, 12)),
    ConditionDef(ACCELERATED, "40°C/75%RH", ConditionKind.ACCELERATED, "40", "75", (0, 3, 6)),
)


def window_days(month: int) -> int:
    """Pull window: none at the initial time point, +/-7 days to 12 months, +/-14 days later."""
    return 0 if month == 0 else (7 if month <= 12 else 14)


@dataclass(frozen=True)
class Trend:
    """Expected value = initial + rate x months; ``initial`` and ``rates`` are ranges drawn per batch."""

    initial: tuple[float, float]
    rates: dict[str, tuple[float, float]]
    noise: float


@dataclass(frozen=True)
class ComponentDef:
    code: str
    name: str  # "{api}" is replaced by the product's active ingredient
    places: int  # decimals the lab reports
    minimum: str | None
    maximum: str | None
    text: str
    trend: Trend
    replicates: int = 1
    derived_total: bool = False  # total impurities: trend of the named impurities + unspecified ones
    safe: tuple[float, float] = (float("-inf"), float("inf"))  # where non-planted values must stay


@dataclass(frozen=True)
class TestDef:
    code: str
    name: str
    method: str  # "{prefix}" is replaced by the sponsor's method prefix
    instruments: tuple[str, ...]
    lot_role: str  # "api_rs" | "impurity_rs" | "kf_reagent"
    units: str
    components: tuple[ComponentDef, ...]


ASSAY = ComponentDef(
    "ASSAY",
    "{api}",
    1,
    "95.0",
    "105.0",
    "95.0 - 105.0 % of label claim",
    Trend(
        (99.2, 100.8),
        {LONG_TERM: (-0.09, -0.04), INTERMEDIATE: (-0.15, -0.08), ACCELERATED: (-0.45, -0.25)},
        0.25,
    ),
    safe=(95.5, 104.5),
)
IMPURITY_A = ComponentDef(
    "IMPA",
    "Impurity A",
    2,
    None,
    "0.5",
    "NMT 0.5 %",
    Trend(
        (0.06, 0.09),
        {LONG_TERM: (0.002, 0.004), INTERMEDIATE: (0.004, 0.007), ACCELERATED: (0.012, 0.020)},
        0.012,
    ),
    safe=(0.0, 0.44),
)
IMPURITY_B = ComponentDef(
    "IMPB",
    "Impurity B",
    2,
    None,
    "0.5",
    "NMT 0.5 %",
    Trend(
        (0.08, 0.12),
        {LONG_TERM: (0.003, 0.005), INTERMEDIATE: (0.006, 0.009), ACCELERATED: (0.030, 0.045)},
        0.012,
    ),
    safe=(0.0, 0.44),
)
TOTAL_IMPURITIES = ComponentDef(
    "TOTAL",
    "Total impurities",
    2,
    None,
    "2.0",
    "NMT 2.0 %",
    Trend(
        (0.10, 0.16),
        {LONG_TERM: (0.002, 0.004), INTERMEDIATE: (0.004, 0.006), ACCELERATED: (0.010, 0.016)},
        0.015,
    ),
    derived_total=True,
    safe=(0.0, 1.9),
)
DISSOLUTION = ComponentDef(
    "DISS",
    "Dissolved at 30 min",
    0,
    "80",
    None,
    "NLT 80 % per unit (Q = 80 % at 30 min)",
    Trend(
        (92.0, 96.0), {LONG_TERM: (-0.05, 0.0), INTERMEDIATE: (-0.08, 0.0), ACCELERATED: (-0.40, -0.10)}, 2.5
    ),
    replicates=6,
    safe=(83.0, float("inf")),
)
WATER = ComponentDef(
    "WATER",
    "Water",
    2,
    None,
    "0.5",
    "NMT 0.5 % w/w",
    Trend(
        (0.14, 0.22),
        {LONG_TERM: (0.002, 0.004), INTERMEDIATE: (0.004, 0.006), ACCELERATED: (0.015, 0.025)},
        0.012,
    ),
    safe=(0.0, 0.44),
)

STABILITY_TESTS: tuple[TestDef, ...] = (
    TestDef(
        "ASSAY",
        "Assay",
        "HPLC-UV, {prefix}-TM-101",
        ("HPLC-01", "HPLC-02", "HPLC-03", "HPLC-04"),
        "api_rs",
        "%",
        (ASSAY,),
    ),
    TestDef(
        "RS",
        "Related substances",
        "HPLC-UV, {prefix}-TM-102",
        ("HPLC-01", "HPLC-02", "HPLC-03", "HPLC-04"),
        "impurity_rs",
        "%",
        (IMPURITY_A, IMPURITY_B, TOTAL_IMPURITIES),
    ),
    TestDef(
        "DISS",
        "Dissolution",
        "USP <711> apparatus 2, UV, {prefix}-TM-103",
        ("DISS-01", "DISS-02"),
        "api_rs",
        "%",
        (DISSOLUTION,),
    ),
    TestDef(
        "KF",
        "Water",
        "Karl Fischer coulometric, USP <921> Ic",
        ("KF-01", "KF-02"),
        "kf_reagent",
        "% w/w",
        (WATER,),
    ),
)

CONTROL_COMPONENT = "Control sample"
KF_REAGENT_LOT = "KFR-HYD-24C19"
