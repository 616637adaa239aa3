"""The scoped gateway: scope re-checked on every record, RBAC, blinding, rollout phases, AI-forbidden
operations, one audit entry per call — and a negative test for each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from limsai.governance.context import ClientProjectContext
from limsai.governance.errors import AttributionMismatch, ForbiddenOperation, PermissionDenied, PhaseForbids
from limsai.governance.gateway import ScopedGateway, records_hash
from limsai.governance.identity import AgentIdentity
from limsai.governance.policy import RolloutPhase
from limsai.lims.embedded import EmbeddedLims
from limsai.lims.errors import NotFound, ScopeViolation
from limsai.lims.port import StudyScope
from limsai.model import (
    DocumentStatus,
    DraftDocument,
    LimsDataset,
    Principal,
    Role,
    Sample,
    SampleKind,
    SignatureMeaning,
    SignatureRequest,
    TaskRequest,
)
from limsai.testing.audit import ListAuditSink
from limsai.testing.factories import tiny_dataset

AGENT = AgentIdentity(step_id="package.assemble", step_version="1.0.0")
A1 = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
READS = [
    "get_study",
    "list_conditions",
    "list_timepoints",
    "list_samples",
    "list_tests",
    "list_results",
    "list_specifications",
    "list_instruments",
    "list_calibrations",
    "list_reagent_lots",
    "list_deviations",
    "list_documents",
    "list_tasks",
    "list_signatures",
    "list_audit_trail",
]
EXTRA_USERS = [
    Principal(user_id="qa.a", display_name="QA A", roles=(Role.QA_REVIEWER,), sponsors=("SPN-A",)),
    Principal(user_id="an.a", display_name="Analyst A", roles=(Role.ANALYST,), sponsors=("SPN-A",)),
    Principal(user_id="adm.a", display_name="Admin A", roles=(Role.LIMS_ADMIN,), sponsors=("SPN-A",)),
    Principal(
        user_id="unb.a",
        display_name="Unblinded A",
        roles=(Role.STUDY_DIRECTOR,),
        sponsors=("SPN-A",),
        unblinded=True,
    ),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedLims]:
    ds = tiny_dataset()
    ds.users.extend(EXTRA_USERS)
    ds.samples.append(
        Sample(
            sample_id="PK-A-001",
            study_id="STB-A-1",
            sponsor_id="SPN-A",
            kind=SampleKind.PK,
            subject_id="S01",
            treatment_arm="Active 50 mg",
            randomisation_code="R-0042",
        )
    )
    lims = EmbeddedLims(tmp_path / "lims.db")
    lims.load(ds, actor="system:test")
    yield lims
    lims.close()


def gateway(
    lims: Any, user: str = "sd.a", phase: RolloutPhase = RolloutPhase.REVIEW_ASSISTED, scope: StudyScope = A1
) -> tuple[ScopedGateway, ListAuditSink]:
    ctx = ClientProjectContext.for_study(
        lims, scope, user_id=user, agent=AGENT, rollout_phase=phase, run_id="run-1"
    )
    sink = ListAuditSink()
    return ScopedGateway(lims, ctx, sink), sink


def draft(gw: ScopedGateway, content: bytes = b"package") -> DraftDocument:
    return DraftDocument(
        name="T3 package",
        filename="p.pdf",
        media_type="application/pdf",
        content=content,
        attribution=gw.attribution(),
    )


@pytest.mark.parametrize("method", READS)
def test_each_read_is_scoped_and_audited_once(store: EmbeddedLims, method: str) -> None:
    gw, sink = gateway(store)
    got = getattr(gw, method)()
    records = got if isinstance(got, list) else [got]
    for record in records:
        assert getattr(record, "sponsor_id", "SPN-A") == "SPN-A"
        assert getattr(record, "study_id", "STB-A-1") in ("STB-A-1", None)
    assert sink.actions() == ["read"]
    entry = sink.records[0]
    assert entry.details["count"] == len(records) and entry.details["method"] == method
    assert entry.actor_id == "ai:package.assemble@1.0.0" and entry.on_behalf_of == "sd.a"
    assert entry.new_hash == records_hash(records)
    assert entry.record == f"study/STB-A-1/{method.removeprefix('list_').removeprefix('get_')}"
    assert (entry.sponsor_id, entry.study_id, entry.run_id) == ("SPN-A", "STB-A-1", "run-1")


def test_values_come_back_exactly(store: EmbeddedLims) -> None:
    gw, _ = gateway(store)
    assert [r.value for r in gw.list_results()] == ["100.2", "99.50"]


def test_context_refuses_other_sponsors_users_and_ai_principals(store: EmbeddedLims) -> None:
    with pytest.raises(ScopeViolation, match="not entitled to sponsor SPN-A"):
        gateway(store, user="sd.b")
    with pytest.raises(ScopeViolation, match="not a human principal"):
        gateway(store, user="ai:package.assemble")
    with pytest.raises(NotFound):
        gateway(store, scope=StudyScope(sponsor_id="SPN-A", study_id="STB-B-1"))


def test_gateway_refuses_a_context_whose_principal_cannot_see_the_sponsor(store: EmbeddedLims) -> None:
    gw, _ = gateway(store)
    outsider = store.get_user("sd.b")
    sink = ListAuditSink()
    with pytest.raises(ScopeViolation):
        ScopedGateway(store, gw.context.model_copy(update={"principal": outsider}), sink)
    assert sink.actions() == ["security.scope_violation"]


class LeakyAdapter:
    """An adapter whose every read also returns a record of another sponsor's study."""

    def __init__(self, inner: EmbeddedLims) -> None:
        self.inner = inner
        self.other = StudyScope(sponsor_id="SPN-B", study_id="STB-B-1")

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if not name.startswith(("list_", "get_study")) or name in {"list_users"}:
            return real

        def leaky(scope: Any, *args: Any) -> Any:
            mine = real(scope, *args)
            theirs = real(self.other, *args)
            if name == "get_study":
                return theirs
            return [*mine, *theirs[:1]] if theirs else mine

        return leaky


