"""E-signing in the embedded LIMS: the password is the second component (21 CFR 11.200), stored
salted and hashed; wrong passwords lock the signer out and are recorded in the LIMS audit trail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.embedded.signing import SigningLockedOut, find_document, set_password, sign_with_password
from limsai.lims.errors import LimsRejected
from limsai.lims.port import StudyScope
from limsai.model import AiAttribution, DocumentStatus, DraftDocument, SignatureMeaning
from limsai.testing.factories import tiny_dataset

A1 = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedLims:
    lims = EmbeddedLims(tmp_path / "lims.db")
    lims.load(tiny_dataset(), actor="t")
    set_password(lims, "sd.a", "correct horse battery", actor="admin")
    attribution = AiAttribution(step_id="package.assemble", step_version="1", run_id="r", on_behalf_of="sd.a")
    lims.attach_draft(
        A1,
        DraftDocument(
            name="pkg",
            filename="m.json",
            media_type="application/json",
            content=b"{}",
            attribution=attribution,
        ),
        idempotency_key="k",
    )
    return lims


def test_password_signing_binds_the_hash_and_approves(store: EmbeddedLims, tmp_path: Path) -> None:
    doc = find_document(store, "DOC-000001")
    signature = sign_with_password(
        store, doc, signer="sd.a", password="correct horse battery", meaning=SignatureMeaning.APPROVAL
    )
    assert signature.content_sha256 == doc.sha256 and signature.printed_name == "Dr A Director"
    assert find_document(store, "DOC-000001").status is DocumentStatus.APPROVED
    raw = (tmp_path / "lims.db").read_bytes()
    assert b"correct horse battery" not in raw


def test_wrong_passwords_lock_the_signer_out(store: EmbeddedLims) -> None:
    doc = find_document(store, "DOC-000001")
    for left in (2, 1):
        with pytest.raises(LimsRejected, match=f"{left} attempt"):
            sign_with_password(store, doc, signer="sd.a", password="wrong", meaning=SignatureMeaning.APPROVAL)
    with pytest.raises(SigningLockedOut, match="now locked out"):
        sign_with_password(store, doc, signer="sd.a", password="wrong", meaning=SignatureMeaning.APPROVAL)
    with pytest.raises(SigningLockedOut, match="locked out of signing"):
        sign_with_password(
            store, doc, signer="sd.a", password="correct horse battery", meaning=SignatureMeaning.APPROVAL
        )
    trail = [e.action for e in store.list_audit_trail(A1)]
    assert trail.count("signing_failed") == 2 and trail.count("signing_lockout") == 1
    assert store.list_signatures(A1) == []
    set_password(store, "sd.a", "a brand new password", actor="admin")  # an administrator's reset unlocks
    sign_with_password(
        store, doc, signer="sd.a", password="a brand new password", meaning=SignatureMeaning.REVIEW
    )


def test_no_password_and_short_password(store: EmbeddedLims) -> None:
    doc = find_document(store, "DOC-000001")
    with pytest.raises(LimsRejected, match="no signing password"):
        sign_with_password(store, doc, signer="sd.b", password="whatever1", meaning=SignatureMeaning.APPROVAL)
    with pytest.raises(LimsRejected, match="at least 8"):
        set_password(store, "sd.a", "short", actor="admin")


def test_cli_sign_with_the_documented_demo_password(tmp_path: Path) -> None:
    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "limsai.cli", *args]
        return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=300)

    assert run("scenario", "seed", "--workdir", str(tmp_path)).returncode == 0
    first = run("run", "status.update", "--workdir", str(tmp_path), "--record", "study:AUR-STB-014", "--json")
    manifest = json.loads(first.stdout)["drafts"][0]["document_id"]
    bad = run(
        "lims",
        "sign",
        "--workdir",
        str(tmp_path),
        "--document",
        manifest,
        "--as",
        "hgreco",
        "--json",
        LIMSAI_SIGN_PASSWORD="not-it-at-all",
    )
    assert bad.returncode == 4 and "wrong password" in json.loads(bad.stdout)["error"]["message"]
    ok = run(
        "lims",
        "sign",
        "--workdir",
        str(tmp_path),
        "--document",
        manifest,
        "--as",
        "hgreco",
        "--json",
        LIMSAI_SIGN_PASSWORD="demo-pass-hgreco",
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    signature = json.loads(ok.stdout)
    assert signature["meaning"] == "approval" and signature["printed_name"] and signature["content_sha256"]
