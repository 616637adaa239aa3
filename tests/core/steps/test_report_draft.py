"""report.draft on the seeded scenario: a DOCX with one trend chart per attribute and condition, the
ICH Q1E estimates and the planted OOT and OOS results, the summary section from the approved
template, attached as a DRAFT with a review task; a PK study is refused."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from limsai.lims.port import StudyScope
from limsai.lims.scenario import REFERENCE_TIME, Scenario, generate
from limsai.model import DocumentStatus
from limsai.runtime.local import run_synchronously
from limsai.workdir import open_lims


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    workdir = tmp_path_factory.mktemp("report")
    seed = [sys.executable, "-m", "limsai.cli", "scenario", "seed", "--workdir", str(workdir)]
    assert subprocess.run(seed, capture_output=True).returncode == 0
    return workdir, generate()


def draft(workdir: Path, study: str, milestone: str) -> Any:
    return run_synchronously(
        workdir,
        step="report.draft",
        lims="embedded",
        record=f"study:{study}",
        user=None,
        milestone=milestone,
        params=[f"as_of={REFERENCE_TIME.isoformat()}"],
    )


def content(workdir: Path, sponsor: str, study: str, document_id: str) -> bytes:
    lims = open_lims(workdir)
    try:
        return lims.get_document_content(StudyScope(sponsor_id=sponsor, study_id=study), document_id, 1)
    finally:
        lims.close()


def test_report_draft_of_the_study_with_the_planted_oot(seeded: tuple[Path, Scenario]) -> None:
    from docx import Document

    workdir, scenario = seeded
    oot = next(a for a in scenario.anomalies if a.kind.value == "oot")
    oos = [a for a in scenario.anomalies if a.kind.value == "oos" and a.study_id == oot.study_id]
    job = draft(workdir, oot.study_id, "T12 pull complete")
    assert job.state.value == "succeeded", job.last_error
    result = job.result
    assert result["summary"]["series"] == result["summary"]["figures"] == 18  # 6 attributes x 3 conditions
    assert (result["summary"]["oot"], result["summary"]["oos"]) == (1, len(oos))
    names = [d["name"].rsplit("/", 1)[1] for d in result["drafts"]]
    assert names == [
        "manifest.json",
        "cas-stb-031-stability-report.docx",
        "shelf-life.csv",
        "out-of-trend.csv",
    ]
    assert len(result["tasks"]) == 1
    sponsor = oot.sponsor_id
    docx = Document(io.BytesIO(content(workdir, sponsor, oot.study_id, result["drafts"][1]["document_id"])))
    assert len(docx.inline_shapes) == 18  # every attribute/condition has its trend chart
    text = "\n".join(p.text for p in docx.paragraphs)
    assert oot.records[0] in text and all(a.records[0] in text for a in oos)
    proposed = result["summary"]["proposed_shelf_life_months"]
    assert f"support a proposed shelf life of {proposed} months" in text
    trend = list(
        csv.reader(
            io.StringIO(content(workdir, sponsor, oot.study_id, result["drafts"][3]["document_id"]).decode())
        )
    )
    assert len(trend) == 2 and trend[1][2] in oot.records[0]  # the planted OOT batch, nothing else
    shelf = list(
        csv.reader(
            io.StringIO(content(workdir, sponsor, oot.study_id, result["drafts"][2]["document_id"]).decode())
        )
    )
    assert {row[1] for row in shelf[1:]} == {"25°C/60%RH"} and len(shelf) == 7  # long-term only, 6 attributes
    estimates = [float(row[4]) for row in shelf[1:]]
    assert int(proposed) <= min(estimates) and int(proposed) == int(
        min(min(estimates), 24.0)
    )  # X=12: min(2X, X+12)
    lims = open_lims(workdir)
    docs = lims.list_documents(StudyScope(sponsor_id=sponsor, study_id=oot.study_id))
    lims.close()
    assert {d.status for d in docs if d.name.startswith("report-draft/")} == {DocumentStatus.DRAFT}


def test_a_pk_study_is_refused_and_nothing_attached(seeded: tuple[Path, Scenario]) -> None:
    workdir, _ = seeded
    job = draft(workdir, "AUR-PK-007", "Analysis Complete")
    assert job.state.value == "failed" and "drafts stability reports" in (job.last_error or "")
    lims = open_lims(workdir)
    docs = lims.list_documents(StudyScope(sponsor_id="SPN-AURORA", study_id="AUR-PK-007"))
    lims.close()
    assert not [d for d in docs if d.name.startswith("report-draft/")]
