"""Marking a signed package released in the embedded LIMS.

The LIMS does not trust the caller's word that a package may go to the sponsor: it checks again, in
the same transaction that changes the status, that the allowing signature exists in the study, means
approval, sits on one of the package's document versions and binds that version's sha256, and that
every listed version still holds the content the caller names. Anything else is refused and nothing
changes. Versions already released stay as they are, so a retry writes nothing twice.
"""

from __future__ import annotations

from limsai.lims.embedded.records import RecordsMixin
from limsai.lims.errors import LimsRejected, NotFound
from limsai.lims.port import StudyScope
from limsai.model import Document, DocumentStatus, ReleaseRequest, Signature, SignatureMeaning

_NOT_RELEASABLE = (DocumentStatus.SUPERSEDED, DocumentStatus.REJECTED)


class ReleaseMixin(RecordsMixin):
    """``release_documents`` of :class:`~limsai.lims.embedded.store.EmbeddedLims`."""

    def release_documents(self, scope: StudyScope, request: ReleaseRequest) -> list[Document]:
        self.get_study(scope)
        released: list[Document] = []
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT data FROM signatures WHERE id = ? AND sponsor_id = ? AND study_id = ?",
                (request.signature_id, scope.sponsor_id, scope.study_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"signature {request.signature_id} not found in study {scope.study_id}")
            signature = Signature.model_validate_json(row[0])
            if signature.meaning is not SignatureMeaning.APPROVAL:
                raise LimsRejected(
                    f"signature {signature.signature_id} means {signature.meaning.value}; "
                    "release needs approval"
                )
            signed = [
                ref
                for ref in request.documents
                if (ref.document_id, ref.version, ref.sha256)
                == (signature.document_id, signature.version, signature.content_sha256)
            ]
            if not signed:
                raise LimsRejected(
                    f"signature {signature.signature_id} does not bind any of the documents to release"
                )
            found: list[tuple[int, Document]] = []
            for ref in request.documents:
                hit = conn.execute(
                    "SELECT pk, data FROM documents WHERE document_id = ? AND version = ? "
                    "AND sponsor_id = ? AND study_id = ?",
                    (ref.document_id, ref.version, scope.sponsor_id, scope.study_id),
                ).fetchone()
                if hit is None:
                    raise NotFound(f"document {ref.document_id} v{ref.version} not in study {scope.study_id}")
                document = Document.model_validate_json(hit[1])
                if document.sha256 != ref.sha256:
                    raise LimsRejected(
                        f"document {ref.document_id} v{ref.version} does not hold the content named "
                        "(sha256 differs)"
                    )
                if document.status in _NOT_RELEASABLE:
                    raise LimsRejected(
                        f"document {ref.document_id} v{ref.version} is {document.status.value}"
                    )
                found.append((int(hit[0]), document))
            for pk, document in found:
                if document.status is DocumentStatus.RELEASED:
                    released.append(document)
                    continue
                released.append(
                    self._set_status(
                        conn,
                        pk,
                        document,
                        DocumentStatus.RELEASED,
                        request.released_by,
                        f"{request.reason} (signature {signature.signature_id})",
                    )
                )
        return released
