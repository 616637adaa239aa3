"""Helpers every drafting step shares (not a step: modules named ``_*`` are skipped by the registry)."""

from __future__ import annotations

from datetime import datetime

from limsai.ai.drafting import DraftedText
from limsai.governance.drafts import MANIFEST_FILENAME, DraftManifest
from limsai.governance.gateway import ScopedGateway


def earlier_manifest(gateway: ScopedGateway, prefix: str) -> DraftManifest | None:
    """The manifest this run's first attempt attached under ``prefix``, if any."""
    name = f"{prefix}/{MANIFEST_FILENAME}"
    run_id = gateway.context.run_id
    for doc in gateway.list_documents():
        if doc.name == name and doc.attribution is not None and doc.attribution.run_id == run_id:
            content = gateway.get_document_content(doc.document_id, doc.version)
            return DraftManifest.model_validate_json(content)
    return None


def earlier_attempt(gateway: ScopedGateway, prefix: str) -> datetime | None:
    """When this run's first attempt built its package under ``prefix`` (read from the manifest it
    attached), if any. A retry reuses that time, so the same data gives the same bytes and the LIMS
    hands back the first attachments instead of writing twice."""
    manifest = earlier_manifest(gateway, prefix)
    return manifest.provenance.created_at if manifest else None


def earlier_narrative(manifest: DraftManifest | None, key: str) -> DraftedText | None:
    """The narrative ``key`` a first attempt drafted (kept in its manifest's facts). A retry reuses
    it instead of asking a language model again, whose new answer would differ from what the LIMS
    already holds."""
    if manifest is None or not isinstance(manifest.provenance.facts.get(key), dict):
        return None
    return DraftedText.model_validate(manifest.provenance.facts[key])
