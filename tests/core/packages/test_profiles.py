"""Sponsor profiles: the shipped profiles, override precedence, the default profile, located errors,
package names and the profile hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from limsai.model import Role, SignatureMeaning, StudyType
from limsai.packages.profiles import (
    AS_REPORTED,
    TABLE_FIELDS,
    OutputFormat,
    ProfileError,
    SponsorProfile,
    TableKind,
    default_profile,
    load_profile,
    parse_profile,
    profile_sha256,
    render_package_name,
    slug,
)


def _minimal(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "sponsor_id": "SPN-TEST",
        "version": "1",
        "package_name": "{sponsor_code}_{milestone_slug}_v{package_version}",
        "tables": [
            {
                "table": "results_by_timepoint",
                "title": "Results",
                "columns": [
                    {"field": "timepoint", "heading": "Time"},
                    {"field": "value", "heading": "Result"},
                ],
                "rounding": {"value": 2},
            },
            {
                "table": "pk_concentrations",
                "title": "Concentrations",
                "columns": [{"field": "subject_id", "heading": "Subject"}],
            },
        ],
        "output_formats": ["pdf"],
        "qc_statement": "Checked for {study_id}.",
        "reviewer_roles": ["study_director"],
    }
    raw.update(changes)
    return raw


def _write(path: Path, raw: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _problems(data: bytes | dict[str, Any]) -> list[str]:
    text = data if isinstance(data, bytes) else yaml.safe_dump(data).encode()
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "spn-test.yaml", "SPN-TEST")
    assert caught.value.source == "spn-test.yaml"
    assert str(caught.value).startswith("spn-test.yaml: ")
    return caught.value.problems


def test_shipped_profiles_load_and_differ() -> None:
    aurora, boreal, cascade = (load_profile(s) for s in ("SPN-AURORA", "SPN-BOREAL", "SPN-CASCADE"))
    assert aurora.output_formats == (OutputFormat.DOCX, OutputFormat.PDF, OutputFormat.XLSX)
    assert boreal.output_formats == (OutputFormat.XLSX, OutputFormat.CSV)
    assert cascade.output_formats == (OutputFormat.PDF, OutputFormat.DOCX)

    assert [t.table for t in aurora.tables_for(StudyType.STABILITY)] == [
        TableKind.RESULTS_BY_TIMEPOINT,
        TableKind.DEVIATIONS,
    ]
    assert next(t.table for t in boreal.tables_for(StudyType.STABILITY)) is TableKind.STABILITY_SUMMARY
    assert cascade.tables[0].table is TableKind.SAMPLE_INVENTORY
    assert [t.table for t in cascade.tables_for(StudyType.BIOANALYTICAL_PK)][:2] == [
        TableKind.SAMPLE_INVENTORY,
        TableKind.PK_CONCENTRATIONS,
    ]

    assert aurora.tables[0].decimals("value") is None
    assert aurora.tables[0].columns[0].heading == "Storage Condition"
    summary = boreal.tables[0]
    assert (summary.decimals("mean"), summary.decimals("min")) == (1, None)
    cascade_pk = cascade.tables[1]
    assert (cascade_pk.decimals("concentration"), cascade_pk.decimals("subject_id")) == (3, None)

    assert (aurora.display_units("%"), boreal.display_units("%")) == ("%", "% LC")
    assert boreal.display_units("ng/mL") == "ng/mL"
    assert aurora.reviewer_roles == (Role.STUDY_DIRECTOR,)
    assert cascade.reviewer_roles == (Role.STUDY_DIRECTOR, Role.QA_REVIEWER)
    assert cascade.signature_meanings[Role.QA_REVIEWER] is SignatureMeaning.REVIEW
    assert aurora.qc_statement != boreal.qc_statement != cascade.qc_statement
    assert len({aurora.package_name, boreal.package_name, cascade.package_name}) == 3
    assert len({profile_sha256(p) for p in (aurora, boreal, cascade)}) == 3


def test_workdir_profile_overrides_the_shipped_one(tmp_path: Path) -> None:
    raw = _minimal(sponsor_id="SPN-AURORA", output_formats=["csv"])
    _write(tmp_path / "profiles" / "SPN-AURORA.yaml", raw)
    assert load_profile("SPN-AURORA", workdir=tmp_path).output_formats == (OutputFormat.CSV,)
    assert load_profile("SPN-AURORA").output_formats == (
        OutputFormat.DOCX,
        OutputFormat.PDF,
        OutputFormat.XLSX,
    )
    assert load_profile("SPN-BOREAL", workdir=tmp_path) == load_profile("SPN-BOREAL")


def test_study_override_merges_top_level_keys_over_the_sponsor_profile(tmp_path: Path) -> None:
    tables = [{"table": "deviations", "title": "Deviations", "columns": [{"field": "title", "heading": "T"}]}]
    _write(
        tmp_path / "profiles" / "SPN-BOREAL" / "BOR-STB-022.yaml",
        {"output_formats": ["pdf"], "tables": tables},
    )
    study = load_profile("SPN-BOREAL", workdir=tmp_path, study_id="BOR-STB-022")
    sponsor = load_profile("SPN-BOREAL", workdir=tmp_path)
    assert study.output_formats == (OutputFormat.PDF,)
    assert [t.table for t in study.tables] == [TableKind.DEVIATIONS]
    assert study.units_display == sponsor.units_display == {"%": "% LC"}
    assert study.qc_statement == sponsor.qc_statement
    assert load_profile("SPN-BOREAL", workdir=tmp_path, study_id="BOR-PK-011") == sponsor

    # the study file applies over the work directory's sponsor profile, not the shipped one
    _write(
        tmp_path / "profiles" / "SPN-BOREAL.yaml",
        _minimal(sponsor_id="SPN-BOREAL", reviewer_roles=["qa_reviewer"]),
    )
    study = load_profile("SPN-BOREAL", workdir=tmp_path, study_id="BOR-STB-022")
    assert (study.reviewer_roles, study.output_formats) == ((Role.QA_REVIEWER,), (OutputFormat.PDF,))


def test_study_override_errors_name_the_study_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "profiles" / "SPN-AURORA" / "AUR-STB-014.yaml", {"output_formats": []})
    with pytest.raises(ProfileError) as caught:
        load_profile("SPN-AURORA", workdir=tmp_path, study_id="AUR-STB-014")
    assert caught.value.source == str(path)
    assert caught.value.problems[0].startswith("output_formats: ")


def test_unknown_sponsor_gets_the_default_profile(tmp_path: Path) -> None:
    profile = load_profile("SPN-NOBODY", workdir=tmp_path)
    assert profile == default_profile("SPN-NOBODY")
    assert profile.output_formats == tuple(OutputFormat)
    assert profile.reviewer_roles == (Role.STUDY_DIRECTOR, Role.QA_REVIEWER)
    assert [t.table for t in profile.tables_for(StudyType.BIOANALYTICAL_PK)] == [
        TableKind.PK_CONCENTRATIONS,
        TableKind.SAMPLE_INVENTORY,
        TableKind.DEVIATIONS,
        TableKind.CALIBRATIONS,
        TableKind.REAGENT_LOTS,
    ]
    assert TableKind.STABILITY_SUMMARY in [t.table for t in profile.tables_for(StudyType.STABILITY)]
    for spec in profile.tables:
        assert [c.field for c in spec.columns] == list(TABLE_FIELDS[spec.table])
        assert spec.rounding == {}
        assert all(spec.decimals(c.field) is None for c in spec.columns)


def test_bad_yaml_and_non_mapping() -> None:
    assert _problems(b"sponsor_id: [unclosed")[0].startswith("not valid YAML")
    assert _problems(b"sponsor_id: A\nsponsor_id: B\n")[0].startswith("not valid YAML")
    assert _problems(b"- a list\n") == ["must be a mapping of profile keys"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
        ({"version": "1.02"}, "version: "),
        ({"output_formats": []}, "output_formats: "),
        ({"output_formats": ["pdf", "html"]}, "output_formats[1]: "),
        ({"output_formats": ["pdf", "pdf"]}, "output_formats: listed more than once: pdf"),
        ({"reviewer_roles": ["study_director", "ceo"]}, "reviewer_roles[1]: "),
        ({"reviewer_roles": []}, "reviewer_roles: "),
        ({"package_name": "{sponsor_code}_{colour}"}, "package_name: unknown placeholder {colour}"),
        ({"package_name": "{milestone_slug:>10}"}, "package_name: may hold only letters"),
        ({"qc_statement": "{study_id!r}"}, "qc_statement: placeholder {study_id} may not carry"),
        ({"package_name": "a/{milestone_slug}"}, "package_name: may hold only letters"),
        ({"package_name": "{milestone_slug"}, "package_name: is not a valid pattern"),
        ({"qc_statement": "Checked {today}."}, "qc_statement: unknown placeholder {today}"),
        ({"sponsor_id": "SPN-OTHER"}, "sponsor_id: 'SPN-OTHER' is not 'SPN-TEST'"),
        (
            {"signature_meanings": {"qa_reviewer": "review"}},
            "signature_meanings.qa_reviewer: qa_reviewer is not",
        ),
        ({"signature_meanings": {"study_director": "blessing"}}, "signature_meanings.study_director: "),
    ],
)
def test_profile_errors_name_the_location(changes: dict[str, Any], expected: str) -> None:
    problems = _problems(_minimal(**changes))
    assert any(p.startswith(expected) for p in problems), problems


def _table_problems(index: int, **changes: Any) -> list[str]:
    raw = _minimal()
    raw["tables"][index].update(changes)
    return _problems(raw)


def test_table_errors_name_the_location() -> None:
    assert _table_problems(1, table="charts")[0].startswith("tables[1].table: Input should be")
    assert _table_problems(1, columns=[{"field": "foo", "heading": "Foo"}]) == [
        "tables[1].columns[0].field: 'foo' is not a field of pk_concentrations"
    ]
    assert _table_problems(
        0, columns=[{"field": "value", "heading": "A"}, {"field": "value", "heading": "B"}]
    ) == ["tables[0].columns[1].field: 'value' is listed twice"]
    assert _table_problems(1, columns=[{"field": "subject_id", "heading": "S", "width": 3}]) == [
        "tables[1].columns[0].width: Extra inputs are not permitted"
    ]
    assert _table_problems(1, columns=[])[0].startswith("tables[1].columns: ")
    assert _table_problems(0, applies_to=["clinical"])[0].startswith("tables[0].applies_to[0]: ")


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [
        ({"value": "two"}, "tables[0].rounding.value: 'two' is not a number of decimals"),
        ({"value": -1}, "tables[0].rounding.value"),
        ({"value": 11}, "tables[0].rounding.value"),
        ({"value": True}, "tables[0].rounding.value"),
        ({"value": 1.5}, "tables[0].rounding.value"),
        ({"timepoint": 1}, "tables[0].rounding.timepoint: 'timepoint' is not numeric"),
        ({"batch": AS_REPORTED}, "tables[0].rounding.batch: 'batch' is not a column"),
    ],
)
def test_bad_rounding(rounding: dict[str, Any], expected: str) -> None:
    problems = _table_problems(0, rounding=rounding)
    assert any(p.startswith(expected) for p in problems), problems


def test_duplicate_table_and_several_problems_at_once() -> None:
    raw = _minimal()
    raw["tables"].append(dict(raw["tables"][0]))
    assert _problems(raw) == ["tables[2].table: results_by_timepoint is listed more than once"]
    raw = _minimal(output_formats=[], reviewer_roles=["boss"])
    raw["tables"][1]["columns"] = [{"field": "foo", "heading": "Foo"}]
    problems = _problems(raw)
    assert len(problems) == 3
    assert "tables[1].columns[0].field: 'foo' is not a field of pk_concentrations" in problems


def test_workdir_errors_name_the_file(tmp_path: Path) -> None:
    raw = _minimal(sponsor_id="SPN-AURORA")
    raw["tables"][1]["columns"] = [{"field": "foo", "heading": "Foo"}]
    path = _write(tmp_path / "profiles" / "SPN-AURORA.yaml", raw)
    with pytest.raises(ProfileError) as caught:
        load_profile("SPN-AURORA", workdir=tmp_path)
    assert (
        str(caught.value) == f"{path}: tables[1].columns[0].field: 'foo' is not a field of pk_concentrations"
    )
    with pytest.raises(ProfileError):
        load_profile("../etc/passwd", workdir=tmp_path)
    with pytest.raises(ProfileError, match="cannot name a profile file"):
        load_profile("SPN-BOREAL", workdir=tmp_path, study_id="../x")


def test_package_name_rendering() -> None:
    assert slug("T12 pull complete") == "t12-pull-complete"
    assert slug("  Analysis Complete / Draft (v2) ") == "analysis-complete-draft-v2"
    assert slug("Stabilität T3 Zwischenbericht") == "stabilitat-t3-zwischenbericht"
    aurora = load_profile("SPN-AURORA")
    values: dict[str, Any] = {
        "milestone": "T12 pull complete",
        "package_version": 2,
        "sponsor_code": "AUR",
        "protocol_number": "AUR-STB-2024-014",
        "study_id": "AUR-STB-014",
    }
    name = render_package_name(aurora, **values)
    assert name == "AUR_AUR-STB-2024-014_t12-pull-complete_v2"
    assert render_package_name(aurora, **values) == name
    boreal = load_profile("SPN-BOREAL")
    assert render_package_name(boreal, **values) == "BOREAL-AUR-STB-014-t12-pull-complete-rev2"
    assert render_package_name(aurora, **{**values, "protocol_number": "AUR/STB 14"}).startswith(
        "AUR_AUR-STB-14_"
    )
    with pytest.raises(ValueError, match="sponsor_code"):
        render_package_name(aurora, **{**values, "sponsor_code": ""})
    with pytest.raises(ValueError, match="milestone_slug"):
        render_package_name(aurora, **{**values, "milestone": "!!!"})


def test_qc_statement_rendering() -> None:
    profile = SponsorProfile.model_validate(_minimal(qc_statement="{study_id} in {package_name}."))
    assert profile.render_qc_statement(study_id="S-1", package_name="P") == "S-1 in P."


def test_profile_hash_is_stable_across_key_order() -> None:
    raw = _minimal(units_display={"%": "% LC", "ng/mL": "ng/mL"})
    backwards = {key: raw[key] for key in reversed(list(raw))}
    backwards["units_display"] = {"ng/mL": "ng/mL", "%": "% LC"}
    backwards["tables"] = [{k: t[k] for k in reversed(list(t))} for t in raw["tables"]]
    first = parse_profile(yaml.safe_dump(raw, sort_keys=False).encode(), "a.yaml", "SPN-TEST")
    second = parse_profile(yaml.safe_dump(backwards, sort_keys=False).encode(), "b.yaml", "SPN-TEST")
    assert profile_sha256(first) == profile_sha256(second)
    assert len(profile_sha256(first)) == 64
    reordered = _minimal(tables=list(reversed(raw["tables"])))
    assert profile_sha256(SponsorProfile.model_validate(reordered)) != profile_sha256(first)
