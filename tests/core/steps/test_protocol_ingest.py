"""protocol.ingest on the seeded scenario: a protocol filed on a study by a person is read through the
gateway into a DRAFT package (manifest, requirements, USDM, LIMS plan as JSON and CSV) with a review
task for the study director; the plan holds the generated protocol's known requirements and planted
ambiguities, each blocking the entries it concerns. Retries and re-runs write nothing twice, an
unreadable protocol fails with the reader's error and attaches nothing, an analyst in the
review-assisted phase is refused (audited), and the read-only phase attaches nothing."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from limsai.governance.audit_log import AuditLog
from limsai.lims.embedded.uploads import upload_document
from limsai.lims.port import StudyScope
from limsai.model import Document, DocumentStatus, ReviewTask
from limsai.protocols import ProtocolRequirements, corpus
from limsai.protocols.source import DOCX, PDF
from limsai.protocols.usdm import validate_usdm
from limsai.runtime.local import run_synchronously
from limsai.runtime.queue import Job
from limsai.runtime.runner import StepRunner
from limsai.runtime.settings import load_settings
from limsai.steps._protocol_plan import LimsPlan
from limsai.workdir import open_lims

PK = StudyScope(sponsor_id="SPN-AURORA", study_id="AUR-PK-007")
STB = StudyScope(sponsor_id="SPN-AURORA", study_id="AUR-STB-014")
FILES = ["manifest.json", "requirements.json", "usdm.json", "lims-plan.json", "lims-plan.csv"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("seed")
    done = subprocess.run(
        [sys.executable, "-m", "limsai.cli", "scenario", "seed", "--workdir", str(base)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return base / "lims.db"


@pytest.fixture()
def workdir(seeded: Path, tmp_path: Path) -> Path:
    (tmp_path / "lims.db").write_bytes(seeded.read_bytes())
    (tmp_path / "limsai.toml").write_text('rollout_phase = "review-assisted"\n', encoding="utf-8")
    return tmp_path


def upload(workdir: Path, scope: StudyScope, content: bytes, filename: str, media_type: str) -> Document:
    lims = open_lims(workdir)
    try:
        return upload_document(
            lims,
            scope,
            name=f"Sponsor protocol {filename}",
            filename=filename,
            media_type=media_type,
            content=content,
            uploaded_by="ochen",
        )
    finally:
        lims.close()


def ingest(workdir: Path, study: str, user: str = "hgreco", milestone: str = "", **params: str) -> Job:
    return run_synchronously(
        workdir,
        step="protocol.ingest",
        lims="embedded",
        record=f"study:{study}",
        user=user,
        milestone=milestone,
        params=[f"{k}={v}" for k, v in params.items()],
    )


def lims_state(workdir: Path, scope: StudyScope) -> tuple[list[Document], list[ReviewTask], int]:
    lims = open_lims(workdir)
    try:
        return lims.list_documents(scope), lims.list_tasks(scope), len(lims.list_audit_trail(scope))
    finally:
        lims.close()


def draft_content(workdir: Path, scope: StudyScope, result: dict[str, Any], name: str) -> bytes:
    ref = next(d for d in result["drafts"] if d["name"].endswith(f"/{name}"))
    lims = open_lims(workdir)
    try:
        return lims.get_document_content(scope, ref["document_id"], ref["version"])
    finally:
        lims.close()


def succeeded(job: Job) -> dict[str, Any]:
    assert job.state.value == "succeeded", job.last_error
    assert job.result is not None
    return job.result


def audit_actions(workdir: Path) -> list[str]:
    with AuditLog(workdir) as audit:
        return [e.record.action for e in audit.entries()]


def test_bioanalytical_pdf_becomes_a_draft_plan_with_a_review_task(workdir: Path) -> None:
    protocol = corpus.bioanalytical()
    exp = protocol.expected
    source = upload(workdir, PK, corpus.to_pdf(protocol), "ACM-BA-2031 protocol.pdf", PDF)
    result = succeeded(ingest(workdir, "AUR-PK-007"))

    prefix = f"protocol/{source.document_id}/"
    assert [d["name"] for d in result["drafts"]] == [prefix + f for f in FILES]
    summary = result["summary"]
    assert summary["document_id"] == source.document_id and summary["protocol_number"] == "ACM-BA-2031"
    assert summary["ambiguities"] == 4 and summary["injection_flags"] == 1
    assert summary["schedule_pairs"] >= len(exp["pairs"])  # type: ignore[arg-type]

    documents, tasks, _ = lims_state(workdir, PK)
    drafts = [d for d in documents if d.name.startswith(prefix)]
    assert len(drafts) == 5 and {d.status for d in drafts} == {DocumentStatus.DRAFT}
    assert all(d.attribution is not None and d.attribution.step_id == "protocol.ingest" for d in drafts)
    assert [t.task_id for t in tasks] == result["tasks"]
    task = tasks[0]
    assert task.assignee == "hgreco" and task.document_id == result["drafts"][0]["document_id"]
    assert f"{summary['requirements']} requirements and 4 ambiguities" in task.instructions

    req = ProtocolRequirements.model_validate_json(draft_content(workdir, PK, result, "requirements.json"))
    assert req.document_sha256 == source.sha256 and len(req.requirements) == summary["requirements"]
    validate_usdm(json.loads(draft_content(workdir, PK, result, "usdm.json")))

    plan = LimsPlan.model_validate_json(draft_content(workdir, PK, result, "lims-plan.json"))
    assert plan.applied is False and plan.source.document_id == source.document_id
    assert {i.name for i in plan.test_methods} == exp["test_method"]
    assert "k2edta plasma" in plan.test_methods[0].details["matrices"]
    scheduled = {(i.details["activity"], i.details["timepoint"]) for i in plan.sampling_schedule}
    pk_pairs = {p for p in exp["pairs"] if p[0] == "PK blood sample"}  # type: ignore[attr-defined]
    assert pk_pairs <= scheduled and ("PK blood sample", "12 h") in scheduled
    assert "Informed consent" in plan.not_planned
    assert {i.name for i in plan.storage_conditions} == exp["storage"]
    assert {i.name for i in plan.specifications} == exp["acceptance_criterion"]
    assert {i.details["test"] for i in plan.specifications} == {"LC-MS/MS"}
    every = plan.items()
    assert all(i.citation.document_sha256 == source.sha256 and i.citation.quote for i in every)

    by_kind = {a.kind.value: a for a in plan.ambiguities}
    for kind, hint in exp["ambiguities"]:  # type: ignore[attr-defined]
        amb = by_kind[kind]
        assert hint in amb.message or any(hint in c.quote for c in amb.citations)
    keys = {i.key: i for i in every}
    only_text = next(i for i in plan.sampling_schedule if i.details["timepoint"] == "12 h")
    assert by_kind["timepoint_not_in_table"].id in only_text.blocked_by
    assert only_text.details["source"] == "text only"
    storage_blocks = {keys[k].name for k in by_kind["conflicting_storage"].blocks}
    assert storage_blocks == exp["storage"]
    unclear = {keys[k].kind.value for k in by_kind["unclear_requirement"].blocks}
    assert unclear == {"sampling"}
    assert by_kind["embedded_instruction"].blocks == []
    assert summary["blocked_items"] == sum(1 for i in every if i.blocked_by)
    assert any("ACM-BA-2031 differs from study AUR-PK-007's AUR-BA-2025-007" in w for w in plan.warnings)

    rows = list(csv.DictReader(io.StringIO(draft_content(workdir, PK, result, "lims-plan.csv").decode())))
    assert len(rows) == len(every) == summary["planned_items"]
    first = rows[0]
    assert (first["kind"], first["name"], first["citation_quote"]) == ("test_method", "LC-MS/MS", "LC-MS/MS")
    assert float(first["confidence"]) == plan.test_methods[0].confidence


def test_stability_docx_by_document_id(workdir: Path) -> None:
    protocol = corpus.stability()
    exp = protocol.expected
    other = upload(workdir, STB, b"%PDF-1.7 not the one", "old protocol.pdf", PDF)
    source = upload(workdir, STB, corpus.to_docx(protocol), "STB-2025-014 protocol.docx", DOCX)
    assert other.document_id != source.document_id
    result = succeeded(ingest(workdir, "AUR-STB-014", document_id=source.document_id))
    assert result["summary"]["protocol_number"] == "STB-2025-014"
    assert result["summary"]["schedule_pairs"] == 0 and result["summary"]["injection_flags"] == 1

    plan = LimsPlan.model_validate_json(draft_content(workdir, STB, result, "lims-plan.json"))
    assert {i.name for i in plan.test_methods} == exp["test_method"]
    assert {i.details["method"] for i in plan.test_methods} == {
        "Visual",
        "HPLC-UV",
        "USP <711>",
        "Karl Fischer",
    }
    specs = {i.details["test"]: i.name for i in plan.specifications}
    assert specs["Assay"] == "95.0-105.0% of label claim" and specs["Water content"] == "NMT 3.0% w/w"
    chambers = {i.name: i.details for i in plan.storage_conditions if "condition" in i.details}
    assert set(chambers) == exp["stability_condition"]
    assert chambers["40 °C/75% RH"]["pull_months"] == "0, 1, 3, 6"
    months = {i.details["months"] for i in plan.sampling_schedule}
    assert months == exp["pull_months"] | {"1"}  # type: ignore[operator]
    stray = next(i for i in plan.sampling_schedule if i.details["months"] == "36")
    assert stray.name == "T36 months (condition not stated)"
    by_kind = {a.kind.value: a for a in plan.ambiguities}
    assert {(k, h) for k, h in exp["ambiguities"] if k in by_kind} == exp["ambiguities"]  # type: ignore[attr-defined]
    assert stray.blocked_by == [by_kind["timepoint_not_in_table"].id]
    standards = {i.name for i in plan.storage_conditions if i.details.get("subject") == "reference standard"}
    assert standards == exp["storage"]
    assert all(
        by_kind["conflicting_storage"].id in i.blocked_by
        for i in plan.storage_conditions
        if i.name in standards
    )


def test_retry_and_rerun_write_nothing_twice(workdir: Path) -> None:
    upload(workdir, PK, corpus.to_pdf(corpus.bioanalytical()), "protocol.pdf", PDF)
    job = ingest(workdir, "AUR-PK-007")
    first = succeeded(job)
    before = lims_state(workdir, PK)

    # A retry of the same run (a worker died after attaching): the LIMS hands back the same records.
    retried = StepRunner(load_settings(workdir)).handle(job)
    assert retried["drafts"] == first["drafts"] and retried["tasks"] == first["tasks"]
    assert lims_state(workdir, PK) == before

    # A new run (the same request is one job to the queue, so another milestone key) on the same
    # protocol version: it points at the existing plan and writes nothing.
    again = succeeded(ingest(workdir, "AUR-PK-007", milestone="re-run"))
    assert again["drafts"] == first["drafts"] and again["tasks"] == first["tasks"]
    assert again["summary"]["already_drafted_by"] == job.run_id
    assert "nothing written" in again["message"]
    assert lims_state(workdir, PK) == before


def test_a_corrupt_pdf_fails_the_run_and_attaches_nothing(workdir: Path) -> None:
    upload(workdir, PK, b"%PDF-1.4 this is not really a PDF", "protocol.pdf", PDF)
    before = lims_state(workdir, PK)
    job = ingest(workdir, "AUR-PK-007")
    assert job.state.value == "failed"
    assert (job.last_error or "").startswith("ProtocolReadError: corrupt: ")
    assert lims_state(workdir, PK) == before


def test_no_protocol_on_the_study_is_a_clear_error(workdir: Path) -> None:
    job = ingest(workdir, "AUR-PK-007")
    assert job.state.value == "failed"
    assert "NotFound: study AUR-PK-007 has no protocol to ingest" in (job.last_error or "")


def test_an_analyst_may_not_open_review_tasks(workdir: Path) -> None:
    upload(workdir, PK, corpus.to_pdf(corpus.bioanalytical()), "protocol.pdf", PDF)
    before = lims_state(workdir, PK)
    job = ingest(workdir, "AUR-PK-007", user="thaddad")
    assert job.state.value == "failed"
    assert (job.last_error or "").startswith("PermissionDenied: thaddad's roles do not grant tasks.create")
    assert "step.refused" in audit_actions(workdir) and "step.started" not in audit_actions(workdir)
    assert lims_state(workdir, PK) == before


def test_read_only_phase_attaches_nothing(workdir: Path) -> None:
    (workdir / "limsai.toml").write_text('rollout_phase = "read-only"\n', encoding="utf-8")
    upload(workdir, PK, corpus.to_pdf(corpus.bioanalytical()), "protocol.pdf", PDF)
    before = lims_state(workdir, PK)
    result = succeeded(ingest(workdir, "AUR-PK-007", user="thaddad"))
    assert result["drafts"] == [] and result["tasks"] == []
    assert result["message"].endswith("rollout phase read-only: not attached")
    assert result["summary"]["protocol_number"] == "ACM-BA-2031" and result["summary"]["ambiguities"] == 4
    assert lims_state(workdir, PK) == before
    assert not any(d.name.startswith("protocol/") for d in lims_state(workdir, PK)[0])
