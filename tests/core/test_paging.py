"""Reads are paged: a 100,000-result study costs O(pages) queries; several processes share one LIMS."""

from __future__ import annotations

import math
import multiprocessing
from pathlib import Path

import pytest

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.port import Scope, StudyScope
from limsai.model import AiAttribution, DraftDocument
from limsai.testing.factories import bulk_results, tiny_dataset

N = 100_000


@pytest.fixture(scope="module")
def big_lims(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedLims:
    ds = tiny_dataset()
    bulk_results(ds, ds.studies[0], N)
    lims = EmbeddedLims(tmp_path_factory.mktemp("big") / "lims.db", page_size=1000)
    lims.load(ds, actor="system:test")
    return lims


def test_100k_result_study_is_read_in_pages(big_lims: EmbeddedLims) -> None:
    scope = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
    before = big_lims.query_count
    results = big_lims.list_results(scope)
    queries = big_lims.query_count - before
    assert len(results) == N + 2
    assert len({r.result_id for r in results}) == N + 2
    assert queries == math.ceil((N + 2) / 1000) + (1 if (N + 2) % 1000 == 0 else 0)
    before = big_lims.query_count
    samples = big_lims.list_samples(scope)
    assert len(samples) == N // 10 + 2
    assert big_lims.query_count - before == math.ceil(len(samples) / 1000)


def test_query_count_scales_with_pages_not_records(big_lims: EmbeddedLims) -> None:
    scope = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
    big_lims.page_size = 10_000
    try:
        before = big_lims.query_count
        assert len(big_lims.list_results(scope)) == N + 2
        assert big_lims.query_count - before == 11
    finally:
        big_lims.page_size = 1000
    before = big_lims.query_count
    assert big_lims.list_results(Scope(sponsor_id="SPN-B"))[0].sponsor_id == "SPN-B"
    assert big_lims.query_count - before == 1


def test_lab_resources_of_a_big_study_cost_a_few_queries(big_lims: EmbeddedLims) -> None:
    scope = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
    before = big_lims.query_count
    assert [i.instrument_id for i in big_lims.list_instruments(scope)] == ["HPLC-01"]
    assert big_lims.query_count - before == 2


def _attach_many(path: str, worker: int, count: int) -> None:
    lims = EmbeddedLims(path)
    attribution = AiAttribution(
        step_id="package.assemble", step_version="1", run_id=f"w{worker}", on_behalf_of="sd.a"
    )
    scope = StudyScope(sponsor_id="SPN-A", study_id="STB-A-1")
    for i in range(count):
        draft = DraftDocument(
            name=f"doc-{worker}-{i}",
            filename="d.txt",
            media_type="text/plain",
            content=f"{worker}-{i}".encode(),
            attribution=attribution,
        )
        lims.attach_draft(scope, draft, idempotency_key=f"{worker}-{i}")
        lims.attach_draft(scope, draft, idempotency_key=f"{worker}-{i}")  # a retry writes nothing
    lims.close()


def test_several_processes_share_one_lims(tmp_path: Path) -> None:
    path = tmp_path / "lims.db"
    EmbeddedLims(path).load(tiny_dataset(), actor="system:test")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_attach_many, args=(str(path), w, 15)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    lims = EmbeddedLims(path)
    docs = lims.list_documents(Scope(sponsor_id="SPN-A"))
    assert len(docs) == 45
    assert len({d.document_id for d in docs}) == 45
    assert len(lims.list_audit_trail(Scope(sponsor_id="SPN-A", study_id="STB-A-1"))) == 45