LAB_WIDE = {"list_instruments", "list_calibrations", "list_reagent_lots"}  # no sponsor to cross
SCOPED_READS = [m for m in READS if m not in LAB_WIDE]


@pytest.mark.parametrize("method", SCOPED_READS)
def test_a_foreign_record_fails_the_call_closed(store: EmbeddedLims, method: str) -> None:
    gw, _ = gateway(store)
    leaky_gw = ScopedGateway(LeakyAdapter(store), gw.context, sink := ListAuditSink())  # type: ignore[arg-type]
    b_scope = StudyScope(sponsor_id="SPN-B", study_id="STB-B-1")
    b_draft = draft(gw).model_copy(
        update={"attribution": gw.attribution().model_copy(update={"on_behalf_of": "sd.b"})}
    )
    doc = store.attach_draft(b_scope, b_draft, idempotency_key="b")
    store.create_task(b_scope, TaskRequest(title="Review", assignee="sd.b"), idempotency_key="bt")
    store.record_signature(
        b_scope,
        SignatureRequest(
            document_id=doc.document_id,
            version=1,
            signer="sd.b",
            printed_name="Dr B Director",
            meaning=SignatureMeaning.REVIEW,
            content_sha256=doc.sha256,
        ),
    )
    with pytest.raises(ScopeViolation, match="outside sponsor SPN-A"):
        getattr(leaky_gw, method)()
    assert sink.actions() == ["security.scope_violation"]
    assert sink.records[0].details["dropped"] >= 1
    assert "CANARY-b" not in sink.dump()


DENIALS = (
    [("adm.a", m) for m in READS if m != "list_audit_trail"]
    + [("adm.a", "get_document_content"), ("an.a", "list_audit_trail")]
    + [("qa.a", "attach_draft"), ("qa.a", "create_task"), ("an.a", "create_task"), ("adm.a", "attach_draft")]
)


@pytest.mark.parametrize("user,method", DENIALS)
def test_missing_role_is_denied_and_audited(store: EmbeddedLims, user: str, method: str) -> None:
    gw, sink = gateway(store, user=user)
    calls = {
        "attach_draft": lambda: gw.attach_draft(draft(gw), idempotency_key="k"),
        "create_task": lambda: gw.create_task(
            TaskRequest(title="Review", assignee="sd.a"), idempotency_key="t"
        ),
        "get_document_content": lambda: gw.get_document_content("DOC-000001", 1),
    }
    with pytest.raises(PermissionDenied, match=f"{user}'s roles do not grant"):
        calls.get(method, getattr(gw, method))()
    assert sink.actions() == ["denied"]
    assert store.list_documents(A1) == [] and store.list_tasks(A1) == []


def test_document_content_of_another_sponsor_is_not_found(store: EmbeddedLims) -> None:
    gw, _ = gateway(store)
    b_scope = StudyScope(sponsor_id="SPN-B", study_id="STB-B-1")
    b_draft = draft(gw).model_copy(
        update={"attribution": gw.attribution().model_copy(update={"on_behalf_of": "sd.b"})}
    )
    doc = store.attach_draft(b_scope, b_draft, idempotency_key="b")
    with pytest.raises(NotFound):
        gw.get_document_content(doc.document_id, 1)
    mine = gw.attach_draft(draft(gw), idempotency_key="a")
    assert gw.get_document_content(mine.document_id, 1) == b"package"


