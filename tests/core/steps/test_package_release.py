"""package.release on the seeded scenario: refused (audited, nothing changed) until a human approval
e-signature binds the manifest and every sign-off the sponsor's profile requires is given; then the
package is marked RELEASED in the LIMS, once, and ``release.json`` sits beside its files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from limsai.governance.audit_log import AuditLog
from limsai.lims.port import Scope
from limsai.lims.scenario import REFERENCE_TIME
from limsai.model import Document, DocumentStatus
from limsai.runtime.local import run_synchronously
from limsai.runtime.queue import Job
from limsai.workdir import open_lims

MILESTONE = "T24 pull complete"


def cli(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIMSAI_SIGN_PASSWORD": password} if password else dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "limsai.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    assert cli("scenario", "seed", "--workdir", str(tmp_path)).returncode == 0
    (tmp_path / "limsai.toml").write_text('rollout_phase = "write-back"\n', encoding="utf-8")
    return tmp_path


def run(workdir: Path, step: str, study: str, user: str, milestone: str = MILESTONE, **params: Any) -> Job:
    pairs = [f"{k}={v}" for k, v in params.items()]
    return run_synchronously(
        workdir,
        step=step,
        lims="embedded",
        record=f"study:{study}",
        user=user,
        milestone=milestone,
        params=pairs,
    )


def assemble(workdir: Path, study: str, user: str, milestone: str = MILESTONE) -> dict[str, Any]:
    job = run(workdir, "package.assemble", study, user, milestone, as_of=REFERENCE_TIME.isoformat())
    assert job.state.value == "succeeded", job.last_error
    assert job.result is not None
    return job.result


def package_documents(workdir: Path, sponsor: str, study: str) -> list[Document]:
    lims = open_lims(workdir)
    try:
        return [
            d
            for d in lims.list_documents(Scope(sponsor_id=sponsor, study_id=study))
            if "data-package/" in d.name
        ]
    finally:
        lims.close()


def sign(
    workdir: Path, document: str, user: str, meaning: str = "approval"
) -> subprocess.CompletedProcess[str]:
    return cli(
        "lims", "sign", "--workdir", str(workdir), "--document", document, "--as", user,
        "--meaning", meaning, "--json", password=f"demo-pass-{user}",
    )  # fmt: skip


def audit_actions(workdir: Path) -> list[str]:
    with AuditLog(workdir) as audit:
        return [e.record.action for e in audit.entries()]


def test_release_waits_for_the_study_directors_approval(workdir: Path) -> None:
    result = assemble(workdir, "AUR-STB-014", "hgreco")
    manifest_doc = result["drafts"][0]
    assert manifest_doc["name"] == "data-package/t24-pull-complete/manifest.json"
    before = package_documents(workdir, "SPN-AURORA", "AUR-STB-014")

    refused = run(workdir, "package.release", "AUR-STB-014", "hgreco")
    assert refused.state.value == "failed"
    assert "ReleaseRefused" in (refused.last_error or "")
    assert "no signature has been captured" in (refused.last_error or "")
    assert package_documents(workdir, "SPN-AURORA", "AUR-STB-014") == before  # nothing changed
    assert audit_actions(workdir).count("release_refused") == 1

    # A review signature by the study director is not an approval: still refused.
    assert sign(workdir, manifest_doc["document_id"], "hgreco", "review").returncode == 0
    again = run(workdir, "package.release", "AUR-STB-014", "hgreco")
    assert again.state.value == "failed" and "its meaning is review, not approval" in (again.last_error or "")

    signed = sign(workdir, manifest_doc["document_id"], "hgreco")
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["content_sha256"] == manifest_doc["sha256"]
    released = run(workdir, "package.release", "AUR-STB-014", "hgreco")
    assert released.state.value == "succeeded", released.last_error
    summary = released.result["summary"] if released.result else {}
    assert summary["signer"] == "hgreco" and summary["manifest_sha256"] == manifest_doc["sha256"]
    assert summary["manifestation"].startswith("Approved by Dr. Hugo Greco (hgreco) on ")
    assert summary["documents"] == len(result["drafts"])
    after = package_documents(workdir, "SPN-AURORA", "AUR-STB-014")
    assert {d.status for d in after} == {DocumentStatus.RELEASED}
    record = json.loads(Path(summary["release_record"]).read_text(encoding="utf-8"))
    assert record["status"] == "RELEASED" and record["manifest_sha256"] == manifest_doc["sha256"]
    assert "record_release" in audit_actions(workdir)


def test_release_by_document_id_is_idempotent(workdir: Path) -> None:
    result = assemble(workdir, "AUR-STB-014", "hgreco")
    manifest = result["drafts"][0]["document_id"]
    assert sign(workdir, manifest, "hgreco").returncode == 0
    first = run(workdir, "package.release", "AUR-STB-014", "hgreco", manifest_document=manifest)
    assert first.state.value == "succeeded", first.last_error
    lims = open_lims(workdir)
    trail = len(lims.list_audit_trail(Scope(sponsor_id="SPN-AURORA", study_id="AUR-STB-014")))
    lims.close()
    # The same release asked again under another milestone key: the LIMS writes nothing more.
    second = run(
        workdir, "package.release", "AUR-STB-014", "ochen", milestone="again", manifest_document=manifest
    )
    assert second.state.value == "succeeded", second.last_error
    assert second.result is not None and second.result["summary"]["replay"] is True
    lims = open_lims(workdir)
    assert len(lims.list_audit_trail(Scope(sponsor_id="SPN-AURORA", study_id="AUR-STB-014"))) == trail
    lims.close()


def test_a_sponsor_requiring_qa_review_needs_both_signatures(workdir: Path) -> None:
    result = assemble(workdir, "CAS-STB-031", "rpopescu", milestone="T12 pull complete")
    manifest = result["drafts"][0]["document_id"]
    assert sign(workdir, manifest, "rpopescu").returncode == 0
    refused = run(workdir, "package.release", "CAS-STB-031", "rpopescu", milestone="T12 pull complete")
    assert refused.state.value == "failed"
    assert "requires a review e-signature by a qa_reviewer" in (refused.last_error or "")
    assert sign(workdir, manifest, "ckowalczyk", "review").returncode == 0
    released = run(workdir, "package.release", "CAS-STB-031", "rpopescu", milestone="T12 pull complete")
    assert released.state.value == "succeeded", released.last_error


def test_a_changed_package_file_blocks_the_release(workdir: Path) -> None:
    result = assemble(workdir, "AUR-STB-014", "hgreco")
    assert sign(workdir, result["drafts"][0]["document_id"], "hgreco").returncode == 0
    part = result["drafts"][1]
    lims = open_lims(workdir)
    with lims.db.write() as conn:  # someone edits a stored file behind the LIMS's back
        conn.execute(
            "UPDATE documents SET content = ? WHERE document_id = ? AND version = ?",
            (b"tampered", part["document_id"], part["version"]),
        )
    lims.close()
    refused = run(workdir, "package.release", "AUR-STB-014", "hgreco")
    assert refused.state.value == "failed"
    assert f"file {part['name'].rsplit('/', 1)[1]} differs from the manifest" in (refused.last_error or "")
    statuses = {d.status for d in package_documents(workdir, "SPN-AURORA", "AUR-STB-014")}
    assert DocumentStatus.RELEASED not in statuses


def test_release_is_refused_outside_write_back_and_for_analysts(workdir: Path) -> None:
    result = assemble(workdir, "AUR-STB-014", "hgreco")
    assert sign(workdir, result["drafts"][0]["document_id"], "hgreco").returncode == 0
    analyst = run(workdir, "package.release", "AUR-STB-014", "thaddad")
    assert analyst.state.value == "failed" and "PermissionDenied" in (analyst.last_error or "")
    (workdir / "limsai.toml").write_text('rollout_phase = "review-assisted"\n', encoding="utf-8")
    phase = run(workdir, "package.release", "AUR-STB-014", "hgreco", milestone="other")
    assert phase.state.value == "failed" and "PhaseForbids" in (phase.last_error or "")
    assert DocumentStatus.RELEASED not in {
        d.status for d in package_documents(workdir, "SPN-AURORA", "AUR-STB-014")
    }
    assert audit_actions(workdir).count("step.refused") == 2


def test_release_of_a_missing_or_wrong_document_is_refused_and_audited(workdir: Path) -> None:
    nothing = run(workdir, "package.release", "AUR-STB-014", "hgreco")
    assert nothing.state.value == "failed" and "has no package" in (nothing.last_error or "")
    result = assemble(workdir, "AUR-STB-014", "hgreco")
    unknown = run(
        workdir, "package.release", "AUR-STB-014", "hgreco", milestone="x", manifest_document="DOC-999999"
    )
    assert unknown.state.value == "failed" and "no document document/DOC-999999" in (unknown.last_error or "")
    part = result["drafts"][1]["document_id"]  # a file of the package, not its manifest
    assert sign(workdir, part, "hgreco").returncode == 0
    wrong = run(workdir, "package.release", "AUR-STB-014", "hgreco", milestone="y", manifest_document=part)
    assert wrong.state.value == "failed" and "is not the manifest of an AI draft package" in (
        wrong.last_error or ""
    )
    assert audit_actions(workdir).count("release_refused") == 3
    assert DocumentStatus.RELEASED not in {
        d.status for d in package_documents(workdir, "SPN-AURORA", "AUR-STB-014")
    }
