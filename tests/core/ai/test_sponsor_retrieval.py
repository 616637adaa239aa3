"""Per-sponsor BM25: a query only ever returns the asking sponsor's documents, even when it matches
another sponsor's text better and more chunks are asked for than the sponsor has."""

from __future__ import annotations

import pytest

from limsai.ai.retrieval import (
    Chunk,
    ScopeError,
    SponsorDocument,
    SponsorIndex,
    SponsorRetrieval,
    chunk_document,
)

DOCS = [
    SponsorDocument(
        sponsor_id="SPN-ACME",
        document_id="ACME-SOP-1",
        text="Out-of-specification results are investigated per SOP QA-012.\n\nAssay by HPLC method AM-101.",
    ),
    SponsorDocument(
        sponsor_id="SPN-ACME",
        document_id="ACME-PRT-1",
        text="Storage at 25 °C/60% RH. Timepoints 0, 3, 6 and 12 months.",
    ),
    SponsorDocument(
        sponsor_id="SPN-GLOBEX",
        document_id="GLX-SOP-9",
        text="GLOBEX CANARY photostability dissolution photostability dissolution out-of-trend trending "
        "regression shelf life extrapolation photostability.",
    ),
]


@pytest.fixture(scope="module")
def retrieval() -> SponsorRetrieval:
    return SponsorRetrieval(DOCS)


def test_one_index_per_sponsor(retrieval: SponsorRetrieval) -> None:
    assert retrieval.sponsors == ["SPN-ACME", "SPN-GLOBEX"]


def test_ranks_within_the_sponsor(retrieval: SponsorRetrieval) -> None:
    hits = retrieval.search("SPN-ACME", "HPLC assay method")
    assert hits and hits[0].chunk.document_id == "ACME-SOP-1"


@pytest.mark.parametrize(
    "query", ["photostability dissolution regression", "GLOBEX CANARY", "out-of-specification storage months"]
)
def test_never_returns_another_sponsors_document(retrieval: SponsorRetrieval, query: str) -> None:
    hits = retrieval.search("SPN-ACME", query, k=10)  # more than ACME has: the known filter-leak case
    assert all(h.chunk.sponsor_id == "SPN-ACME" for h in hits)
    assert all("CANARY" not in h.chunk.text for h in hits)
    assert all(h.score > 0 for h in hits)


def test_unknown_sponsor_gets_nothing(retrieval: SponsorRetrieval) -> None:
    assert retrieval.search("SPN-INITECH", "HPLC") == []


def test_index_refuses_other_sponsors_chunks() -> None:
    chunk = Chunk(sponsor_id="SPN-GLOBEX", document_id="X", index=0, text="text")
    with pytest.raises(ScopeError):
        SponsorIndex("SPN-ACME", [chunk])


def test_chunking_respects_the_word_limit() -> None:
    document = SponsorDocument(sponsor_id="S", document_id="D", text=" ".join(["word"] * 250) + "\n\nend")
    chunks = chunk_document(document, max_words=100)
    assert [len(c.text.split()) for c in chunks] == [100, 100, 51]
