"""Records around the data: deviations, documents and drafts, review tasks, e-signatures and the
LIMS's own audit trail.

A draft written by limsai is always ``DocumentStatus.DRAFT`` and carries its AI attribution; only a
human e-signature (bound to the content's sha256, 21 CFR 11.70) can move it on. A package is marked
RELEASED only after the release check has found a human approval signature on its manifest.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from limsai.model.common import Identifier, LimsModel, NonEmptyStr, UtcDatetime

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class DeviationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Deviation(LimsModel):
    """An unplanned departure from protocol or SOP recorded against a study."""

    deviation_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    title: NonEmptyStr
    description: str = ""
    category: str = ""
    status: DeviationStatus = DeviationStatus.OPEN
    opened_at: UtcDatetime
    related_records: tuple[str, ...] = ()


class DocumentStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    RELEASED = "released"


class AiAttribution(LimsModel):
    """Who (which AI step, model and prompt) produced a draft, on whose behalf, in which run."""

    step_id: NonEmptyStr
    step_version: NonEmptyStr
    run_id: NonEmptyStr
    on_behalf_of: Identifier
    model_id: str = ""
    prompt_id: str = ""
    prompt_version: str = ""
    prompt_sha256: str = ""


class DraftDocument(LimsModel):
    """What a step asks the LIMS to attach: always stored as a DRAFT with its AI attribution."""

    name: NonEmptyStr = Field(description="document name; a second draft of one name is a new version")
    filename: NonEmptyStr
    media_type: NonEmptyStr
    content: bytes
    milestone: str = ""
    description: str = ""
    attribution: AiAttribution

    @field_validator("filename")
    @classmethod
    def _plain_filename(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in {".", ".."}:
            raise ValueError(f"filename {value!r} must be a plain file name, not a path")
        return value

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class Document(LimsModel):
    """A document version attached to a study in the LIMS (content is read separately)."""

    document_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    name: NonEmptyStr
    version: int = Field(ge=1)
    status: DocumentStatus
    filename: NonEmptyStr
    media_type: NonEmptyStr
    sha256: str = Field(pattern=SHA256_PATTERN)
    size: int = Field(ge=0)
    milestone: str = ""
    description: str = ""
    created_at: UtcDatetime
    created_by: Identifier
    attribution: AiAttribution | None = None

    @property
    def ai_generated(self) -> bool:
        return self.attribution is not None


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskRequest(LimsModel):
    """A review task a step asks the LIMS to open for a human."""

    title: NonEmptyStr
    assignee: Identifier
    document_id: Identifier | None = None
    document_version: int | None = Field(default=None, ge=1)
    instructions: str = ""
    required_meaning: str = "review"


class ReviewTask(LimsModel):
    task_id: Identifier
    study_id: Identifier
    sponsor_id: Identifier
    title: NonEmptyStr
    assignee: Identifier
    status: TaskStatus = TaskStatus.OPEN
    document_id: Identifier | None = None
    document_version: int | None = None
    instructions: str = ""
    required_meaning: str = "review"
    created_at: UtcDatetime
    created_by: Identifier


class SignatureMeaning(StrEnum):
    AUTHORSHIP = "authorship"
    REVIEW = "review"
    APPROVAL = "approval"
    RESPONSIBILITY = "responsibility"


class SignatureRequest(LimsModel):
    """A human e-signature as the LIMS captured it (the LIMS authenticates the signer)."""

    document_id: Identifier
    version: int = Field(ge=1)
    signer: Identifier
    printed_name: NonEmptyStr
    meaning: SignatureMeaning
    content_sha256: str = Field(pattern=SHA256_PATTERN)


class Signature(LimsModel):
    """An e-signature: who (printed name), when (UTC), what it means, and the content it binds."""

    signature_id: Identifier
    document_id: Identifier
    version: int = Field(ge=1)
    study_id: Identifier
    sponsor_id: Identifier
    signer: Identifier
    printed_name: NonEmptyStr
    signed_at: UtcDatetime
    meaning: SignatureMeaning
    content_sha256: str = Field(pattern=SHA256_PATTERN)


class DocumentRef(LimsModel):
    """One exact document version, named with the content hash the caller expects it to hold."""

    document_id: Identifier
    version: int = Field(ge=1)
    sha256: str = Field(pattern=SHA256_PATTERN)


class ReleaseRequest(LimsModel):
    """Mark a signed package released: every document version of the package, the human approval
    e-signature that allows it (it must sit on one of those documents and bind its content), and
    the person who asked for the release."""

    signature_id: Identifier
    documents: tuple[DocumentRef, ...] = Field(min_length=1)
    released_by: Identifier
    reason: NonEmptyStr
    details: dict[str, Any] = Field(default_factory=dict)


class AuditEvent(LimsModel):
    """Something the LIMS's own audit trail records (who, what, when, why); the LIMS numbers it."""

    at: UtcDatetime
    user_id: str
    action: NonEmptyStr
    record_type: NonEmptyStr
    record_id: str
    sponsor_id: str | None = None
    study_id: str | None = None
    field: str = ""
    old_value: str | None = None
    new_value: str | None = None
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class LimsAuditEntry(AuditEvent):
    """One numbered row of the LIMS's own audit trail (not limsai's audit log)."""

    entry_id: int = Field(ge=1)
