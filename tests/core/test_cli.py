"""The limsai command line: one JSON document on stdout with --json, typed exit codes, seeding,
listing studies, and the demo's reuse of a seeded work directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from limsai import __version__
from limsai.cli_support import EXIT_BAD_INPUT, EXIT_USAGE


def limsai(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limsai.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)  # the whole of stdout must be one JSON document


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("seeded")
    proc = limsai("scenario", "seed", "--workdir", str(workdir), "--json")
    assert proc.returncode == 0, proc.stderr
    return workdir, as_json(proc)


def test_version() -> None:
    proc = limsai("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"limsai {__version__}"


def test_seed_reports_counts_and_anomalies(seeded: tuple[Path, dict[str, Any]]) -> None:
    workdir, outcome = seeded
    assert (workdir / "lims.db").is_file() and (workdir / "scenario.json").is_file()
    assert outcome["counts"]["sponsors"] >= 3 and outcome["counts"]["results"] > 1000
    kinds = {a["kind"] for a in outcome["anomalies"]}
    assert {
        "oos",
        "oot",
        "missing_timepoint",
        "reagent_lot_change",
        "expired_calibration",
        "conflicting_control_range",
        "blinded_field",
    } <= kinds
    assert len(set(outcome["canaries"].values())) == len(outcome["canaries"]) >= 3


def test_studies_json_has_the_promised_fields(seeded: tuple[Path, dict[str, Any]]) -> None:
    workdir, outcome = seeded
    proc = limsai("studies", "--workdir", str(workdir), "--json")
    assert proc.returncode == 0, proc.stderr
    studies = as_json(proc)["studies"]
    assert len(studies) == outcome["counts"]["studies"]
    assert sum(s["results"] for s in studies) == outcome["counts"]["results"]
    assert sum(s["samples"] for s in studies) == outcome["counts"]["samples"]
    required = {
        "study_id",
        "sponsor_id",
        "protocol_number",
        "study_type",
        "phase",
        "milestones",
        "results",
        "samples",
        "study_director",
    }
    for study in studies:
        assert required <= set(study)
        assert study["study_director"], f"{study['study_id']} has no study director"
        assert study["study_type"] in {"stability", "bioanalytical_pk"}
    types_by_sponsor: dict[str, set[str]] = {}
    for s in studies:
        types_by_sponsor.setdefault(s["sponsor_id"], set()).add(s["study_type"])
    assert all(t >= {"stability", "bioanalytical_pk"} for t in types_by_sponsor.values())


def test_studies_human_output_lists_every_study(seeded: tuple[Path, dict[str, Any]]) -> None:
    workdir, _ = seeded
    proc = limsai("studies", "--workdir", str(workdir))
    studies = as_json(limsai("studies", "--workdir", str(workdir), "--json"))["studies"]
    assert proc.returncode == 0
    for study in studies:
        assert study["study_id"] in proc.stdout


def test_seed_refuses_to_overwrite_without_force(seeded: tuple[Path, dict[str, Any]]) -> None:
    workdir, _ = seeded
    before = (workdir / "lims.db").stat().st_mtime_ns
    proc = limsai("scenario", "seed", "--workdir", str(workdir), "--json")
    assert proc.returncode == EXIT_BAD_INPUT
    assert "already exists; pass --force" in as_json(proc)["error"]["message"]
    assert (workdir / "lims.db").stat().st_mtime_ns == before


def test_missing_workdir_is_a_clear_error(tmp_path: Path) -> None:
    proc = limsai("studies", "--workdir", str(tmp_path / "nowhere"), "--json")
    assert proc.returncode == EXIT_BAD_INPUT
    error = as_json(proc)["error"]
    assert error["type"] == "bad_input" and "no LIMS at" in error["message"]
    assert "no LIMS at" in proc.stderr
    assert not (tmp_path / "nowhere").exists()


def test_usage_errors_exit_2() -> None:
    assert limsai("scenario", "seed").returncode == EXIT_USAGE
    assert limsai("scenario", "seed", "--workdir", "x", "--results", "-5").returncode == EXIT_USAGE


def test_demo_seeds_once_then_reuses(tmp_path: Path) -> None:
    first = limsai("demo", "--workdir", str(tmp_path / "demo"), "--json")
    assert first.returncode == 0, first.stderr
    state = as_json(first)
    assert state["reused"] is False and len(state["sponsors"]) >= 3 and state["anomalies"]
    mtime = (tmp_path / "demo" / "lims.db").stat().st_mtime_ns
    second = limsai("demo", "--workdir", str(tmp_path / "demo"))
    assert second.returncode == 0, second.stderr
    assert "reused" in second.stdout and "Planted anomalies" in second.stdout
    assert (tmp_path / "demo" / "lims.db").stat().st_mtime_ns == mtime
    other = limsai("demo", "--workdir", str(tmp_path / "demo"), "--lims", "labware", "--json")
    assert other.returncode == EXIT_BAD_INPUT and "no simulator" in as_json(other)["error"]["message"]


IMPORTS = Path(__file__).resolve().parents[1] / "data" / "import"


def test_lims_import_then_studies(tmp_path: Path) -> None:
    workdir = tmp_path / "imported"
    proc = limsai("lims", "import", str(IMPORTS / "happy.csv"), "--workdir", str(workdir), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = as_json(proc)
    assert summary["rows"] == 16 and summary["created"]["results"] == 16
    studies = as_json(limsai("studies", "--workdir", str(workdir), "--json"))["studies"]
    assert sum(s["results"] for s in studies) == 16
    acme = next(s for s in studies if s["study_id"] == "ACME-STAB-001")
    assert acme["study_director"] == "jdoe" and acme["milestones"][0]["name"] == "T3 pull complete"


def test_lims_import_errors_change_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "imported"
    assert limsai("lims", "import", str(IMPORTS / "happy.csv"), "--workdir", str(workdir)).returncode == 0
    before = as_json(limsai("studies", "--workdir", str(workdir), "--json"))
    again = limsai("lims", "import", str(IMPORTS / "happy.csv"), "--workdir", str(workdir), "--json")
    assert again.returncode == EXIT_BAD_INPUT
    error = as_json(again)["error"]
    assert (
        error["type"] == "bad_input"
        and "nothing imported" in error["message"]
        and "line 2" in error["message"]
    )
    bad = limsai("lims", "import", str(IMPORTS / "bad_numbers.csv"), "--workdir", str(workdir), "--json")
    assert bad.returncode == EXIT_BAD_INPUT and "is not a decimal number" in as_json(bad)["error"]["message"]
    missing = limsai("lims", "import", str(tmp_path / "nope.csv"), "--workdir", str(workdir), "--json")
    assert missing.returncode == EXIT_BAD_INPUT
    assert as_json(limsai("studies", "--workdir", str(workdir), "--json")) == before
    fresh = tmp_path / "fresh"
    failed = limsai("lims", "import", str(IMPORTS / "bad_numbers.csv"), "--workdir", str(fresh))
    assert failed.returncode == EXIT_BAD_INPUT and not fresh.exists()
