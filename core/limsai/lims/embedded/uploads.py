"""A person files a document received from the sponsor (a protocol PDF, an amendment, a
specification sheet) on a study in the embedded LIMS.

This is the human side of the document store: AI steps only ever attach drafts through
``attach_draft``, attributed to their run. An upload carries no AI attribution; it is created by the
person who filed it, who must be an active human user entitled to the study's sponsor. The document
version and its LIMS audit-trail event are written in one transaction, so the trail never misses a
filed version and never records one that is not there.
"""

from __future__ import annotations

import hashlib

from limsai.lims.embedded.store import EmbeddedLims
from limsai.lims.errors import LimsRejected
from limsai.lims.port import StudyScope
from limsai.model import AuditEvent, Document, DocumentStatus

UPLOAD_ACTION = "upload_document"
REPLACEABLE = (DocumentStatus.DRAFT, DocumentStatus.IN_REVIEW, DocumentStatus.APPROVED)


def upload_document(
    lims: EmbeddedLims,
    scope: StudyScope,
    *,
    name: str,
    filename: str,
    media_type: str,
    content: bytes,
    uploaded_by: str,
    description: str = "",
) -> Document:
    """File ``content`` on the study as a new version of the document called ``name``.

    The version is stored as APPROVED: a document received from the sponsor is the sponsor's own
    controlled, issued document, effective as received. It is not a draft awaiting the lab's
    review (DRAFT and IN_REVIEW are the states of the lab's and the AI's own work in progress), and
    nothing the lab signs turns it into something else. Filing a new version under an existing
    name (a protocol amendment) marks the earlier current version SUPERSEDED, so exactly one
    version is in force. A name that belongs to an AI draft is refused: sponsor documents and AI
    drafts never share a document id.
    """
    lims.get_study(scope)  # NotFound when the study is not in the scope
    user = lims._entitled_user(uploaded_by, scope)
    if not user.is_human:
        raise LimsRejected(
            f"{user.user_id} is a {user.kind.value} account; only a person files sponsor documents"
        )
    if not name.strip() or not filename.strip():
        raise LimsRejected("a filed document needs a name and a filename")
    if not content:
        raise LimsRejected(f"{filename} is empty; nothing to file")
    digest = hashlib.sha256(content).hexdigest()
    with lims.db.write() as conn:
        previous = conn.execute(
            "SELECT document_id, max(version) FROM documents WHERE study_id = ? AND sponsor_id = ? "
            "AND name = ? GROUP BY document_id",
            (scope.study_id, scope.sponsor_id, name),
        ).fetchone()
        if previous is None:
            count = conn.execute("SELECT count(DISTINCT document_id) FROM documents").fetchone()[0]
            document_id, version = f"DOC-{count + 1:06d}", 1
        else:
            document_id, version = previous[0], int(previous[1]) + 1
            rows = conn.execute(
                "SELECT pk, data FROM documents WHERE document_id = ? ORDER BY version", (document_id,)
            ).fetchall()
            earlier = [(pk, Document.model_validate_json(data)) for pk, data in rows]
            if any(doc.ai_generated for _, doc in earlier):
                raise LimsRejected(
                    f"{name!r} names an AI draft ({document_id}); file the document under its own name"
                )
            for pk, doc in earlier:
                if doc.status in REPLACEABLE:
                    lims._set_status(
                        conn, pk, doc, DocumentStatus.SUPERSEDED, user.user_id, f"version {version} was filed"
                    )
        document = Document(
            document_id=document_id,
            study_id=scope.study_id,
            sponsor_id=scope.sponsor_id,
            name=name,
            version=version,
            status=DocumentStatus.APPROVED,
            filename=filename,
            media_type=media_type,
            sha256=digest,
            size=len(content),
            description=description,
            created_at=lims._now(),
            created_by=user.user_id,
        )
        conn.execute(
            "INSERT INTO documents (document_id, version, sponsor_id, study_id, name, status, "
            "idempotency_key, data, content) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (
                document_id,
                version,
                scope.sponsor_id,
                scope.study_id,
                name,
                document.status.value,
                document.model_dump_json(),
                content,
            ),
        )
        lims._audit(
            conn,
            AuditEvent(
                at=document.created_at,
                user_id=user.user_id,
                action=UPLOAD_ACTION,
                record_type="document",
                record_id=f"{document_id}/v{version}",
                sponsor_id=scope.sponsor_id,
                study_id=scope.study_id,
                new_value=digest,
                reason=description or f"sponsor document {filename} filed",
                details={"filename": filename, "media_type": media_type, "size": len(content)},
            ),
        )
    return document
