"""Documents, review tasks and e-signatures in the embedded LIMS: the write side of the port.

Drafts are attached as new versions in DRAFT status (an earlier draft of the same name is marked
superseded); ``attach_draft`` and ``create_task`` are idempotent on their key, and a key reused for
different content is refused. A signature is recorded only when it binds the exact sha256 of the
version it signs, by an active user entitled to the sponsor whose printed name matches the LIMS's.
Every write appends to the LIMS's own audit trail in the same transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from limsai.lims.embedded.base import StoreBase
from limsai.lims.errors import LimsRejected, NotFound
from limsai.lims.port import Scope, StudyScope
from limsai.model import (
    AuditEvent,
    Document,
    DocumentStatus,
    DraftDocument,
    Principal,
    ReviewTask,
    Signature,
    SignatureMeaning,
    SignatureRequest,
    TaskRequest,
    utcnow,
)

if TYPE_CHECKING:
    from limsai.model import Study


class RecordsMixin(StoreBase):
    """Document, task and signature operations of :class:`EmbeddedLims`."""

    # provided by EmbeddedLims
    def get_study(self, scope: StudyScope) -> Study:  # pragma: no cover - interface
        raise NotImplementedError

    def get_user(self, user_id: str) -> Principal:  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def _now() -> datetime:
        return utcnow()

    @staticmethod
    def _audit(conn: sqlite3.Connection, event: AuditEvent) -> None:
        conn.execute(
            "INSERT INTO lims_audit (sponsor_id, study_id, record_id, data) VALUES (?, ?, ?, ?)",
            (event.sponsor_id, event.study_id, event.record_id, event.model_dump_json()),
        )

    # -- documents -------------------------------------------------------------------------------
    def list_documents(self, scope: Scope) -> list[Document]:
        return [Document.model_validate_json(data) for _, data in self._rows("documents", scope)]

    def _document_row(self, scope: StudyScope, document_id: str, version: int) -> tuple[Document, bytes]:
        rows = self.db.query(
            "SELECT data, content FROM documents WHERE document_id = ? AND version = ? "
            "AND sponsor_id = ? AND study_id = ?",
            (document_id, version, scope.sponsor_id, scope.study_id),
        )
        if not rows:
            raise NotFound(f"document {document_id} v{version} not found in study {scope.study_id}")
        return Document.model_validate_json(rows[0][0]), bytes(rows[0][1])

    def get_document_content(self, scope: StudyScope, document_id: str, version: int) -> bytes:
        return self._document_row(scope, document_id, version)[1]

    def attach_draft(self, scope: StudyScope, draft: DraftDocument, *, idempotency_key: str) -> Document:
        self.get_study(scope)
        if not idempotency_key:
            raise LimsRejected("attach_draft needs a non-empty idempotency key")
        with self.db.write() as conn:
            existing = conn.execute(
                "SELECT data FROM documents WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            if existing is not None:
                document = Document.model_validate_json(existing[0])
                if (document.sponsor_id, document.study_id) != (scope.sponsor_id, scope.study_id) or (
                    document.sha256 != draft.sha256 or document.name != draft.name
                ):
                    raise LimsRejected(
                        f"idempotency key {idempotency_key!r} was already used for different content"
                    )
                return document
            previous = conn.execute(
                "SELECT document_id, max(version) FROM documents WHERE study_id = ? AND name = ? "
                "GROUP BY document_id",
                (scope.study_id, draft.name),
            ).fetchone()
            if previous is None:
                count = conn.execute("SELECT count(DISTINCT document_id) FROM documents").fetchone()[0]
                document_id, version = f"DOC-{count + 1:06d}", 1
            else:
                document_id, version = previous[0], int(previous[1]) + 1
            document = Document(
                document_id=document_id,
                study_id=scope.study_id,
                sponsor_id=scope.sponsor_id,
                name=draft.name,
                version=version,
                status=DocumentStatus.DRAFT,
                filename=draft.filename,
                media_type=draft.media_type,
                sha256=draft.sha256,
                size=len(draft.content),
                milestone=draft.milestone,
                description=draft.description,
                created_at=self._now(),
                created_by=f"ai:{draft.attribution.step_id}",
                attribution=draft.attribution,
            )
            if previous is not None:
                self._supersede_drafts(conn, document_id, scope)
            conn.execute(
                "INSERT INTO documents (document_id, version, sponsor_id, study_id, name, status, "
                "idempotency_key, data, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    document_id,
                    version,
                    scope.sponsor_id,
                    scope.study_id,
                    draft.name,
                    document.status.value,
                    idempotency_key,
                    document.model_dump_json(),
                    draft.content,
                ),
            )
            self._audit(
                conn,
                AuditEvent(
                    at=document.created_at,
                    user_id=document.created_by,
                    action="attach_draft",
                    record_type="document",
                    record_id=f"{document_id}/v{version}",
                    sponsor_id=scope.sponsor_id,
                    study_id=scope.study_id,
                    new_value=document.sha256,
                    reason=f"AI draft on behalf of {draft.attribution.on_behalf_of}",
                    details={"run_id": draft.attribution.run_id, "step_id": draft.attribution.step_id},
                ),
            )
        return document

    def _supersede_drafts(self, conn: sqlite3.Connection, document_id: str, scope: StudyScope) -> None:
        rows = conn.execute(
            "SELECT pk, data FROM documents WHERE document_id = ? AND status = ?",
            (document_id, DocumentStatus.DRAFT.value),
        ).fetchall()
        for pk, data in rows:
            old = Document.model_validate_json(data)
            self._set_status(conn, pk, old, DocumentStatus.SUPERSEDED, "system", "a newer draft was attached")

    def _set_status(
        self, conn: sqlite3.Connection, pk: int, doc: Document, status: DocumentStatus, user: str, why: str
    ) -> Document:
        new = doc.model_copy(update={"status": status})
        conn.execute(
            "UPDATE documents SET status = ?, data = ? WHERE pk = ?",
            (status.value, new.model_dump_json(), pk),
        )
        self._audit(
            conn,
            AuditEvent(
                at=self._now(),
                user_id=user,
                action="status_change",
                record_type="document",
                record_id=f"{doc.document_id}/v{doc.version}",
                sponsor_id=doc.sponsor_id,
                study_id=doc.study_id,
                field="status",
                old_value=doc.status.value,
                new_value=status.value,
                reason=why,
            ),
        )
        return new

    # -- tasks ---------------------------------------------------------------------------------------
    def list_tasks(self, scope: Scope) -> list[ReviewTask]:
        return [ReviewTask.model_validate_json(data) for _, data in self._rows("tasks", scope)]

    def create_task(self, scope: StudyScope, task: TaskRequest, *, idempotency_key: str) -> ReviewTask:
        self.get_study(scope)
        if not idempotency_key:
            raise LimsRejected("create_task needs a non-empty idempotency key")
        assignee = self._entitled_user(task.assignee, scope)
        if task.document_id is not None:
            self._document_row(scope, task.document_id, task.document_version or 1)
        with self.db.write() as conn:
            existing = conn.execute(
                "SELECT data FROM tasks WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            if existing is not None:
                found = ReviewTask.model_validate_json(existing[0])
                same = (found.sponsor_id, found.study_id, found.assignee, found.document_id) == (
                    scope.sponsor_id,
                    scope.study_id,
                    assignee.user_id,
                    task.document_id,
                )
                if not same:
                    raise LimsRejected(
                        f"idempotency key {idempotency_key!r} was already used for a different task"
                    )
                return found
            count = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
            created = ReviewTask(
                task_id=f"TASK-{count + 1:06d}",
                study_id=scope.study_id,
                sponsor_id=scope.sponsor_id,
                title=task.title,
                assignee=assignee.user_id,
                document_id=task.document_id,
                document_version=task.document_version,
                instructions=task.instructions,
                required_meaning=task.required_meaning,
                created_at=self._now(),
                created_by="limsai",
            )
            conn.execute(
                "INSERT INTO tasks (id, sponsor_id, study_id, idempotency_key, data) VALUES (?, ?, ?, ?, ?)",
                (
                    created.task_id,
                    scope.sponsor_id,
                    scope.study_id,
                    idempotency_key,
                    created.model_dump_json(),
                ),
            )
            self._audit(
                conn,
                AuditEvent(
                    at=created.created_at,
                    user_id="limsai",
                    action="create_task",
                    record_type="task",
                    record_id=created.task_id,
                    sponsor_id=scope.sponsor_id,
                    study_id=scope.study_id,
                    new_value=assignee.user_id,
                    reason=task.title,
                ),
            )
        return created

    def _entitled_user(self, user_id: str, scope: Scope) -> Principal:
        try:
            user = self.get_user(user_id)
        except NotFound as exc:
            raise LimsRejected(f"unknown LIMS user {user_id!r}") from exc
        if not user.may_see(scope.sponsor_id):
            raise LimsRejected(f"user {user_id} is not active or not entitled to sponsor {scope.sponsor_id}")
        return user

    # -- signatures ----------------------------------------------------------------------------------
    def list_signatures(self, scope: Scope, document_id: str | None = None) -> list[Signature]:
        rows = self._rows("signatures", scope, document_id=document_id)
        return [Signature.model_validate_json(data) for _, data in rows]

    def record_signature(self, scope: StudyScope, request: SignatureRequest) -> Signature:
        signer = self._entitled_user(request.signer, scope)
        if not signer.is_human:
            raise LimsRejected(f"{signer.user_id} is a {signer.kind.value} account; only a person may e-sign")
        if request.printed_name != signer.display_name:
            raise LimsRejected(f"printed name {request.printed_name!r} does not match user {signer.user_id}")
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT pk, data FROM documents WHERE document_id = ? AND version = ? "
                "AND sponsor_id = ? AND study_id = ?",
                (request.document_id, request.version, scope.sponsor_id, scope.study_id),
            ).fetchone()
            if row is None:
                raise NotFound(
                    f"document {request.document_id} v{request.version} not in study {scope.study_id}"
                )
            document = Document.model_validate_json(row[1])
            if request.content_sha256 != document.sha256:
                raise LimsRejected("the signature does not bind this version's content (sha256 differs)")
            if document.status in (DocumentStatus.SUPERSEDED, DocumentStatus.REJECTED):
                raise LimsRejected(
                    f"document {document.document_id} v{document.version} is {document.status}"
                )
            count = conn.execute("SELECT count(*) FROM signatures").fetchone()[0]
            signature = Signature(
                signature_id=f"SIG-{count + 1:06d}",
                document_id=document.document_id,
                version=document.version,
                study_id=scope.study_id,
                sponsor_id=scope.sponsor_id,
                signer=signer.user_id,
                printed_name=signer.display_name,
                signed_at=self._now(),
                meaning=request.meaning,
                content_sha256=document.sha256,
            )
            conn.execute(
                "INSERT INTO signatures (id, document_id, sponsor_id, study_id, data) VALUES (?, ?, ?, ?, ?)",
                (
                    signature.signature_id,
                    document.document_id,
                    scope.sponsor_id,
                    scope.study_id,
                    signature.model_dump_json(),
                ),
            )
            self._audit(
                conn,
                AuditEvent(
                    at=signature.signed_at,
                    user_id=signer.user_id,
                    action="e-signature",
                    record_type="document",
                    record_id=f"{document.document_id}/v{document.version}",
                    sponsor_id=scope.sponsor_id,
                    study_id=scope.study_id,
                    new_value=document.sha256,
                    reason=request.meaning.value,
                ),
            )
            target = {
                SignatureMeaning.REVIEW: DocumentStatus.IN_REVIEW,
                SignatureMeaning.APPROVAL: DocumentStatus.APPROVED,
            }.get(request.meaning)
            movable = document.status in (DocumentStatus.DRAFT, DocumentStatus.IN_REVIEW)
            if target is not None and movable and target is not document.status:
                self._set_status(conn, row[0], document, target, signer.user_id, request.meaning.value)
        return signature
