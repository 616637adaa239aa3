"""Every port method of the embedded reference LIMS: scope, exact values, idempotent writes,
signatures bound to content, the append-only LIMS audit trail, all-or-nothing loads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.errors import CapabilityMissing, LimsRejected, LimsUnavailable, NotFound
from limsai.lims.port import Capability, LimsAdapter, Scope, StudyScope, require
from limsai.model import (
    AiAttribution,
    DocumentStatus,
    DraftDocument,
    LimsDataset,
    Sample,
    SampleKind,
    SignatureMeaning,
    SignatureRequest,
    TaskRequest,
)
from limsai.testing.factories import tiny_dataset

A = Scope(sponsor_id="SPN-A")
B = Scope(sponsor_id="SPN-B")
A1 = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
ATTR = AiAttribution(step_id="package.assemble", step_version="1.0", run_id="run-1", on_behalf_of="sd.a")


def draft(content: bytes = b"%PDF-1.7 package", name: str = "T3 data package") -> DraftDocument:
    return DraftDocument(
        name=name,
        filename="package.pdf",
        media_type="application/pdf",
        content=content,
        milestone="T3 pull complete",
        attribution=ATTR,
    )


def test_is_a_lims_adapter_with_every_capability(lims: EmbeddedLims) -> None:
    assert isinstance(lims, LimsAdapter)
    require(lims, *Capability)
    assert lims.vendor == "embedded" and lims.name == "embedded"


def test_require_names_missing_capabilities() -> None:
    class Partial:
        name, vendor, capabilities = "x", "labware", frozenset({Capability.READ_STUDIES})

    with pytest.raises(CapabilityMissing, match=r"does not offer: documents\.attach_draft, results\.read"):
        require(Partial(), Capability.READ_RESULTS, Capability.ATTACH_DRAFTS)  # type: ignore[arg-type]


READS = [
    "list_studies",
    "list_conditions",
    "list_timepoints",
    "list_samples",
    "list_tests",
    "list_results",
    "list_specifications",
    "list_deviations",
    "list_documents",
    "list_tasks",
    "list_signatures",
]


@pytest.mark.parametrize("method", READS)
def test_reads_return_only_the_scope(lims: EmbeddedLims, method: str) -> None:
    for scope in (A, B):
        records = getattr(lims, method)(scope)
        assert all(r.sponsor_id == scope.sponsor_id for r in records)
    assert getattr(lims, method)(Scope(sponsor_id="SPN-NOBODY")) == []


def test_read_values_and_counts(lims: EmbeddedLims) -> None:
    assert [s.study_id for s in lims.list_studies(A)] == ["STB-A-1"]
    results = lims.list_results(A1)
    assert [r.value for r in results] == ["100.2", "99.50"]
    assert [s.describe() for s in lims.list_specifications(A1)] == ["95.0 - 105.0 %"]
    assert [t.label for t in lims.list_timepoints(A1)] == ["T0", "T3"]
    assert len(lims.list_samples(A1)) == 2 and len(lims.list_tests(A1)) == 2
    assert [c.label for c in lims.list_conditions(A1)] == ["25°C/60%RH"]
    assert [d.title for d in lims.list_deviations(A1)] == ["Late pull"]
    assert lims.list_results(StudyScope(sponsor_id="SPN-A", study_id="STB-B-1")) == []
    assert {u.user_id for u in lims.list_users()} == {"admin", "sd.a", "sd.b"}


def test_lab_resources_follow_the_scopes_results(lims: EmbeddedLims) -> None:
    assert [i.instrument_id for i in lims.list_instruments(A1)] == ["HPLC-01"]
    assert [c.calibration_id for c in lims.list_calibrations(A1)] == ["CAL-HPLC-01-2026"]
    assert [r.lot_id for r in lims.list_reagent_lots(A1)] == ["LOT-RS-001"]
    assert lims.list_instruments(Scope(sponsor_id="SPN-NOBODY")) == []


def test_get_study_and_user_not_found(lims: EmbeddedLims) -> None:
    assert lims.get_study(A1).protocol_number == "A-STB-001"
    with pytest.raises(NotFound, match="STB-B-1 not found for sponsor SPN-A"):
        lims.get_study(StudyScope(sponsor_id="SPN-A", study_id="STB-B-1"))
    assert lims.get_user("sd.a").display_name == "Dr A Director"
    with pytest.raises(NotFound):
        lims.get_user("nobody")


def test_attach_draft_is_a_versioned_idempotent_draft(lims: EmbeddedLims) -> None:
    first = lims.attach_draft(A1, draft(), idempotency_key="k1")
    again = lims.attach_draft(A1, draft(), idempotency_key="k1")
    assert first == again and first.status is DocumentStatus.DRAFT and first.version == 1
    assert first.created_by == "ai:package.assemble" and first.attribution == ATTR
    assert len(lims.list_documents(A1)) == 1
    assert lims.get_document_content(A1, first.document_id, 1) == b"%PDF-1.7 package"
    with pytest.raises(LimsRejected, match="already used for different content"):
        lims.attach_draft(A1, draft(b"other"), idempotency_key="k1")
    second = lims.attach_draft(A1, draft(b"v2"), idempotency_key="k2")
    assert (second.document_id, second.version) == (first.document_id, 2)
    statuses = {d.version: d.status for d in lims.list_documents(A1)}
    assert statuses == {1: DocumentStatus.SUPERSEDED, 2: DocumentStatus.DRAFT}
    trail = lims.list_audit_trail(A1, record_id=f"{first.document_id}/v1")
    assert [(e.action, e.new_value) for e in trail] == [
        ("attach_draft", first.sha256),
        ("status_change", "superseded"),
    ]
    assert lims.list_documents(B) == []


def test_attach_draft_outside_scope_is_not_found(lims: EmbeddedLims) -> None:
    with pytest.raises(NotFound):
        lims.attach_draft(StudyScope(sponsor_id="SPN-A", study_id="STB-B-1"), draft(), idempotency_key="x")
    with pytest.raises(NotFound):
        lims.get_document_content(StudyScope(sponsor_id="SPN-B", study_id="STB-B-1"), "DOC-000001", 1)


def test_create_task_idempotent_and_checked(lims: EmbeddedLims) -> None:
    doc = lims.attach_draft(A1, draft(), idempotency_key="k1")
    request = TaskRequest(
        title="Review T3 package", assignee="sd.a", document_id=doc.document_id, document_version=1
    )
    task = lims.create_task(A1, request, idempotency_key="t1")
    assert lims.create_task(A1, request, idempotency_key="t1") == task
    assert [t.task_id for t in lims.list_tasks(A1)] == [task.task_id]
    with pytest.raises(LimsRejected, match="not active or not entitled to sponsor SPN-A"):
        lims.create_task(A1, request.model_copy(update={"assignee": "sd.b"}), idempotency_key="t2")
    with pytest.raises(LimsRejected, match="unknown LIMS user"):
        lims.create_task(A1, request.model_copy(update={"assignee": "ghost"}), idempotency_key="t3")
    with pytest.raises(LimsRejected, match="different task"):
        lims.create_task(A1, request.model_copy(update={"document_id": None}), idempotency_key="t1")
    assert len(lims.list_tasks(A1)) == 1


def test_signature_binds_content_and_moves_status(lims: EmbeddedLims) -> None:
    doc = lims.attach_draft(A1, draft(), idempotency_key="k1")
    ok = SignatureRequest(
        document_id=doc.document_id,
        version=1,
        signer="sd.a",
        printed_name="Dr A Director",
        meaning=SignatureMeaning.APPROVAL,
        content_sha256=doc.sha256,
    )
    with pytest.raises(LimsRejected, match="does not bind"):
        lims.record_signature(A1, ok.model_copy(update={"content_sha256": "0" * 64}))
    with pytest.raises(LimsRejected, match="printed name"):
        lims.record_signature(A1, ok.model_copy(update={"printed_name": "Someone Else"}))
    with pytest.raises(LimsRejected, match="not entitled"):
        lims.record_signature(A1, ok.model_copy(update={"signer": "sd.b", "printed_name": "Dr B Director"}))
    signature = lims.record_signature(A1, ok)
    assert signature.content_sha256 == doc.sha256 and signature.printed_name == "Dr A Director"
    assert signature.signed_at.tzinfo is not None
    assert lims.list_signatures(A1, doc.document_id) == [signature]
    assert lims.list_documents(A1)[0].status is DocumentStatus.APPROVED
    assert lims.list_signatures(B) == []


def test_lims_audit_trail_is_append_only(lims: EmbeddedLims, tmp_path: Path) -> None:
    lims.attach_draft(A1, draft(), idempotency_key="k1")
    conn = sqlite3.connect(tmp_path / "lims.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE lims_audit SET data = '{}'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM lims_audit")
    conn.close()
    assert all(e.sponsor_id == "SPN-A" for e in lims.list_audit_trail(A))


def test_load_is_all_or_nothing(lims: EmbeddedLims) -> None:
    before = {t: lims.count(t) for t in ("samples", "results", "studies")}
    bad = LimsDataset(
        samples=[
            Sample(sample_id="NEW-1", study_id="STB-A-1", sponsor_id="SPN-A", kind=SampleKind.PK),
            Sample(sample_id="NEW-2", study_id="STB-A-1", sponsor_id="SPN-B", kind=SampleKind.PK),
        ]
    )
    with pytest.raises(
        LimsRejected, match="sample NEW-2 says sponsor 'SPN-B' but study STB-A-1 belongs to 'SPN-A'"
    ):
        lims.load(bad, actor="t")
    with pytest.raises(LimsRejected, match="already exists in the LIMS"):
        lims.load(tiny_dataset(("SPN-A",)), actor="t")
    assert {t: lims.count(t) for t in before} == before
    lims.load(LimsDataset(samples=bad.samples[:1]), actor="t")
    assert lims.count("samples") == before["samples"] + 1


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lims.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LimsRejected, match="not a usable LIMS database"):
        EmbeddedLims(path)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    sponsor=st.sampled_from(["SPN-A", "SPN-B", "SPN-C"]), study=st.sampled_from([None, "STB-A-1", "STB-B-1"])
)
def test_no_read_crosses_scope(lims: EmbeddedLims, sponsor: str, study: str | None) -> None:
    scope = Scope(sponsor_id=sponsor, study_id=study)
    for method in [*READS, "list_audit_trail"]:
        for record in getattr(lims, method)(scope):
            assert scope.admits(record.sponsor_id, record.study_id), (method, record)
    for sample in lims.list_samples(scope):
        assert f"CANARY-{sponsor.split('-')[1].lower()}" in sample.comment


def test_a_locked_database_is_transient_and_writes_nothing(lims: EmbeddedLims, tmp_path: Path) -> None:
    impatient = EmbeddedLims(tmp_path / "lims.db", busy_timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "lims.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LimsUnavailable) as caught:
            impatient.attach_draft(A1, draft(), idempotency_key="k1")
        assert caught.value.transient
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert impatient.list_documents(A1) == []
    assert impatient.attach_draft(A1, draft(), idempotency_key="k1").version == 1


def test_same_seed_gives_the_same_lims_records(tmp_path: Path) -> None:
    from limsai.lims.scenario import generate

    def records(path: Path) -> dict[str, list[tuple[str, str]]]:
        store = EmbeddedLims(path)
        store.load(generate(seed=11).dataset, actor="system:test")
        conn = sqlite3.connect(path)
        tables = ("sponsors", "users", "studies", "samples", "tests", "results", "specifications")
        out = {t: conn.execute(f"SELECT id, data FROM {t} ORDER BY pk").fetchall() for t in tables}
        conn.close()
        return out

    first, second = records(tmp_path / "a.db"), records(tmp_path / "b.db")
    assert first == second and len(first["results"]) > 1000


def test_only_a_person_may_e_sign(lims: EmbeddedLims) -> None:
    from limsai.model import LimsDataset, Principal, PrincipalKind, Role

    bot = Principal(
        user_id="svc.bot",
        display_name="Bot",
        roles=(Role.STUDY_DIRECTOR,),
        sponsors=("SPN-A",),
        kind=PrincipalKind.AI_AGENT,
    )
    lims.load(LimsDataset(users=[bot]), actor="t")
    doc = lims.attach_draft(A1, draft(), idempotency_key="k1")
    request = SignatureRequest(
        document_id=doc.document_id,
        version=1,
        signer="svc.bot",
        printed_name="Bot",
        meaning=SignatureMeaning.APPROVAL,
        content_sha256=doc.sha256,
    )
    with pytest.raises(LimsRejected, match="ai_agent account; only a person may e-sign"):
        lims.record_signature(A1, request)
    assert lims.list_signatures(A1) == []
