"""package.assemble on the seeded scenario: the planted anomalies and nothing else are flagged, the
outputs open in their libraries and match the manifest, the draft waits in the LIMS with a review
task, imported values keep their exact digits, and no sponsor's canary reaches another's package."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from limsai.lims.port import Scope
from limsai.lims.scenario import REFERENCE_TIME, Scenario, generate
from limsai.runtime.local import run_synchronously
from limsai.workdir import open_lims

COVERED = {
    "oos",
    "oot",
    "missing_timepoint",
    "expired_calibration",
    "reagent_lot_change",
    "invalidated_without_justification",
}
IMPORTS = Path(__file__).resolve().parents[2] / "data" / "import"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    workdir = tmp_path_factory.mktemp("pkg")
    assert (
        subprocess.run(
            [sys.executable, "-m", "limsai.cli", "scenario", "seed", "--workdir", str(workdir)],
            capture_output=True,
        ).returncode
        == 0
    )
    return workdir, generate()


def assemble(workdir: Path, study: str, milestone: str = "Package") -> dict[str, Any]:
    job = run_synchronously(
        workdir,
        step="package.assemble",
        lims="embedded",
        record=f"study:{study}",
        user=None,
        milestone=milestone,
        params=[f"as_of={REFERENCE_TIME.isoformat()}"],
    )
    assert job.state.value == "succeeded", job.last_error
    assert job.result is not None
    return job.result


def manifest_of(result: dict[str, Any]) -> dict[str, Any]:
    return json.loads((Path(result["summary"]["out_dir"]) / "manifest.json").read_text(encoding="utf-8"))


def test_flags_are_exactly_the_planted_anomalies(seeded: tuple[Path, Scenario]) -> None:
    workdir, scenario = seeded
    for study in sorted({s.study_id for s in scenario.dataset.studies}):
        manifest = manifest_of(assemble(workdir, study))
        planted = [a for a in scenario.anomalies if a.study_id == study and a.kind.value in COVERED]
        assert len(manifest["validation_flags"]) == len(planted), (study, manifest["validation_flags"])
        for anomaly in planted:
            assert any(anomaly.records[0] in flag for flag in manifest["validation_flags"]), anomaly


def test_outputs_open_and_match_the_manifest(seeded: tuple[Path, Scenario]) -> None:
    from docx import Document
    from openpyxl import load_workbook
    from pypdf import PdfReader

    workdir, _ = seeded
    result = assemble(workdir, "AUR-STB-014", milestone="T24 pull complete")
    out = Path(result["summary"]["out_dir"])
    manifest = manifest_of(result)
    assert (
        manifest["status"] == "DRAFT"
        and manifest["study_id"] == "AUR-STB-014"
        and manifest["included_tables"]
    )
    assert manifest["provenance"]["step_id"] == "package.assemble" and manifest["provenance"]["inputs"]
    for entry in manifest["files"]:
        assert hashlib.sha256((out / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    # a stability package also carries the Q1E estimates, the OOT list and one trend chart per
    # long-term attribute
    assert {"shelf_life", "out_of_trend"} <= set(manifest["included_tables"])
    plots = sorted(e["path"] for e in manifest["files"] if e["path"].startswith("plots/"))
    assert len(plots) == 6 and all((out / p).read_bytes().startswith(b"\x89PNG") for p in plots)
    docx = next(out.glob("*.docx"))
    assert len(Document(str(docx)).tables) >= 1
    pdf_text = "".join(page.extract_text() for page in PdfReader(str(next(out.glob("*.pdf")))).pages)
    assert "DRAFT" in pdf_text and "94.94" in pdf_text  # the planted OOS value, as reported
    workbook = load_workbook(next(out.glob("*.xlsx")))
    assert "Flags" in workbook.sheetnames and len(workbook.sheetnames) >= 2
    lims = open_lims(workdir)
    scope = Scope(sponsor_id="SPN-AURORA", study_id="AUR-STB-014")
    docs = [d for d in lims.list_documents(scope) if d.name.startswith("data-package/")]
    assert {d.status.value for d in docs} <= {"draft", "superseded"} and docs
    assert result["drafts"][0]["sha256"] == result["summary"]["manifest_sha256"]
    assert any(t.document_id == result["drafts"][0]["document_id"] for t in lims.list_tasks(scope))


def test_no_canary_crosses_sponsors(seeded: tuple[Path, Scenario]) -> None:
    workdir, scenario = seeded
    for study in scenario.dataset.studies:
        out = Path(assemble(workdir, study.study_id, milestone="Canary check")["summary"]["out_dir"])
        blob = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())
        for sponsor, canary in scenario.canaries.items():
            if sponsor != study.sponsor_id:
                assert canary.encode() not in blob


def test_imported_values_keep_their_exact_digits(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "limsai.cli",
            "lims",
            "import",
            str(IMPORTS / "happy.csv"),
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    result = assemble(tmp_path, "ACME-STAB-001", milestone="T3 pull complete")
    out = Path(result["summary"]["out_dir"])
    cells = [
        cell
        for path in (out / "tables").glob("*.csv")
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
        for cell in row
    ]
    xlsx = list(out.glob("*.xlsx"))
    assert "99.50" in cells or xlsx, "the ACME profile renders the results somewhere"
    if xlsx:
        from openpyxl import load_workbook

        values = {
            str(c.value) for ws in load_workbook(xlsx[0]).worksheets for row in ws.iter_rows() for c in row
        }
        assert "99.50" in values and "99.5" not in values
