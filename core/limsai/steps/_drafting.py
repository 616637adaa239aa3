"""Helpers every drafting step shares (not a step: modules named ``_*`` are skipped by the registry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from limsai.ai.drafting import DraftedText
from limsai.governance.drafts import MANIFEST_FILENAME, DraftManifest, DraftPackage
from limsai.governance.gateway import ScopedGateway
from limsai.governance.policy import Permission
from limsai.lims.port import Capability as C
from limsai.model import Document

DRAFTING_PERMISSIONS = frozenset(
    {Permission.READ_DATA, Permission.READ_DOCUMENTS, Permission.WRITE_DRAFTS, Permission.CREATE_TASKS}
)
"""What a step that reads a study and drafts for review needs of its requester."""

STUDY_DRAFTING_CAPABILITIES = frozenset(
    {
        C.READ_STUDIES,
        C.READ_SCHEDULE,
        C.READ_SAMPLES,
        C.READ_RESULTS,
        C.READ_SPECIFICATIONS,
        C.READ_INSTRUMENTS,
        C.READ_REAGENTS,
        C.READ_DEVIATIONS,
        C.READ_DOCUMENTS,
        C.ATTACH_DRAFTS,
        C.CREATE_TASKS,
    }
)
"""What the LIMS must offer a step that reads a whole study (``package_assemble.read_study``) and
attaches drafts with a review task."""


def attach_package(gateway: ScopedGateway, package: DraftPackage, prefix: str) -> list[Document]:
    """Attach ``package`` under ``prefix`` (manifest first), each document keyed on the run and its
    name, so a retry gets the first attachments back."""
    run_id = gateway.context.run_id
    return [
        gateway.attach_draft(draft, idempotency_key=f"{run_id}:{draft.name}")
        for draft in package.to_documents(prefix)
    ]


def draft_rows(documents: list[Document]) -> list[dict[str, Any]]:
    """How a run reports its drafts to the LIMS: id, version, name and sha256 of each."""
    return [
        {"document_id": d.document_id, "version": d.version, "name": d.name, "sha256": d.sha256}
        for d in documents
    ]


def earlier_manifest(
    gateway: ScopedGateway, prefix: str, documents: list[Document] | None = None
) -> DraftManifest | None:
    """The manifest this run's first attempt attached under ``prefix``, if any (looked up in
    ``documents`` when the step has already read them)."""
    name = f"{prefix}/{MANIFEST_FILENAME}"
    run_id = gateway.context.run_id
    for doc in gateway.list_documents() if documents is None else documents:
        if doc.name == name and doc.attribution is not None and doc.attribution.run_id == run_id:
            content = gateway.get_document_content(doc.document_id, doc.version)
            return DraftManifest.model_validate_json(content)
    return None


def earlier_attempt(
    gateway: ScopedGateway, prefix: str, documents: list[Document] | None = None
) -> datetime | None:
    """When this run's first attempt built its package under ``prefix`` (read from the manifest it
    attached), if any. A retry reuses that time, so the same data gives the same bytes and the LIMS
    hands back the first attachments instead of writing twice."""
    manifest = earlier_manifest(gateway, prefix, documents)
    return manifest.provenance.created_at if manifest else None


def earlier_narrative(manifest: DraftManifest | None, key: str) -> DraftedText | None:
    """The narrative ``key`` a first attempt drafted (kept in its manifest's facts). A retry reuses
    it instead of asking a language model again, whose new answer would differ from what the LIMS
    already holds."""
    if manifest is None or not isinstance(manifest.provenance.facts.get(key), dict):
        return None
    return DraftedText.model_validate(manifest.provenance.facts[key])


REFERENCE_MEDIA = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
)
NO_REFERENCES = "(no sponsor document is filed on the study)"


def reference_passages(
    gateway: ScopedGateway, query: str, k: int = 3, documents: list[Document] | None = None
) -> tuple[str, list[str]]:
    """Passages of the sponsor's documents filed on the study (protocols, SOPs: PDF or DOCX, not AI
    drafts) most relevant to ``query``, for a language model's ``{document}`` block, and one flag per
    suspected injection found in them. Documents are read through the gateway (scoped, audited) and
    ranked by BM25 in an index of this sponsor's documents only."""
    from limsai.ai.injection import scan
    from limsai.ai.retrieval import SponsorDocument, SponsorRetrieval
    from limsai.protocols.merge import document_text
    from limsai.protocols.models import ProtocolReadError
    from limsai.protocols.source import read_protocol

    sponsor = gateway.context.sponsor_id
    texts: list[SponsorDocument] = []
    for doc in gateway.list_documents() if documents is None else documents:
        if doc.attribution is not None or doc.media_type not in REFERENCE_MEDIA:
            continue
        if doc.status.value in ("superseded", "rejected"):
            continue
        try:
            source = read_protocol(gateway.get_document_content(doc.document_id, doc.version), doc.filename)
        except ProtocolReadError:
            continue  # an unreadable file contributes nothing; protocol.ingest reports it by name
        texts.append(
            SponsorDocument(sponsor_id=sponsor, document_id=doc.document_id, text=document_text(source))
        )
    hits = SponsorRetrieval(texts).search(sponsor, query, k) if texts else []
    if not hits:
        return NO_REFERENCES, []
    flags = [
        f"{hit.chunk.document_id}: suspected {flag.kind} in a reference passage, not followed"
        for hit in hits
        for flag in scan(hit.chunk.text, sponsor_id=sponsor)
    ]
    return "\n\n".join(f"[{hit.chunk.document_id}] {hit.chunk.text}" for hit in hits), list(
        dict.fromkeys(flags)
    )