def test_qa_may_read_the_audit_trail_and_analyst_may_draft(store: EmbeddedLims) -> None:
    gateway(store, user="qa.a")[0].list_audit_trail()
    gw, _ = gateway(store, user="an.a")
    assert gw.attach_draft(draft(gw), idempotency_key="k").status is DocumentStatus.DRAFT


def test_blinded_fields_removed_unless_unblinded(store: EmbeddedLims) -> None:
    gw, sink = gateway(store)
    pk = next(s for s in gw.list_samples() if s.sample_id == "PK-A-001")
    assert (pk.treatment_arm, pk.randomisation_code, pk.subject_id) == (None, None, "S01")
    assert sink.records[-1].details["blinded_values_removed"] == 2
    assert "Active 50 mg" not in sink.dump()
    unblinded, sink2 = gateway(store, user="unb.a")
    pk = next(s for s in unblinded.list_samples() if s.sample_id == "PK-A-001")
    assert (pk.treatment_arm, pk.randomisation_code) == ("Active 50 mg", "R-0042")
    assert "blinded_values_removed" not in sink2.records[-1].details


def test_read_only_phase_refuses_every_write(store: EmbeddedLims) -> None:
    gw, sink = gateway(store, phase=RolloutPhase.READ_ONLY)
    assert gw.list_results()  # reads are fine
    with pytest.raises(PhaseForbids, match=r"read-only does not allow drafts\.write"):
        gw.attach_draft(draft(gw), idempotency_key="k")
    with pytest.raises(PhaseForbids, match=r"read-only does not allow tasks\.create"):
        gw.create_task(TaskRequest(title="Review", assignee="sd.a"), idempotency_key="t")
    assert sink.actions() == ["read", "denied", "denied"]
    assert store.list_documents(A1) == [] and store.list_tasks(A1) == []


def test_draft_attach_and_task_in_review_assisted_phase(store: EmbeddedLims) -> None:
    gw, sink = gateway(store)
    doc = gw.attach_draft(draft(gw), idempotency_key="k")
    assert doc.status is DocumentStatus.DRAFT and doc.attribution == gw.attribution()
    assert gw.attach_draft(draft(gw), idempotency_key="k") == doc  # a retry writes nothing
    task = gw.create_task(
        TaskRequest(
            title="Review T3 package", assignee="sd.a", document_id=doc.document_id, document_version=1
        ),
        idempotency_key="t",
    )
    assert len(store.list_documents(A1)) == 1 and store.list_tasks(A1) == [task]
    assert sink.actions() == ["attach_draft", "attach_draft", "create_task"]
    assert (
        sink.records[0].new_hash == doc.sha256 and sink.records[0].record == f"document/{doc.document_id}/v1"
    )
    assert sink.records[1].details["replay"] is True


def test_draft_with_foreign_attribution_is_refused(store: EmbeddedLims) -> None:
    gw, sink = gateway(store)
    forged = draft(gw).model_copy(
        update={"attribution": gw.attribution().model_copy(update={"on_behalf_of": "qa.a"})}
    )
    with pytest.raises(AttributionMismatch):
        gw.attach_draft(forged, idempotency_key="k")
    assert sink.actions() == ["denied"] and store.list_documents(A1) == []


@pytest.mark.parametrize("operation", ["sign", "approve", "release", "delete"])
def test_ai_agent_can_never_sign_approve_release_or_delete(store: EmbeddedLims, operation: str) -> None:
    gw, sink = gateway(store, phase=RolloutPhase.WRITE_BACK)
    doc = gw.attach_draft(draft(gw), idempotency_key="k")
    with pytest.raises(ForbiddenOperation, match=f"may never {operation}"):
        getattr(gw, operation)(doc.document_id)
    assert sink.actions()[-1] == "security.forbidden_operation"
    assert store.list_signatures(A1) == [] and store.list_documents(A1)[0].status is DocumentStatus.DRAFT
    assert not hasattr(gw, "record_signature")


def test_a_service_account_cannot_trigger_a_step(store: EmbeddedLims) -> None:
    from limsai.model import PrincipalKind

    bot = Principal(
        user_id="svc.pipeline",
        display_name="Pipeline",
        roles=(Role.STUDY_DIRECTOR,),
        sponsors=("SPN-A",),
        kind=PrincipalKind.SYSTEM,
    )
    store.load(LimsDataset(users=[bot]), actor="t")
    with pytest.raises(ScopeViolation, match="system account"):
        gateway(store, user="svc.pipeline")
    gw, _ = gateway(store)
    with pytest.raises(ScopeViolation):
        ScopedGateway(store, gw.context.model_copy(update={"principal": bot}), ListAuditSink())
