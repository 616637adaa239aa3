"""The long-CSV import: what a good file creates, and how each kind of bad file is refused whole."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limsai.lims.csv_import import (
    MAX_PROBLEMS,
    REQUIRED_COLUMNS,
    CsvImportError,
    CsvProblem,
    ExistingLims,
    import_csv,
    read_csv_dataset,
)
from limsai.lims.port import Scope
from limsai.model import (
    ConditionKind,
    LimsDataset,
    Milestone,
    MilestoneStatus,
    ResultStatus,
    Role,
    SampleKind,
    StudyPhase,
    StudyType,
    TimeUnit,
)
from limsai.model import TestStatus as AnalysisStatus  # not collected as a test class
from limsai.testing.factories import write_long_csv

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
HEADER = ",".join(REQUIRED_COLUMNS)
ERROR_FILES = sorted(p.name for p in DATA.glob("*.csv") if p.name not in {"happy.csv", "additions.csv"})


def read(name: str | Path, existing: ExistingLims | None = None) -> LimsDataset:
    return read_csv_dataset(DATA / name, existing=existing, now=NOW)


def refused(name: str | Path, existing: ExistingLims | None = None) -> CsvImportError:
    with pytest.raises(CsvImportError) as info:
        read(name, existing)
    return info.value


def only(error: CsvImportError) -> CsvProblem:
    assert len(error.problems) == 1, error.problems
    return error.problems[0]


def by_id(records: list[Any], key: str) -> dict[str, Any]:
    return {getattr(record, key): record for record in records}


def write(folder: Path, *lines: str, name: str = "file.csv") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(**changes: str) -> str:
    cells = dict(
        sponsor_id="ACME",
        study_id="ACME-STAB-001",
        study_type="stability",
        protocol_number="P-1001",
        batch="B001",
        condition="25°C/60%RH",
        timepoint_months="6",
        sample_id="S-0004",
        test="Assay",
        component="Assay",
        value="98.10",
        units="%",
        spec_min="95.0",
        spec_max="105.0",
        status="Entered",
    )
    cells.update(changes)
    return ",".join(cells[column] for column in REQUIRED_COLUMNS)


@pytest.fixture(scope="module")
def happy() -> LimsDataset:
    return read("happy.csv")


# -- a good file --------------------------------------------------------------------------------------


def test_happy_file_creates_exact_counts(happy: LimsDataset) -> None:
    counts = {kind: n for kind, n in happy.counts().items() if n}
    assert counts == {
        "sponsors": 2,
        "users": 2,
        "studies": 3,
        "conditions": 5,
        "timepoints": 5,
        "samples": 8,
        "tests": 12,
        "results": 16,
        "specifications": 4,
    }
    assert happy.problems() == []


def test_values_and_limits_are_kept_as_written(happy: LimsDataset) -> None:
    results = by_id(happy.results, "result_id")
    assert results["S-0001:Assay:Assay"].value == "99.50"
    assert results["S-0003:Assay:Assay"].value == "97.20"
    assert results["S-0002:Related_substances:Impurity_A_RRT_0.85"].value == "<0.05"
    assert results["PK-0002:Drug_X_in_plasma:Drug_X"].value == "BLQ"
    assert results["S-B-0001:Appearance:Appearance"].value == "Complies"
    assert results["S-0001:Assay:Assay"].units == "%"
    specs = by_id(happy.specifications, "spec_id")
    assay = specs["ACME-STAB-001:SPEC:Assay:Assay"]
    assert (assay.min, assay.max, assay.units, assay.decimals) == ("95.0", "105.0", "%", 1)
    total = specs["ACME-STAB-001:SPEC:Related_substances:Total_impurities"]
    assert (total.min, total.max) == (None, "1.0")
    impurity = specs["ACME-STAB-001:SPEC:Related_substances:Impurity_A_RRT_0.85"]
    assert (impurity.component, impurity.max) == ("Impurity A, RRT 0.85", "0.50")
    assert set(specs) == {
        "ACME-STAB-001:SPEC:Assay:Assay",
        "ACME-STAB-001:SPEC:Related_substances:Impurity_A_RRT_0.85",
        "ACME-STAB-001:SPEC:Related_substances:Total_impurities",
        "BETA-STAB-002:SPEC:Water_content:Water",
    }


def test_status_spellings_map_and_invalid_results_are_not_reportable(happy: LimsDataset) -> None:
    results = by_id(happy.results, "result_id")
    seen = {rid: (r.status, r.reportable) for rid, r in results.items()}
    assert seen["S-0001:Assay:Assay"] == (ResultStatus.APPROVED, True)  # "Approved"
    assert seen["S-0002:Related_substances:Impurity_A_RRT_0.85"] == (
        ResultStatus.REVIEWED,
        True,
    )  # "reviewed"
    assert seen["S-0002:Related_substances:Total_impurities"] == (ResultStatus.ENTERED, True)  # "Entered"
    assert seen["S-0003:Assay:Assay"] == (ResultStatus.APPROVED, True)  # "APPROVED"
    assert seen["S-0003:Related_substances:Impurity_A_RRT_0.85"] == (ResultStatus.INVALIDATED, False)
    assert seen["PK-0003:Drug_X_in_plasma:Drug_X"] == (ResultStatus.CANCELLED, False)


def test_conditions_and_timepoints_are_derived(happy: LimsDataset) -> None:
    conditions = {
        c.condition_id: (c.label, c.kind, c.temperature_c, c.humidity_rh, c.sponsor_id)
        for c in happy.conditions
    }
    assert conditions == {
        "ACME-STAB-001:COND:25C-60RH": ("25°C/60%RH", ConditionKind.LONG_TERM, "25", "60", "ACME"),
        "ACME-STAB-001:COND:40C-75RH": ("40°C/75%RH", ConditionKind.ACCELERATED, "40", "75", "ACME"),
        "BETA-PK-001:COND:-20C": ("-20°C", ConditionKind.FROZEN, "-20", None, "BETA"),
        "BETA-STAB-002:COND:5C": ("5°C", ConditionKind.REFRIGERATED, "5", None, "BETA"),
        "BETA-STAB-002:COND:30C-65RH": ("30°C/65%RH", ConditionKind.INTERMEDIATE, "30", "65", "BETA"),
    }
    timepoints = {t.timepoint_id: (t.label, t.nominal, t.unit, t.condition_id) for t in happy.timepoints}
    assert timepoints == {
        "ACME-STAB-001:TP:25C-60RH:T0": ("T0", "0", TimeUnit.MONTH, "ACME-STAB-001:COND:25C-60RH"),
        "ACME-STAB-001:TP:25C-60RH:T3": ("T3", "3", TimeUnit.MONTH, "ACME-STAB-001:COND:25C-60RH"),
        "ACME-STAB-001:TP:40C-75RH:T3": ("T3", "3", TimeUnit.MONTH, "ACME-STAB-001:COND:40C-75RH"),
        "BETA-STAB-002:TP:5C:T6": ("T6", "6", TimeUnit.MONTH, "BETA-STAB-002:COND:5C"),
        "BETA-STAB-002:TP:30C-65RH:T6": ("T6", "6", TimeUnit.MONTH, "BETA-STAB-002:COND:30C-65RH"),
    }
    samples = by_id(happy.samples, "sample_id")
    # "25C/60%RH" on the S-0002 rows is the same condition as "25°C/60%RH"
    s2 = samples["S-0002"]
    assert (s2.condition_id, s2.timepoint_id) == (
        "ACME-STAB-001:COND:25C-60RH",
        "ACME-STAB-001:TP:25C-60RH:T3",
    )
    assert (s2.kind, s2.batch, s2.study_id) == (SampleKind.STABILITY_PULL, "B001", "ACME-STAB-001")
    pk = samples["PK-0001"]
    assert (pk.kind, pk.batch, pk.condition_id, pk.timepoint_id) == (
        SampleKind.PK,
        None,
        "BETA-PK-001:COND:-20C",
        None,
    )


def test_studies_sponsors_and_directors(happy: LimsDataset) -> None:
    studies = by_id(happy.studies, "study_id")
    stab = studies["ACME-STAB-001"]
    assert (stab.sponsor_id, stab.protocol_number, stab.study_type) == ("ACME", "P-1001", StudyType.STABILITY)
    assert (stab.phase, stab.batches, stab.study_director) == (StudyPhase.NOT_APPLICABLE, ("B001",), "jdoe")
    assert stab.milestones == (
        Milestone(name="T3 pull complete", status=MilestoneStatus.COMPLETE, completed_at=NOW),
    )
    pk = studies["BETA-PK-001"]  # written "bioanalytical_pk", "pk" and "PK" on its rows
    assert (pk.study_type, pk.study_director, pk.milestones, pk.batches) == (
        StudyType.BIOANALYTICAL_PK,
        None,
        (),
        (),
    )
    other = studies["BETA-STAB-002"]
    assert (other.study_director, other.milestones, other.batches) == ("asmith", (), ("LOT-9",))
    assert [(s.sponsor_id, s.name) for s in happy.sponsors] == [("ACME", "ACME"), ("BETA", "BETA")]
    users = {u.user_id: (u.roles, u.sponsors, u.display_name) for u in happy.users}
    assert users == {
        "jdoe": ((Role.STUDY_DIRECTOR,), ("ACME",), "jdoe"),
        "asmith": ((Role.STUDY_DIRECTOR,), ("BETA",), "asmith"),
    }


def test_tests_and_their_status(happy: LimsDataset) -> None:
    tests = {t.test_id: (t.name, t.sample_id, t.status) for t in happy.tests}
    assert tests["S-0001:Assay"] == ("Assay", "S-0001", AnalysisStatus.COMPLETE)
    assert tests["S-0002:Related_substances"] == ("Related substances", "S-0002", AnalysisStatus.IN_PROGRESS)
    assert tests["S-0003:Related_substances"][2] is AnalysisStatus.COMPLETE  # one invalidated, one approved
    assert tests["PK-0001:Drug_X_in_plasma"][2] is AnalysisStatus.IN_PROGRESS  # approved + entered
    assert tests["PK-0003:Drug_X_in_plasma"][2] is AnalysisStatus.CANCELLED
    result = by_id(happy.results, "result_id")["PK-0001:Drug_X_in_plasma:Metabolite_M1"]
    assert (result.test_id, result.sample_id, result.study_id, result.sponsor_id) == (
        "PK-0001:Drug_X_in_plasma",
        "PK-0001",
        "BETA-PK-001",
        "BETA",
    )


def test_reading_is_deterministic() -> None:
    assert read("happy.csv").model_dump_json() == read("happy.csv").model_dump_json()


def test_default_time_is_now_in_utc() -> None:
    before = datetime.now(UTC)
    stab = by_id(read_csv_dataset(DATA / "happy.csv").studies, "study_id")["ACME-STAB-001"]
    completed = stab.milestones[0].completed_at
    assert completed is not None and before <= completed <= datetime.now(UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        read_csv_dataset(DATA / "happy.csv", now=datetime(2025, 1, 1))


def test_bom_crlf_header_case_and_quoted_newline(tmp_path: Path) -> None:
    header = " Sponsor_ID ," + HEADER.split(",", 1)[1].upper() + ",Study_Director"
    text = "\r\n".join(
        [
            header,
            row(component='"Assay,\r\nmain peak"') + ",jdoe",
            "",
            row(sample_id="S-0005", status="Done") + ",jdoe",
        ]
    )
    path = tmp_path / "exported.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    problem = only(refused(path))
    # the quoted field spans lines 2-3 and line 4 is blank, so the bad row is line 5
    assert (problem.line, problem.column) == (5, "status")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("Done", "Approved").encode("utf-8"))
    dataset = read(path)
    assert [r.component for r in dataset.results] == ["Assay,\r\nmain peak", "Assay"]
    assert dataset.studies[0].study_director == "jdoe"


@settings(max_examples=40, deadline=None)
@given(
    value=st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False).map(str),
    low=st.decimals(min_value=0, max_value=50, places=2, allow_nan=False).map(str),
    high=st.sampled_from(["105.0", "105", "105.00", "+105.000"]),
)
def test_values_and_limits_round_trip_exactly(value: str, low: str, high: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), HEADER, row(value=value, spec_min=low, spec_max=high))
        dataset = read(path)
    assert dataset.results[0].value == value
    assert (dataset.specifications[0].min, dataset.specifications[0].max) == (low, high)


# -- bad files: every problem named by line and column, nothing returned --------------------------------


def test_unknown_column() -> None:
    assert only(refused("unknown_column.csv")) == CsvProblem(1, "comments", "unknown column")


def test_missing_required_columns() -> None:
    error = refused("missing_column.csv")
    assert error.problems == [
        CsvProblem(1, "spec_max", "required column is missing"),
        CsvProblem(1, "status", "required column is missing"),
    ]


def test_empty_file() -> None:
    assert only(refused("empty.csv")) == CsvProblem(1, None, "the file is empty")


def test_header_without_rows() -> None:
    assert only(refused("header_only.csv")) == CsvProblem(1, None, "no data rows after the header")


def test_bad_numbers_are_all_reported() -> None:
    error = refused("bad_numbers.csv")
    assert [(p.line, p.column) for p in error.problems] == [
        (2, "timepoint_months"),
        (3, "spec_min"),
        (4, "spec_max"),
        (5, "value"),
    ]
    assert error.problems[0].message == "'three' is not a decimal number"
    assert error.problems[1].message == "'95,0' is not a decimal number"
    assert "'99.5%' is not a number" in error.problems[3].message
    assert "line 3, column spec_min: '95,0' is not a decimal number" in str(error)


def test_duplicate_key_names_both_lines() -> None:
    problem = only(refused("duplicate_key.csv"))
    assert (problem.line, problem.column) == (4, "sample_id, test, component")
    assert problem.message == (
        "duplicate result: study ST-1, sample S-1, test 'Assay', component 'Assay' is also on line 2"
    )


def test_unknown_study_type() -> None:
    problem = only(refused("unknown_study_type.csv"))
    assert (problem.line, problem.column) == (2, "study_type")
    assert problem.message.startswith(
        "unknown study_type 'stabilty'; expected one of stability, bioanalytical_pk"
    )


def test_unknown_status() -> None:
    problem = only(refused("unknown_status.csv"))
    assert (problem.line, problem.column) == (3, "status")
    assert problem.message.startswith("unknown status 'Done'; expected one of entered, reviewed, approved")


def test_conflicting_study_attributes_name_the_line() -> None:
    problem = only(refused("conflicting_study.csv"))
    assert problem == CsvProblem(
        3, "protocol_number", "study ST-1 has protocol_number 'P-2' here but 'P-1' on line 2"
    )


def test_disagreeing_specification_names_both_lines() -> None:
    problem = only(refused("spec_conflict.csv"))
    assert problem == CsvProblem(
        3,
        "spec_max",
        "specification of 'Assay' / 'Assay' in study ST-1 is [95.0, 110.0] here but [95.0, 105.0] on line 2",
    )


def test_spec_min_above_max() -> None:
    assert only(refused("spec_min_above_max.csv")) == CsvProblem(
        2, "spec_min", "spec_min 105.0 is above spec_max 95.0"
    )


def test_non_utf8_bytes_name_line_and_column() -> None:
    problem = only(refused("non_utf8.csv"))
    assert problem == CsvProblem(3, "condition", "byte 0xb0 is not UTF-8 (save the file as UTF-8)")


def test_ragged_rows() -> None:
    error = refused("ragged.csv")
    assert error.problems == [
        CsvProblem(3, "field 16", "16 fields but the header has 15"),
        CsvProblem(4, "spec_max", "13 fields but the header has 15"),
    ]


def test_sample_with_conflicting_batch() -> None:
    assert only(refused("sample_conflict.csv")) == CsvProblem(
        3, "batch", "sample S-1 has batch 'B2' here but 'B1' on line 2"
    )


def test_stability_rows_need_condition_and_timepoint() -> None:
    error = refused("stability_without_condition.csv")
    assert [(p.line, p.column, p.message) for p in error.problems] == [
        (2, "condition", "must not be empty for a stability study"),
        (2, "timepoint_months", "must not be empty for a stability study"),
    ]


def test_unreadable_condition() -> None:
    assert only(refused("bad_condition.csv")) == CsvProblem(
        2, "condition", "'ambient' is not a condition like 25°C/60%RH or 5°C"
    )


def test_names_mapping_to_one_id() -> None:
    problem = only(refused("id_collision.csv"))
    assert (problem.line, problem.column) == (3, "sample_id, test, component")
    assert "on line 2 both map to id 'S-1:Related_substances:Impurity_B'" in problem.message


def test_other_study_needs_sample_kind() -> None:
    assert only(refused("other_without_sample_kind.csv")) == CsvProblem(
        2, "sample_kind", "must be given for studies of type other"
    )


def test_semicolon_separated_file() -> None:
    assert only(refused("semicolon.csv")) == CsvProblem(
        1, None, "the file must be comma-separated, not separated by ';'"
    )


def test_broken_quoting() -> None:
    problem = only(refused("bad_quoting.csv"))
    assert problem.line == 3 and problem.message.startswith("not readable as CSV from here on")


def test_problems_are_bounded_but_counted() -> None:
    error = refused("too_many_problems.csv")
    assert (error.total, len(error.problems)) == (30, MAX_PROBLEMS)
    assert [p.line for p in error.problems] == list(range(2, 2 + MAX_PROBLEMS))
    assert str(error).endswith("... and 10 more")
    assert str(error).startswith("too_many_problems.csv: 30 problem(s), nothing imported:")


def test_bad_identifier_and_empty_required_cell(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, row(sample_id="S 0004"), row(test=""))
    error = refused(path)
    assert [(p.line, p.column) for p in error.problems] == [(2, "sample_id"), (3, "test")]
    assert error.problems[1].message == "must not be empty"


def test_duplicate_column(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",units", row() + ",%")
    assert only(refused(path)) == CsvProblem(1, "units", "column appears more than once")


# -- on top of what a LIMS already holds ---------------------------------------------------------------


def test_reimport_is_refused_naming_every_line(happy: LimsDataset) -> None:
    error = refused("happy.csv", ExistingLims.from_dataset(happy))
    assert error.total == 16
    assert [p.line for p in error.problems] == list(range(2, 18))
    assert error.problems[0].message == (
        "duplicate result: study ACME-STAB-001, sample S-0001, test 'Assay', component 'Assay' "
        "is already in the LIMS as S-0001:Assay:Assay"
    )


def test_rows_add_to_an_existing_study(happy: LimsDataset) -> None:
    added = read("additions.csv", ExistingLims.from_dataset(happy))
    assert {kind: n for kind, n in added.counts().items() if n} == {
        "timepoints": 1,
        "samples": 1,
        "tests": 3,
        "results": 3,
    }
    assert [t.timepoint_id for t in added.timepoints] == ["ACME-STAB-001:TP:25C-60RH:T6"]
    assert added.timepoints[0].condition_id == "ACME-STAB-001:COND:25C-60RH"  # the stored condition
    assert [t.test_id for t in added.tests] == [
        "S-0004:Assay",
        "S-0004:Related_substances",
        "S-0002:Water_content",
    ]
    assert [r.value for r in added.results] == ["98.10", "0.20", "0.8"]


def test_study_of_another_sponsor_is_refused_once() -> None:
    existing = ExistingLims(sponsors=frozenset({"OTHER"}), study_sponsors={"ACME-STAB-001": "OTHER"})
    problem = only(refused("happy.csv", existing))
    assert problem == CsvProblem(
        2, "sponsor_id", "study ACME-STAB-001 exists in the LIMS under sponsor 'OTHER'"
    )


def test_existing_study_with_other_protocol(happy: LimsDataset) -> None:
    studies = [s.model_copy(update={"protocol_number": "P-OLD"}) for s in happy.studies]
    existing = ExistingLims.from_dataset(happy.model_copy(update={"studies": studies}))
    error = refused("additions.csv", existing)
    assert error.problems[0] == CsvProblem(
        2, "protocol_number", "study ACME-STAB-001 is in the LIMS with protocol_number 'P-OLD', not 'P-1001'"
    )


def test_existing_study_cannot_gain_a_milestone(happy: LimsDataset, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",milestone", row() + ",T6 pull complete")
    problem = only(refused(path, ExistingLims.from_dataset(happy)))
    assert (problem.line, problem.column) == (2, "milestone")
    assert "cannot add milestone 'T6 pull complete'" in problem.message


def test_existing_sample_and_spec_must_agree(happy: LimsDataset, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER,
        row(sample_id="S-0002", condition="25°C/60%RH", timepoint_months="3", batch="B002", test="pH"),
        row(sample_id="S-0005", spec_min="90.0", spec_max="110.0"),
    )
    error = refused(path, ExistingLims.from_dataset(happy))
    assert error.problems == [
        CsvProblem(2, "batch", "sample S-0002 has batch 'B002' here but 'B001' in the LIMS"),
        CsvProblem(
            3,
            "spec_min",
            "specification of 'Assay' / 'Assay' in study ACME-STAB-001 is [90.0, 110.0] here "
            "but [95.0, 105.0] in the LIMS",
        ),
    ]


def test_sample_id_taken_by_another_study(happy: LimsDataset, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, row(study_id="ACME-STAB-009", sample_id="S-0001"))
    problem = only(refused(path, ExistingLims.from_dataset(happy)))
    assert problem == CsvProblem(2, None, "sample 'S-0001' already exists in the LIMS")


def test_known_sponsor_and_director_are_not_created_again(happy: LimsDataset, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",study_director", row(study_id="ACME-STAB-009") + ",jdoe")
    dataset = read(path, ExistingLims.from_dataset(happy))
    assert (dataset.sponsors, dataset.users) == ([], [])
    assert dataset.studies[0].study_director == "jdoe"


# -- into the embedded LIMS ------------------------------------------------------------------------------


@pytest.fixture
def empty_lims(tmp_path: Path) -> Iterator[Any]:
    embedded = pytest.importorskip("limsai.lims.embedded")
    store = embedded.EmbeddedLims(tmp_path / "lims.db", page_size=1000)
    yield store
    store.close()


def held(lims: Any) -> dict[str, int]:
    scopes = [Scope(sponsor_id=s) for s in sorted(lims.sponsor_ids())]
    return {
        "sponsors": len(scopes),
        "studies": sum(len(lims.list_studies(s)) for s in scopes),
        "results": sum(len(lims.list_results(s)) for s in scopes),
    }


def test_import_csv_loads_the_file(empty_lims: Any) -> None:
    summary = import_csv(empty_lims, DATA / "happy.csv", now=NOW)
    assert summary.rows == 16
    assert summary.created == {
        "sponsors": 2,
        "users": 2,
        "studies": 3,
        "conditions": 5,
        "timepoints": 5,
        "samples": 8,
        "tests": 12,
        "results": 16,
        "specifications": 4,
    }
    assert summary.sponsors == ("ACME", "BETA")
    assert summary.studies == summary.new_studies == ("ACME-STAB-001", "BETA-PK-001", "BETA-STAB-002")
    scope = Scope(sponsor_id="ACME", study_id="ACME-STAB-001")
    results = by_id(empty_lims.list_results(scope), "result_id")
    assert len(results) == 9 and results["S-0001:Assay:Assay"].value == "99.50"
    specs = by_id(empty_lims.list_specifications(scope), "spec_id")
    assert specs["ACME-STAB-001:SPEC:Assay:Assay"].min == "95.0"
    assert held(empty_lims) == {"sponsors": 2, "studies": 3, "results": 16}


def test_import_csv_twice_is_refused_and_writes_nothing(empty_lims: Any) -> None:
    import_csv(empty_lims, DATA / "happy.csv", now=NOW)
    before = held(empty_lims)
    with pytest.raises(CsvImportError) as info:
        import_csv(empty_lims, DATA / "happy.csv", now=NOW)
    assert [p.line for p in info.value.problems] == list(range(2, 18))
    assert all(p.message.startswith("duplicate result") for p in info.value.problems)
    assert held(empty_lims) == before


@pytest.mark.parametrize("name", ERROR_FILES)
def test_import_csv_of_a_bad_file_writes_nothing(empty_lims: Any, name: str) -> None:
    with pytest.raises(CsvImportError) as info:
        import_csv(empty_lims, DATA / name, now=NOW)
    assert info.value.problems and all(p.line is not None for p in info.value.problems)
    assert held(empty_lims) == {"sponsors": 0, "studies": 0, "results": 0}
    assert empty_lims.study_sponsors() == {} and empty_lims.user_ids() == set()


def test_import_csv_adds_rows_to_an_existing_study(empty_lims: Any) -> None:
    import_csv(empty_lims, DATA / "happy.csv", now=NOW)
    summary = import_csv(empty_lims, DATA / "additions.csv", now=NOW)
    assert (summary.rows, summary.new_studies, summary.studies) == (3, (), ("ACME-STAB-001",))
    scope = Scope(sponsor_id="ACME", study_id="ACME-STAB-001")
    assert len(empty_lims.list_results(scope)) == 12


# -- size ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_hundred_thousand_rows_are_read(tmp_path: Path) -> None:
    """Size, not speed: the timing lives in benchmarks/bench_csv_import.py."""
    path = tmp_path / "large.csv"
    write_long_csv(path, 100_000)
    dataset = read_csv_dataset(path, now=NOW)
    assert (len(dataset.results), len(dataset.samples), len(dataset.studies)) == (100_000, 50_000, 10)
    assert dataset.results[-1].value == f"{99 + 99_999 % 97 / 100:.2f}"
