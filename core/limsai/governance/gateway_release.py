"""Recording a release through the gateway: the one write that follows a human's approval.

No AI agent releases anything (``ScopedGateway.release`` only refuses). What a step may do, in the
write-back phase and when the requester's roles grant ``release.record``, is ask the gateway to
record in the LIMS the release that a human already made by e-signing the package manifest. The
gateway then does the whole check itself, so that no step can skip part of it:

* it reads the manifest document and every file of the same package (same name prefix, same run)
  through the audited reads, and the signatures on the manifest;
* :func:`~limsai.governance.release.verify_package` must pass: an approval e-signature by an
  active human reviewer entitled to the sponsor binds the stored manifest's sha256, every file
  matches the manifest, every sign-off the sponsor requires is there, and the manifest belongs to
  this context's sponsor and study;
* only then is the LIMS asked to mark the manifest and its files RELEASED (which it checks again).

A refusal is audited as ``release_refused`` with every reason and changes nothing; a success is
audited as ``record_release`` with the signature, its 21 CFR 11.50 manifestation and the documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from limsai.governance.drafts import MANIFEST_FILENAME, DraftManifest
from limsai.governance.errors import ReleaseRefused
from limsai.governance.policy import Permission
from limsai.governance.release import ReleaseDecision, verify_package
from limsai.lims.errors import NotFound
from limsai.model import (
    Document,
    DocumentRef,
    DocumentStatus,
    LimsModel,
    Principal,
    ReleaseRequest,
    Role,
    SignatureMeaning,
)

if TYPE_CHECKING:
    from limsai.governance.gateway import ScopedGateway

_UNRELEASABLE = (DocumentStatus.SUPERSEDED, DocumentStatus.REJECTED)


class ReleaseOutcome(LimsModel):
    """A recorded release: the decision (signature and manifestation), the manifest's sha256 and
    the document versions now RELEASED; ``replay`` when they already were (a retry)."""

    decision: ReleaseDecision
    manifest_document: str
    manifest_sha256: str
    documents: list[Document]
    replay: bool


def _refuse(gateway: ScopedGateway, manifest: str, reasons: list[str], **details: Any) -> NoReturn:
    gateway._record(
        "release_refused",
        record=manifest,
        reason="; ".join(reasons),
        details={"lims": gateway._adapter.name, "reasons": reasons, **details},
    )
    raise ReleaseRefused(f"{manifest} was not released: " + "; ".join(reasons), reasons)


def _manifest_version(documents: list[Document], document_id: str, version: int | None) -> Document | None:
    versions = [d for d in documents if d.document_id == document_id]
    if version is not None:
        versions = [d for d in versions if d.version == version]
    return max(versions, key=lambda d: d.version) if versions else None


def _package_parts(documents: list[Document], manifest: Document) -> list[Document]:
    """The files of the manifest's package: same name prefix, attached by the same run."""
    prefix = manifest.name.rsplit("/", 1)[0] + "/"
    run_id = manifest.attribution.run_id if manifest.attribution else None
    return sorted(
        (
            d
            for d in documents
            if d.document_id != manifest.document_id
            and d.name.startswith(prefix)
            and d.attribution is not None
            and d.attribution.run_id == run_id
        ),
        key=lambda d: d.name,
    )


def record_release(
    gateway: ScopedGateway,
    manifest_document_id: str | None,
    version: int | None = None,
    *,
    manifest_name: str | None = None,
    required: Mapping[Role, SignatureMeaning] | None = None,
) -> ReleaseOutcome:
    """Check the package whose manifest is ``manifest_document_id`` (its latest version unless
    ``version``; without an id, the newest current document called ``manifest_name``) and, when a
    human's approval releases it, mark it RELEASED in the LIMS. ``required`` adds the sponsor's
    sign-offs (role -> meaning). Raises :class:`ReleaseRefused`."""
    gateway._require(Permission.RECORD_RELEASE, "record_release")
    ctx = gateway.context
    documents = gateway.list_documents()
    if manifest_document_id is None:
        named = [d for d in documents if d.name == manifest_name and d.status not in _UNRELEASABLE]
        newest = max(named, key=lambda d: (d.created_at, d.version)) if named else None
        manifest_document_id = newest.document_id if newest else None
    if manifest_document_id is None:
        _refuse(
            gateway,
            f"study/{ctx.study_id}",
            [f"study {ctx.study_id} has no package {manifest_name!r} to release"],
        )
    ref = f"document/{manifest_document_id}" + (f"/v{version}" if version else "")
    manifest = _manifest_version(documents, manifest_document_id, version)
    if manifest is None:
        _refuse(gateway, ref, [f"no document {ref} in study {ctx.study_id}"])
    ref = f"document/{manifest.document_id}/v{manifest.version}"
    if manifest.filename != MANIFEST_FILENAME or manifest.attribution is None:
        _refuse(gateway, ref, [f"{ref} ({manifest.name}) is not the manifest of an AI draft package"])
    if manifest.status in _UNRELEASABLE:
        _refuse(gateway, ref, [f"{ref} is {manifest.status.value}"])
    parts = _package_parts(documents, manifest)
    manifest_bytes = gateway.get_document_content(manifest.document_id, manifest.version)
    files = {d.filename: gateway.get_document_content(d.document_id, d.version) for d in parts}
    signatures = gateway.list_signatures(manifest.document_id)
    signers: dict[str, Principal] = {}
    for signer in sorted({s.signer for s in signatures}):
        try:
            signers[signer] = gateway._adapter.get_user(signer)
        except NotFound:
            continue  # verify_package names an unknown signer
    decision = verify_package(
        manifest_bytes,
        files,
        signatures,
        signers,
        reviewer_roles=gateway.policy.reviewer_roles,
        document_id=manifest.document_id,
        required=required,
    )
    reasons = list(decision.reasons)
    try:
        provenance = DraftManifest.model_validate_json(manifest_bytes).provenance
        if (provenance.sponsor_id, provenance.study_id) != (ctx.sponsor_id, ctx.study_id):
            reasons.append(f"the manifest belongs to {provenance.sponsor_id} / {provenance.study_id}")
    except ValidationError:
        pass  # verify_package has already said the manifest is not valid
    signer_ids = sorted(signers)
    if not decision.released or decision.signature is None or len(reasons) > len(decision.reasons):
        _refuse(gateway, ref, reasons, signatures=len(signatures), signers=signer_ids, files=len(files))
    request = ReleaseRequest(
        signature_id=decision.signature.signature_id,
        documents=tuple(
            DocumentRef(document_id=d.document_id, version=d.version, sha256=d.sha256)
            for d in [manifest, *parts]
        ),
        released_by=ctx.principal.user_id,
        reason=f"package released: {decision.manifestation}",
        details={"run_id": ctx.run_id, "step_id": ctx.agent.step_id},
    )
    replay = all(d.status is DocumentStatus.RELEASED for d in [manifest, *parts])
    released = gateway._adapter.release_documents(ctx.scope, request)
    gateway._record(
        "record_release",
        record=ref,
        new_hash=manifest.sha256,
        reason=decision.manifestation or "",
        details={
            "lims": gateway._adapter.name,
            "signature_id": decision.signature.signature_id,
            "signer": decision.signature.signer,
            "documents": [f"{d.document_id}/v{d.version}" for d in released],
            "replay": replay,
        },
    )
    return ReleaseOutcome(
        decision=decision,
        manifest_document=manifest.document_id,
        manifest_sha256=manifest.sha256,
        documents=released,
        replay=replay,
    )
