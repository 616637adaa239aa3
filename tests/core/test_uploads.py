"""Filing a sponsor document on a study in the embedded LIMS: an APPROVED version created by the
person who filed it (no AI attribution), written with its LIMS audit-trail event; a new version
under the same name supersedes the one in force; users outside the sponsor, empty files and names
of AI drafts are refused and write nothing."""

from __future__ import annotations

import hashlib

import pytest

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.embedded.uploads import upload_document
from limsai.lims.errors import LimsRejected, NotFound
from limsai.lims.port import StudyScope
from limsai.model import AiAttribution, Document, DocumentStatus, DraftDocument

A1 = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
PDF = b"%PDF-1.7 sponsor protocol v1"


def file_protocol(
    lims: EmbeddedLims, content: bytes = PDF, user: str = "sd.a", scope: StudyScope = A1
) -> Document:
    return upload_document(
        lims,
        scope,
        name="Clinical study protocol",
        filename="protocol.pdf",
        media_type="application/pdf",
        content=content,
        uploaded_by=user,
        description="received from the sponsor",
    )


def state(lims: EmbeddedLims) -> tuple[int, int]:
    return len(lims.list_documents(A1)), len(lims.list_audit_trail(A1))


def test_upload_is_an_approved_human_document_with_its_audit_event(lims: EmbeddedLims) -> None:
    trail = len(lims.list_audit_trail(A1))
    doc = file_protocol(lims)
    assert (doc.version, doc.status, doc.created_by) == (1, DocumentStatus.APPROVED, "sd.a")
    assert doc.attribution is None and not doc.ai_generated
    assert doc.sha256 == hashlib.sha256(PDF).hexdigest() and doc.size == len(PDF)
    assert lims.list_documents(A1) == [doc]
    assert lims.get_document_content(A1, doc.document_id, 1) == PDF
    events = lims.list_audit_trail(A1)[trail:]
    assert len(events) == 1
    event = events[0]
    assert (event.action, event.user_id, event.record_id) == (
        "upload_document",
        "sd.a",
        f"{doc.document_id}/v1",
    )
    assert event.new_value == doc.sha256 and event.reason == "received from the sponsor"
    assert event.details == {"filename": "protocol.pdf", "media_type": "application/pdf", "size": len(PDF)}


def test_a_new_version_supersedes_the_one_in_force(lims: EmbeddedLims) -> None:
    first = file_protocol(lims)
    second = file_protocol(lims, b"%PDF-1.7 amendment 1")
    assert (second.document_id, second.version, second.status) == (
        first.document_id,
        2,
        DocumentStatus.APPROVED,
    )
    statuses = {d.version: d.status for d in lims.list_documents(A1)}
    assert statuses == {1: DocumentStatus.SUPERSEDED, 2: DocumentStatus.APPROVED}
    change = [e for e in lims.list_audit_trail(A1) if e.action == "status_change"]
    assert [(e.record_id, e.user_id, e.new_value) for e in change] == [
        (f"{first.document_id}/v1", "sd.a", "superseded")
    ]


@pytest.mark.parametrize(
    ("user", "problem"),
    [("sd.b", "not entitled to sponsor SPN-A"), ("nobody", "unknown LIMS user 'nobody'")],
)
def test_only_a_user_of_the_sponsor_may_file(lims: EmbeddedLims, user: str, problem: str) -> None:
    before = state(lims)
    with pytest.raises(LimsRejected, match=problem):
        file_protocol(lims, user=user)
    assert state(lims) == before


def test_empty_file_and_unknown_study_are_refused(lims: EmbeddedLims) -> None:
    before = state(lims)
    with pytest.raises(LimsRejected, match="empty"):
        file_protocol(lims, b"")
    with pytest.raises(NotFound):
        file_protocol(lims, scope=StudyScope(sponsor_id="SPN-A", study_id="STB-B-1"))
    assert state(lims) == before


def test_the_name_of_an_ai_draft_is_refused(lims: EmbeddedLims) -> None:
    attribution = AiAttribution(
        step_id="protocol.ingest", step_version="1.0.0", run_id="run-1", on_behalf_of="sd.a"
    )
    draft = DraftDocument(
        name="Clinical study protocol",
        filename="plan.json",
        media_type="application/json",
        content=b"{}",
        attribution=attribution,
    )
    lims.attach_draft(A1, draft, idempotency_key="run-1:plan")
    before = state(lims)
    with pytest.raises(LimsRejected, match="names an AI draft"):
        file_protocol(lims)
    assert state(lims) == before
    assert [d.status for d in lims.list_documents(A1)] == [DocumentStatus.DRAFT]
