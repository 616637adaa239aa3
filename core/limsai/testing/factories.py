"""Small, hand-checkable datasets for tests of any LIMS adapter.

``tiny_dataset`` builds, per sponsor, one stability study with one condition, two timepoints, a
sample per timepoint, an assay test and result per sample, a specification, an instrument with a
calibration and a reagent lot: enough to exercise every port method with values a reader can
verify by eye. ``bulk_results`` adds N results to one study for paging tests; ``write_long_csv``
writes a valid long CSV of any size for import tests and benchmarks.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from limsai.lims.csv_import import REQUIRED_COLUMNS
from limsai.model import (
    Calibration,
    Condition,
    ConditionKind,
    Deviation,
    Instrument,
    LimsDataset,
    Milestone,
    MilestoneStatus,
    Principal,
    ReagentLot,
    Result,
    ResultStatus,
    Role,
    Sample,
    SampleKind,
    Specification,
    Sponsor,
    Study,
    StudyType,
    Test,
    TestStatus,
    Timepoint,
    TimeUnit,
)

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def tiny_dataset(sponsor_ids: tuple[str, ...] = ("SPN-A", "SPN-B")) -> LimsDataset:
    ds = LimsDataset()
    ds.instruments.append(Instrument(instrument_id="HPLC-01", name="HPLC 01", instrument_type="HPLC"))
    ds.calibrations.append(
        Calibration(
            calibration_id="CAL-HPLC-01-2026",
            instrument_id="HPLC-01",
            valid_from=T0 - timedelta(days=30),
            valid_to=T0 + timedelta(days=335),
        )
    )
    ds.reagent_lots.append(ReagentLot(lot_id="LOT-RS-001", reagent="Reference standard", lot_number="RS-001"))
    ds.users.append(
        Principal(user_id="admin", display_name="Lee Admin", roles=(Role.LIMS_ADMIN,), sponsors=("*",))
    )
    for sponsor_id in sponsor_ids:
        tag = sponsor_id.split("-")[-1].lower()
        study_id = f"STB-{tag.upper()}-1"
        director = f"sd.{tag}"
        ds.sponsors.append(
            Sponsor(sponsor_id=sponsor_id, name=f"Sponsor {tag.upper()}", canary=f"CANARY-{tag}")
        )
        ds.users.append(
            Principal(
                user_id=director,
                display_name=f"Dr {tag.upper()} Director",
                roles=(Role.STUDY_DIRECTOR,),
                sponsors=(sponsor_id,),
            )
        )
        ds.studies.append(
            Study(
                study_id=study_id,
                sponsor_id=sponsor_id,
                protocol_number=f"{tag.upper()}-STB-001",
                study_type=StudyType.STABILITY,
                description=f"canary CANARY-{tag}",
                batches=("B1",),
                study_director=director,
                milestones=(
                    Milestone(name="T3 pull complete", status=MilestoneStatus.COMPLETE, completed_at=T0),
                ),
            )
        )
        cond = f"{study_id}-C25"
        ds.conditions.append(
            Condition(
                condition_id=cond,
                study_id=study_id,
                sponsor_id=sponsor_id,
                label="25°C/60%RH",
                kind=ConditionKind.LONG_TERM,
                temperature_c="25",
                humidity_rh="60",
            )
        )
        ds.specifications.append(
            Specification(
                spec_id=f"{study_id}-SPEC-ASSAY",
                study_id=study_id,
                sponsor_id=sponsor_id,
                test="Assay",
                component="Assay",
                min="95.0",
                max="105.0",
                units="%",
            )
        )
        ds.deviations.append(
            Deviation(
                deviation_id=f"DEV-{tag}",
                study_id=study_id,
                sponsor_id=sponsor_id,
                title="Late pull",
                opened_at=T0,
            )
        )
        for months, value in (("0", "100.2"), ("3", "99.50")):
            tp = f"{study_id}-T{months}"
            sample = f"{study_id}-S-T{months}"
            ds.timepoints.append(
                Timepoint(
                    timepoint_id=tp,
                    study_id=study_id,
                    sponsor_id=sponsor_id,
                    condition_id=cond,
                    label=f"T{months}",
                    nominal=months,
                    unit=TimeUnit.MONTH,
                    planned_tests=("Assay",),
                )
            )
            ds.samples.append(
                Sample(
                    sample_id=sample,
                    study_id=study_id,
                    sponsor_id=sponsor_id,
                    kind=SampleKind.STABILITY_PULL,
                    batch="B1",
                    condition_id=cond,
                    timepoint_id=tp,
                    comment=f"CANARY-{tag}",
                )
            )
            ds.tests.append(
                Test(
                    test_id=f"{sample}-ASSAY",
                    sample_id=sample,
                    study_id=study_id,
                    sponsor_id=sponsor_id,
                    name="Assay",
                    method="HPLC-ASSAY-01",
                    status=TestStatus.COMPLETE,
                )
            )
            ds.results.append(
                Result(
                    result_id=f"{sample}-ASSAY-1",
                    test_id=f"{sample}-ASSAY",
                    sample_id=sample,
                    study_id=study_id,
                    sponsor_id=sponsor_id,
                    test="Assay",
                    component="Assay",
                    value=value,
                    units="%",
                    status=ResultStatus.APPROVED,
                    analysed_at=T0,
                    instrument_id="HPLC-01",
                    reagent_lot_id="LOT-RS-001",
                )
            )
    return ds


def bulk_results(ds: LimsDataset, study: Study, n: int) -> LimsDataset:
    """Add ``n`` results (one sample and test per 10 results) to ``study`` in ``ds``."""
    sid, spn = study.study_id, study.sponsor_id
    for i in range(n):
        if i % 10 == 0:
            sample = f"{sid}-BULK-{i // 10:06d}"
            ds.samples.append(Sample(sample_id=sample, study_id=sid, sponsor_id=spn, kind=SampleKind.PK))
            ds.tests.append(
                Test(
                    test_id=f"{sample}-T",
                    sample_id=sample,
                    study_id=sid,
                    sponsor_id=spn,
                    name="Concentration",
                )
            )
        ds.results.append(
            Result(
                result_id=f"{sample}-R{i % 10}",
                test_id=f"{sample}-T",
                sample_id=sample,
                study_id=sid,
                sponsor_id=spn,
                test="Concentration",
                component="Analyte",
                value=f"{i % 997}.{i % 10}",
                units="ng/mL",
                replicate=1 + i % 10,
            )
        )
    return ds


def write_long_csv(path: Path, rows: int) -> None:
    """Write a valid long CSV of ``rows`` results (10 stability studies of 10,000 rows) for size tests."""
    components = [("Assay", "Assay", "95.0", "105.0"), ("Related substances", "Total", "", "1.0")]
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow((*REQUIRED_COLUMNS, "study_director", "milestone"))
        for n in range(rows):
            study, sample = n // 10_000, n // 2
            test, component, low, high = components[n % 2]
            condition = ("25°C/60%RH", "40°C/75%RH")[sample % 2]
            cells: tuple[str, ...] = (
                f"SP{study % 2}",
                f"STUDY-{study}",
                "stability",
                f"P-{study}",
                f"B{sample % 3}",
            )
            cells += (
                condition,
                str(sample % 5 * 3),
                f"S-{sample}",
                test,
                component,
                f"{99 + n % 97 / 100:.2f}",
            )
            out.writerow((*cells, "%", low, high, "Approved", f"dir{study % 3}", "T3 pull complete"))
