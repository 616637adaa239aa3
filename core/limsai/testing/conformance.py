"""The adapter conformance suite: pytest tests every LIMS adapter must pass against its LIMS (or its
vendor simulator), in the spirit of SQLAlchemy's dialect test suite.

An adapter's test module subclasses :class:`AdapterConformance` and implements :meth:`open_target`,
which loads a dataset into a fresh LIMS and yields a :class:`ConformanceTarget`: the adapter under
test, a reference embedded LIMS holding the same dataset, and a counter of the LIMS calls the adapter
made. The suite then checks the rules of :mod:`limsai.lims.port`: every read equals the reference's
read for the same scope (model-equal), nothing outside the scope comes back, reads cost O(pages)
calls, drafts and tasks are idempotent on their key, signatures bind the sha256, release is checked
and idempotent, and errors carry their kind (``NotFound``, ``LimsRejected``, ``LimsUnavailable``).

    class TestMyAdapter(AdapterConformance):
        @contextmanager
        def open_target(self, dataset, workdir):
            ...
            yield ConformanceTarget(adapter=..., reference=..., calls=..., page_size=...)
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.errors import LimsRejected, LimsUnavailable, NotFound
from limsai.lims.port import Capability, LimsAdapter, Scope, StudyScope
from limsai.model import (
    AiAttribution,
    DocumentRef,
    DocumentStatus,
    DraftDocument,
    LimsDataset,
    ReleaseRequest,
    SignatureMeaning,
    SignatureRequest,
    TaskRequest,
)
from limsai.testing.factories import bulk_results, tiny_dataset

BULK_RESULTS = 300
"""Extra results in the first study, so that a paged read takes several pages."""

SCOPED_READS = (
    "list_studies",
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
)

A = Scope(sponsor_id="SPN-A")
B = Scope(sponsor_id="SPN-B")
A1 = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
B1 = StudyScope(sponsor_id="SPN-B", study_id="STB-B-1")
ATTRIBUTION = AiAttribution(
    step_id="package.assemble", step_version="1.0", run_id="run-conf", on_behalf_of="sd.a"
)


@dataclass
class ConformanceTarget:
    """What the suite tests: ``adapter`` over a LIMS loaded with the dataset, ``reference`` (an
    embedded LIMS loaded with the same dataset), ``calls()`` counting LIMS calls made so far by the
    adapter, the adapter's ``page_size``, and optionally ``make_unavailable()``, after which every
    call must fail with :class:`LimsUnavailable`."""

    adapter: LimsAdapter
    reference: EmbeddedLims
    calls: Callable[[], int]
    page_size: int
    make_unavailable: Callable[[], None] | None = None


def conformance_dataset() -> LimsDataset:
    """Two sponsors' tiny datasets, the first study grown to a few pages of results."""
    dataset = tiny_dataset()
    bulk_results(dataset, dataset.studies[0], BULK_RESULTS)
    return dataset


def load_with_reference(dataset: LimsDataset, path: Path, *, page_size: int) -> EmbeddedLims:
    """Load ``dataset`` into a new embedded store at ``path`` (the store a simulator serves) and
    return an exact copy of it as the reference: the copy shares the load's audit rows and times."""
    store = EmbeddedLims(path, page_size=page_size)
    try:
        store.load(dataset, actor="system:conformance")
    finally:
        store.close()
    copy = path.with_name(path.stem + "-reference" + path.suffix)
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    source.close()
    target.close()
    return EmbeddedLims(copy, page_size=page_size)


def draft(content: bytes = b"%PDF-1.7 conformance package", name: str = "T3 data package") -> DraftDocument:
    return DraftDocument(
        name=name,
        filename="package.pdf",
        media_type="application/pdf",
        content=content,
        milestone="T3 pull complete",
        description="conformance draft",
        attribution=ATTRIBUTION,
    )


def _read(lims: Any, method: str, scope: Scope) -> list[Any]:
    return list(getattr(lims, method)(scope))


