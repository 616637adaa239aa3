"""Per-sponsor retrieval over a sponsor's documents (protocols, SOPs) for the drafter.

Only the context's sponsor data may enter a prompt, so each sponsor gets an index of its own: a query
is answered from the one index built from that sponsor's chunks and can never rank another sponsor's
text. (A single shared index with a sponsor filter is not safe: with bm25s, as used by llama-index's
BM25 retriever, a filter only zeroes scores, and when fewer chunks match than were asked for, other
sponsors' chunks come back with score 0.) As a second line, hits are checked for the sponsor again and
zero-score hits are dropped.

Ranking is BM25 (``bm25s``, numpy only); documents are split into chunks of at most
``max_words`` words at paragraph boundaries.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SponsorDocument(BaseModel):
    """A document of one sponsor, as text."""

    model_config = ConfigDict(frozen=True)

    sponsor_id: str = Field(min_length=1)
    document_id: str = Field(min_length=1)
    text: str


class Chunk(BaseModel):
    model_config = ConfigDict(frozen=True)

    sponsor_id: str
    document_id: str
    index: int
    text: str


class RetrievalHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    chunk: Chunk
    score: float


class ScopeError(LookupError):
    """A hit from another sponsor reached a sponsor's results (an index was built wrongly)."""


def chunk_document(document: SponsorDocument, max_words: int = 120) -> list[Chunk]:
    """``document`` split at blank lines into chunks of at most ``max_words`` words."""
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in re.split(r"\n\s*\n", document.text):
        words = paragraph.split()
        while words:
            room = max_words - len(current)
            if room <= 0:
                chunks.append(" ".join(current))
                current, room = [], max_words
            current.extend(words[:room])
            words = words[room:]
    if current:
        chunks.append(" ".join(current))
    return [
        Chunk(sponsor_id=document.sponsor_id, document_id=document.document_id, index=i, text=text)
        for i, text in enumerate(chunks)
    ]


def _tokens(texts: list[str]) -> list[list[str]]:
    import bm25s  # type: ignore[import-untyped]

    tokens: list[list[str]] = bm25s.tokenize(texts, return_ids=False, show_progress=False, stopwords="en")
    return tokens


class SponsorIndex:
    """BM25 over one sponsor's chunks."""

    def __init__(self, sponsor_id: str, chunks: list[Chunk]) -> None:
        import bm25s

        if any(c.sponsor_id != sponsor_id for c in chunks):
            raise ScopeError(f"chunks of other sponsors given to the index of {sponsor_id}")
        self.sponsor_id = sponsor_id
        self.chunks = chunks
        self._bm25: Any = bm25s.BM25()
        self._bm25.index(_tokens([c.text for c in chunks]), show_progress=False)
        self._vocabulary = set(self._bm25.vocab_dict)

    def search(self, query: str, k: int = 5) -> list[RetrievalHit]:
        """Up to ``k`` chunks of this sponsor for ``query``, best first; none that do not match at all."""
        words = [w for w in _tokens([query])[0] if w in self._vocabulary]
        if not words or not self.chunks:
            return []
        ids, scores = self._bm25.retrieve([words], k=min(k, len(self.chunks)), show_progress=False)
        hits = [
            RetrievalHit(chunk=self.chunks[int(i)], score=float(s))
            for i, s in zip(ids[0], scores[0], strict=True)
            if float(s) > 0
        ]
        for hit in hits:
            if hit.chunk.sponsor_id != self.sponsor_id:
                raise ScopeError(f"{hit.chunk.document_id} is not a document of {self.sponsor_id}")
        return hits


class SponsorRetrieval:
    """One :class:`SponsorIndex` per sponsor; a query names its sponsor and sees only that index."""

    def __init__(self, documents: Iterable[SponsorDocument], *, max_words: int = 120) -> None:
        by_sponsor: dict[str, list[Chunk]] = defaultdict(list)
        for document in documents:
            by_sponsor[document.sponsor_id].extend(chunk_document(document, max_words))
        self._indexes = {sponsor: SponsorIndex(sponsor, chunks) for sponsor, chunks in by_sponsor.items()}

    @property
    def sponsors(self) -> list[str]:
        return sorted(self._indexes)

    def search(self, sponsor_id: str, query: str, k: int = 5) -> list[RetrievalHit]:
        """Chunks of ``sponsor_id``'s documents for ``query``; nothing for a sponsor without documents."""
        index = self._indexes.get(sponsor_id)
        return index.search(query, k) if index is not None else []
