"""Package tables follow the sponsor's profile: its columns and headings, USP rounding where it asks,
values exactly as the LIMS holds them everywhere else, and a stable row order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from limsai.checks.run_all import StudyData
from limsai.lims.scenario import REFERENCE_TIME, Scenario, generate
from limsai.packages.profiles import load_profile
from limsai.packages.tables import build_table
from limsai.stats.rounding import usp_round


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate()


def data(scenario: Scenario, study_id: str) -> StudyData:
    return StudyData.from_dataset(scenario.dataset, study_id, REFERENCE_TIME)


def test_results_table_keeps_values_exactly_as_reported(scenario: Scenario) -> None:
    study = data(scenario, "AUR-STB-014")
    profile = load_profile("SPN-AURORA")
    spec = next(t for t in profile.tables if t.table == "results_by_timepoint")
    headings, rows = build_table(spec, study, profile)
    assert headings == tuple(c.heading for c in spec.columns)
    value_col = [c.field for c in spec.columns].index("value")
    reported = sorted(
        r.value or "" for r in study.results if r.reportable and r.status.value != "invalidated"
    )
    assert sorted(row[value_col] for row in rows) == reported  # every value, character for character
    assert any(v.endswith("0") and "." in v for v in reported)  # trailing zeros exist and survive
    assert rows == build_table(spec, study, profile)[1]  # same data, same table


def test_stability_summary_rounds_means_half_up(scenario: Scenario) -> None:
    study = data(scenario, "BOR-STB-022")
    profile = load_profile("SPN-BOREAL")
    spec = next(t for t in profile.tables if t.table == "stability_summary")
    fields = [c.field for c in spec.columns]
    _, rows = build_table(spec, study, profile)
    assert rows
    decimals = spec.decimals("mean")
    assert decimals is not None
    for row in rows:
        mean = row[fields.index("mean")]
        assert mean == f"{usp_round(mean, decimals):f}" and Decimal(mean).as_tuple().exponent == -decimals


def test_pk_table_hides_blinded_arms_it_was_not_given(scenario: Scenario) -> None:
    study = data(scenario, "CAS-PK-004")
    blinded = StudyData(
        study=study.study,
        as_of=study.as_of,
        timepoints=study.timepoints,
        results=study.results,
        samples=tuple(
            s.model_copy(update={"treatment_arm": None, "randomisation_code": None}) for s in study.samples
        ),
    )
    profile = load_profile("SPN-CASCADE")
    spec = next(t for t in profile.tables if t.table == "pk_concentrations")
    fields = [c.field for c in spec.columns]
    _, rows = build_table(spec, blinded, profile)
    assert rows
    if "treatment_arm" in fields:
        assert {row[fields.index("treatment_arm")] for row in rows} == {""}
    conc = fields.index("concentration")
    decimals = spec.decimals("concentration")
    for row in rows:
        if row[conc] not in ("BLQ", ""):
            assert decimals is None or Decimal(row[conc]).as_tuple().exponent == -decimals