class AdapterConformance:
    """Subclass in a test module (name it ``Test…``) and implement :meth:`open_target`."""

    def open_target(self, dataset: LimsDataset, workdir: Path) -> AbstractContextManager[ConformanceTarget]:
        raise NotImplementedError("a conformance test class implements open_target(dataset, workdir)")

    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[ConformanceTarget]:
        with self.open_target(conformance_dataset(), tmp_path) as target:
            yield target

    # -- identity --------------------------------------------------------------------------------
    def test_is_a_lims_adapter(self, target: ConformanceTarget) -> None:
        adapter = target.adapter
        assert isinstance(adapter, LimsAdapter)
        assert adapter.name and adapter.vendor == adapter.vendor.lower()
        assert set(adapter.capabilities) <= set(Capability)

    # -- reads equal the reference -----------------------------------------------------------------
    @pytest.mark.parametrize("method", SCOPED_READS)
    def test_reads_equal_the_reference(self, target: ConformanceTarget, method: str) -> None:
        for scope in (A, B, A1, B1, Scope(sponsor_id="SPN-NONE")):
            got = _read(target.adapter, method, scope)
            assert got == _read(target.reference, method, scope), f"{method}({scope})"

    def test_reads_carry_exact_values(self, target: ConformanceTarget) -> None:
        results = target.adapter.list_results(A1)
        by_id = {r.result_id: r for r in target.reference.list_results(A1)}
        assert len(results) == len(by_id) > BULK_RESULTS
        assert len({r.value for r in results if r.value}) > 1
        for result in results:
            assert result.value == by_id[result.result_id].value
            assert type(result.value) is type(by_id[result.result_id].value)

    def test_users(self, target: ConformanceTarget) -> None:
        assert target.adapter.list_users() == target.reference.list_users()
        assert target.adapter.get_user("sd.a") == target.reference.get_user("sd.a")
        with pytest.raises(NotFound):
            target.adapter.get_user("no.such.user")

    # -- scope ---------------------------------------------------------------------------------------
    @pytest.mark.parametrize("method", SCOPED_READS)
    def test_no_read_crosses_the_scope(self, target: ConformanceTarget, method: str) -> None:
        for scope in (A, B1):
            for record in _read(target.adapter, method, scope):
                sponsor = getattr(record, "sponsor_id", None)
                study = getattr(record, "study_id", None)
                if sponsor is not None:
                    assert scope.admits(sponsor, study), f"{method}({scope}) returned {record!r}"

    def test_get_study_in_and_out_of_scope(self, target: ConformanceTarget) -> None:
        assert target.adapter.get_study(A1) == target.reference.get_study(A1)
        with pytest.raises(NotFound):
            target.adapter.get_study(StudyScope(sponsor_id="SPN-A", study_id="STB-B-1"))
        with pytest.raises(NotFound):
            target.adapter.get_study(StudyScope(sponsor_id="SPN-A", study_id="NO-SUCH-STUDY"))

    # -- paging -----------------------------------------------------------------------------------
    def test_reads_cost_pages_not_records(self, target: ConformanceTarget) -> None:
        expected = len(target.reference.list_results(A1))
        pages = math.ceil(expected / target.page_size)
        assert pages >= 3, "the target's page size must make the bulk study span several pages"
        before = target.calls()
        assert len(target.adapter.list_results(A1)) == expected
        assert target.calls() - before <= pages + 2
        samples = target.reference.list_samples(A1)
        before = target.calls()
        assert len(target.adapter.list_samples(A1)) == len(samples)
        assert target.calls() - before <= math.ceil(len(samples) / target.page_size) + 2
        before = target.calls()
        target.adapter.list_instruments(A1)
        target.adapter.list_calibrations(A1)
        target.adapter.list_reagent_lots(A1)
        assert target.calls() - before <= 3 * (pages + 2)

    # -- drafts ------------------------------------------------------------------------------------
    def test_attach_draft_is_idempotent_on_its_key(self, target: ConformanceTarget) -> None:
        adapter = target.adapter
        first = adapter.attach_draft(A1, draft(), idempotency_key="conf-k1")
        assert first.status is DocumentStatus.DRAFT and first.version == 1
        assert first.sha256 == draft().sha256 and first.size == len(draft().content)
        assert first.attribution == ATTRIBUTION
        assert adapter.attach_draft(A1, draft(), idempotency_key="conf-k1") == first
        assert adapter.list_documents(A1) == [first]
        assert adapter.get_document_content(A1, first.document_id, 1) == draft().content
        with pytest.raises(LimsRejected):
            adapter.attach_draft(A1, draft(b"other content"), idempotency_key="conf-k1")
        second = adapter.attach_draft(A1, draft(b"second"), idempotency_key="conf-k2")
        assert (second.document_id, second.version) == (first.document_id, 2)
        statuses = {d.version: d.status for d in adapter.list_documents(A1)}
        assert statuses == {1: DocumentStatus.SUPERSEDED, 2: DocumentStatus.DRAFT}
        assert adapter.list_documents(B) == []

    def test_attach_draft_outside_the_scope_is_not_found(self, target: ConformanceTarget) -> None:
        with pytest.raises(NotFound):
            target.adapter.attach_draft(
                StudyScope(sponsor_id="SPN-A", study_id="STB-B-1"), draft(), idempotency_key="conf-x"
            )
        with pytest.raises(NotFound):
            target.adapter.get_document_content(A1, "DOC-999999", 1)

    # -- tasks ---------------------------------------------------------------------------------------
    def test_create_task_is_idempotent_and_checked(self, target: ConformanceTarget) -> None:
        adapter = target.adapter
        document = adapter.attach_draft(A1, draft(), idempotency_key="conf-k1")
        request = TaskRequest(
            title="Review the T3 package",
            assignee="sd.a",
            document_id=document.document_id,
            document_version=1,
            instructions="Check and sign.",
        )
        task = adapter.create_task(A1, request, idempotency_key="conf-t1")
        assert (task.assignee, task.document_id, task.title) == ("sd.a", document.document_id, request.title)
        assert adapter.create_task(A1, request, idempotency_key="conf-t1") == task
        assert adapter.list_tasks(A1) == [task]
        assert adapter.list_tasks(B) == []
        with pytest.raises(LimsRejected):
            adapter.create_task(
                A1, request.model_copy(update={"assignee": "sd.b"}), idempotency_key="conf-t2"
            )
        with pytest.raises(LimsRejected):
            adapter.create_task(
                A1, request.model_copy(update={"document_id": None}), idempotency_key="conf-t1"
            )

    # -- signatures and release ----------------------------------------------------------------------
    def _sign(self, target: ConformanceTarget, meaning: SignatureMeaning = SignatureMeaning.APPROVAL) -> Any:
        document = target.adapter.attach_draft(A1, draft(), idempotency_key="conf-k1")
        request = SignatureRequest(
            document_id=document.document_id,
            version=document.version,
            signer="sd.a",
            printed_name="Dr A Director",
            meaning=meaning,
            content_sha256=document.sha256,
        )
        return document, request

    def test_signature_binds_the_sha256(self, target: ConformanceTarget) -> None:
        adapter = target.adapter
        document, request = self._sign(target)
        with pytest.raises(LimsRejected):
            adapter.record_signature(A1, request.model_copy(update={"content_sha256": "0" * 64}))
        with pytest.raises(LimsRejected):
            adapter.record_signature(A1, request.model_copy(update={"printed_name": "Someone Else"}))
        signature = adapter.record_signature(A1, request)
        assert signature.content_sha256 == document.sha256
        assert (signature.signer, signature.meaning) == ("sd.a", SignatureMeaning.APPROVAL)
        assert adapter.list_signatures(A1, document.document_id) == [signature]
        assert adapter.list_signatures(A1, "DOC-999999") == []
        assert adapter.list_signatures(B) == []
        assert adapter.list_documents(A1)[0].status is DocumentStatus.APPROVED

    def test_release_is_checked_and_idempotent(self, target: ConformanceTarget) -> None:
        adapter = target.adapter
        document, request = self._sign(target)
        signature = adapter.record_signature(A1, request)
        ref = DocumentRef(document_id=document.document_id, version=1, sha256=document.sha256)
        release = ReleaseRequest(
            signature_id=signature.signature_id, documents=(ref,), released_by="sd.a", reason="ok"
        )
        with pytest.raises(LimsRejected):
            wrong = ref.model_copy(update={"sha256": "1" * 64})
            adapter.release_documents(A1, release.model_copy(update={"documents": (wrong,)}))
        with pytest.raises(NotFound):
            adapter.release_documents(A1, release.model_copy(update={"signature_id": "SIG-999999"}))
        assert adapter.list_documents(A1)[0].status is DocumentStatus.APPROVED
        released = adapter.release_documents(A1, release)
        assert [d.status for d in released] == [DocumentStatus.RELEASED]
        assert adapter.release_documents(A1, release) == released
        assert adapter.list_documents(A1) == released

    def test_writes_reach_the_lims_audit_trail(self, target: ConformanceTarget) -> None:
        adapter = target.adapter
        before = len(adapter.list_audit_trail(A1))
        document = adapter.attach_draft(A1, draft(), idempotency_key="conf-k1")
        entries = adapter.list_audit_trail(A1, f"{document.document_id}/v1")
        assert [e.action for e in entries] == ["attach_draft"]
        assert entries[0].new_value == document.sha256
        assert len(adapter.list_audit_trail(A1)) == before + 1

    # -- errors -----------------------------------------------------------------------------------
    def test_an_unavailable_lims_is_transient(self, target: ConformanceTarget) -> None:
        if target.make_unavailable is None:
            pytest.skip("the target cannot be made unavailable")
        target.make_unavailable()
        with pytest.raises(LimsUnavailable) as caught:
            target.adapter.attach_draft(A1, draft(), idempotency_key="conf-down")
        assert caught.value.transient
        try:  # a store may still serve reads (SQLite WAL); then they are complete and right
            studies = target.adapter.list_studies(A)
        except LimsUnavailable:
            return
        assert studies == target.reference.list_studies(A)


class ScenarioConformance:
    """The reference scenario read through the adapter equals it read through the embedded LIMS,
    for every sponsor and study. Subclass with the same :meth:`open_target` as the main suite."""

    seed = 7

    def open_target(self, dataset: LimsDataset, workdir: Path) -> AbstractContextManager[ConformanceTarget]:
        raise NotImplementedError("a conformance test class implements open_target(dataset, workdir)")

    def test_scenario_reads_equal_the_embedded_lims(self, tmp_path: Path) -> None:
        from limsai.lims.scenario import generate

        dataset = generate(seed=self.seed).dataset
        with self.open_target(dataset, tmp_path) as target:
            scopes: list[Scope] = []
            for study in dataset.studies:
                scopes.append(StudyScope(sponsor_id=study.sponsor_id, study_id=study.study_id))
            scopes += [Scope(sponsor_id=s.sponsor_id) for s in dataset.sponsors]
            for scope in scopes:
                for method in SCOPED_READS:
                    got = _read(target.adapter, method, scope)
                    assert got == _read(target.reference, method, scope), f"{method}({scope})"
            assert target.adapter.list_users() == target.reference.list_users()
