"""Run every record check over one study's records and return the findings in a stable order.

``StudyData`` is the set of records a packaging step reads for one study through the scoped gateway
(study-scoped records plus the lab resources its results used); ``as_of`` fixes "now" for due-date
logic so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from limsai.checks.completeness import check_missing_pulls, check_missing_tests
from limsai.checks.findings import Finding, timepoint_labels
from limsai.checks.integrity import (
    check_expired_calibration,
    check_invalidated_without_justification,
    check_reagent_lot_changes,
)
from limsai.checks.oos import check_oos

if TYPE_CHECKING:
    from limsai.checks.stability import SeriesEvaluation
from limsai.model import (
    Calibration,
    Condition,
    Deviation,
    Instrument,
    LimsDataset,
    ReagentLot,
    Result,
    Sample,
    Specification,
    Study,
    Test,
    Timepoint,
)


@dataclass(frozen=True)
class StudyData:
    """One study's records, as the checks consume them."""

    study: Study
    as_of: datetime
    conditions: tuple[Condition, ...] = ()
    timepoints: tuple[Timepoint, ...] = ()
    samples: tuple[Sample, ...] = ()
    tests: tuple[Test, ...] = ()
    results: tuple[Result, ...] = ()
    specifications: tuple[Specification, ...] = ()
    instruments: tuple[Instrument, ...] = ()
    calibrations: tuple[Calibration, ...] = ()
    reagent_lots: tuple[ReagentLot, ...] = ()
    deviations: tuple[Deviation, ...] = ()

    @classmethod
    def from_dataset(cls, dataset: LimsDataset, study_id: str, as_of: datetime) -> StudyData:
        """The records of ``study_id`` in ``dataset``, with the instruments, calibrations and reagent
        lots its results used (what a scoped read returns)."""
        study = next((s for s in dataset.studies if s.study_id == study_id), None)
        if study is None:
            raise KeyError(f"study {study_id!r} is not in the dataset")
        results = tuple(r for r in dataset.results if r.study_id == study_id)
        instruments = {r.instrument_id for r in results if r.instrument_id is not None}
        lots = {r.reagent_lot_id for r in results if r.reagent_lot_id is not None}
        return cls(
            study=study,
            as_of=as_of,
            conditions=tuple(c for c in dataset.conditions if c.study_id == study_id),
            timepoints=tuple(t for t in dataset.timepoints if t.study_id == study_id),
            samples=tuple(s for s in dataset.samples if s.study_id == study_id),
            tests=tuple(t for t in dataset.tests if t.study_id == study_id),
            results=results,
            specifications=tuple(s for s in dataset.specifications if s.study_id == study_id),
            instruments=tuple(i for i in dataset.instruments if i.instrument_id in instruments),
            calibrations=tuple(c for c in dataset.calibrations if c.instrument_id in instruments),
            reagent_lots=tuple(lot for lot in dataset.reagent_lots if lot.lot_id in lots),
            deviations=tuple(d for d in dataset.deviations if d.study_id == study_id),
        )


def run_checks(data: StudyData, evaluations: Sequence[SeriesEvaluation] | None = None) -> list[Finding]:
    """Every check over ``data``: OOS, OOT (prediction-limit regression control chart of each
    stability series, see :mod:`limsai.checks.stability`; pass ``evaluations`` when they are already
    computed), missing pulls and samples, missing tests, unjustified invalidations, expired
    calibrations and reagent lot changes, in that order (each check's own order within)."""
    from limsai.checks.stability import evaluate_stability, oot_findings

    if evaluations is None:
        evaluations = evaluate_stability(data)
    study_id = data.study.study_id
    results = [r for r in data.results if r.study_id == study_id]
    samples = [s for s in data.samples if s.study_id == study_id]
    labels = timepoint_labels(samples, data.timepoints)
    return [
        *check_oos(results, data.specifications, labels),
        *oot_findings(evaluations),
        *check_missing_pulls(data.study, data.timepoints, samples, data.as_of, data.deviations),
        *check_missing_tests(data.study, data.timepoints, samples, data.tests, results, data.as_of, labels),
        *check_invalidated_without_justification(results, labels),
        *check_expired_calibration(results, data.calibrations, labels),
        *check_reagent_lot_changes(results, labels),
    ]
