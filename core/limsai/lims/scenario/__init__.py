"""The seeded reference CRO scenario: sponsors, users, stability and bioanalytical PK studies with
their samples, tests, results, specifications, instruments, calibrations and reagent lots, plus a
record of every anomaly planted in them.

``generate(seed)`` always returns the same scenario for the same seed (no wall clock, no global
random state); checks are graded against ``scenario.anomalies``: every planted anomaly must be found
and nothing else flagged (``oos_boundary_pass`` entries are traps a correct checker stays silent on).

    from limsai.lims.scenario import generate
    scenario = generate()                  # natural size, a few thousand results
    big = generate(results=100_000)        # PK studies scaled to about 100 000 results
"""

from limsai.lims.scenario.anomalies import TRAP_KINDS, AnomalyKind, PlantedAnomaly
from limsai.lims.scenario.base import DEFAULT_SEED, REFERENCE_TIME
from limsai.lims.scenario.build import Scenario, generate

__all__ = [
    "DEFAULT_SEED",
    "REFERENCE_TIME",
    "TRAP_KINDS",
    "AnomalyKind",
    "PlantedAnomaly",
    "Scenario",
    "generate",
]
