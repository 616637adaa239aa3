"""The LIMS port: the one interface through which limsai reads from and writes to any LIMS.

Every vendor adapter (LabWare, LabVantage, SampleManager, Benchling) and the embedded reference
LIMS implement :class:`LimsAdapter`. It speaks the domain model only, never a vendor's names.

Rules every implementation keeps (the conformance suite checks them):

* Every read takes the caller's :class:`Scope` and returns only that sponsor's (and, when given,
  that study's) records; the scope is applied as a query filter inside the adapter.
* Reads are paged inside the adapter: "all results of study S" costs O(pages) LIMS calls, never one
  call per sample.
* ``attach_draft`` and ``create_task`` are idempotent on their key: a retry returns the first
  record and writes nothing more; ``release_documents`` leaves released versions as they are.
* Errors are the typed ones of :mod:`limsai.lims.errors`.
* Each adapter declares its :class:`Capability` set; :func:`require` fails clearly on a missing one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable

from limsai.lims.errors import CapabilityMissing, NotFound, ScopeViolation
from limsai.model import (
    ALL_SPONSORS,
    Calibration,
    Condition,
    Deviation,
    Document,
    DraftDocument,
    Identifier,
    Instrument,
    LimsAuditEntry,
    LimsModel,
    Principal,
    ReagentLot,
    ReleaseRequest,
    Result,
    ReviewTask,
    Sample,
    Signature,
    SignatureRequest,
    Specification,
    Study,
    TaskRequest,
    Test,
    Timepoint,
)


class Scope(LimsModel):
    """The sponsor (and optionally the one study) a call may see."""

    sponsor_id: Identifier
    study_id: Identifier | None = None

    def admits(self, sponsor_id: str | None, study_id: str | None = None) -> bool:
        """True when a record of ``sponsor_id``/``study_id`` lies inside this scope."""
        if sponsor_id != self.sponsor_id:
            return False
        return self.study_id is None or study_id is None or study_id == self.study_id


class StudyScope(Scope):
    """A scope naming exactly one study (writes and document reads need one)."""

    study_id: Identifier


class Capability(StrEnum):
    """What an adapter can do; steps declare the capabilities they need."""

    READ_STUDIES = "studies.read"
    READ_SCHEDULE = "schedule.read"
    READ_SAMPLES = "samples.read"
    READ_RESULTS = "results.read"
    READ_SPECIFICATIONS = "specifications.read"
    READ_INSTRUMENTS = "instruments.read"
    READ_REAGENTS = "reagents.read"
    READ_DEVIATIONS = "deviations.read"
    READ_DOCUMENTS = "documents.read"
    ATTACH_DRAFTS = "documents.attach_draft"
    READ_TASKS = "tasks.read"
    CREATE_TASKS = "tasks.create"
    READ_SIGNATURES = "signatures.read"
    RECORD_SIGNATURES = "signatures.record"
    RELEASE_DOCUMENTS = "documents.release"
    READ_AUDIT_TRAIL = "audit_trail.read"
    READ_USERS = "users.read"


ALL_CAPABILITIES = frozenset(Capability)


@runtime_checkable
class LimsAdapter(Protocol):
    """A LIMS as limsai sees it. See the module docstring for the rules."""

    @property
    def name(self) -> str:
        """The LIMS instance name (as configured), e.g. ``embedded`` or ``labvantage-prod``."""
        ...

    @property
    def vendor(self) -> str:
        """``embedded``, ``labware``, ``labvantage``, ``samplemanager`` or ``benchling``."""
        ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    # -- studies and their schedule -------------------------------------------------------
    def list_studies(self, scope: Scope) -> list[Study]:
        """The sponsor's studies (only ``scope.study_id`` when it is set)."""
        ...

    def get_study(self, scope: StudyScope) -> Study:
        """One study; :class:`~limsai.lims.errors.NotFound` when it is not in the scope."""
        ...

    def list_conditions(self, scope: Scope) -> list[Condition]: ...

    def list_timepoints(self, scope: Scope) -> list[Timepoint]: ...

    # -- samples, tests, results, specifications ------------------------------------------
    def list_samples(self, scope: Scope) -> list[Sample]: ...

    def list_tests(self, scope: Scope) -> list[Test]: ...

    def list_results(self, scope: Scope) -> list[Result]: ...

    def list_specifications(self, scope: Scope) -> list[Specification]: ...

    # -- lab resources the scope's results used --------------------------------------------
    def list_instruments(self, scope: Scope) -> list[Instrument]:
        """Instruments named by the scope's results."""
        ...

    def list_calibrations(self, scope: Scope) -> list[Calibration]:
        """Calibrations of the instruments named by the scope's results."""
        ...

    def list_reagent_lots(self, scope: Scope) -> list[ReagentLot]:
        """Reagent lots named by the scope's results."""
        ...

    def list_deviations(self, scope: Scope) -> list[Deviation]: ...

    # -- documents, drafts, tasks, signatures ------------------------------------------------
    def list_documents(self, scope: Scope) -> list[Document]:
        """Every version of every document in the scope."""
        ...

    def get_document_content(self, scope: StudyScope, document_id: str, version: int) -> bytes: ...

    def attach_draft(self, scope: StudyScope, draft: DraftDocument, *, idempotency_key: str) -> Document:
        """Attach ``draft`` to the study as a new DRAFT version (idempotent on the key)."""
        ...

    def list_tasks(self, scope: Scope) -> list[ReviewTask]: ...

    def create_task(self, scope: StudyScope, task: TaskRequest, *, idempotency_key: str) -> ReviewTask:
        """Open a review task for a human (idempotent on the key)."""
        ...

    def list_signatures(self, scope: Scope, document_id: str | None = None) -> list[Signature]: ...

    def record_signature(self, scope: StudyScope, request: SignatureRequest) -> Signature:
        """Record a human e-signature the LIMS captured; it must bind the version's sha256."""
        ...

    def release_documents(self, scope: StudyScope, request: ReleaseRequest) -> list[Document]:
        """Mark every listed document version RELEASED, allowed by ``request.signature_id``: an
        approval e-signature on one of the listed versions that binds its sha256. Each listed
        version must hold the sha256 given and be neither superseded nor rejected. All or nothing,
        and idempotent: versions already released stay as they are."""
        ...

    # -- the LIMS's own audit trail and its users ---------------------------------------------
    def list_audit_trail(self, scope: Scope, record_id: str | None = None) -> list[LimsAuditEntry]: ...

    def get_user(self, user_id: str) -> Principal: ...

    def list_users(self) -> list[Principal]: ...


def require(adapter: LimsAdapter, *needed: Capability) -> None:
    """Fail with :class:`CapabilityMissing` naming what ``adapter`` lacks."""
    missing = sorted(set(needed) - set(adapter.capabilities))
    if missing:
        raise CapabilityMissing(
            f"LIMS {adapter.name!r} ({adapter.vendor}) does not offer: " + ", ".join(c.value for c in missing)
        )


def study_scope_for(adapter: LimsAdapter, user_id: str, study_id: str) -> StudyScope:
    """The scope of ``study_id``, found only among the sponsors ``user_id`` may see: a study of
    another sponsor is :class:`NotFound` to them. A user entitled to every sponsor (an
    administrator) is refused: study work runs for a person of the study's own sponsor."""
    user = adapter.get_user(user_id)
    if ALL_SPONSORS in user.sponsors:
        raise ScopeViolation(
            f"{user_id} has access to every sponsor; study steps run for a user of the study's sponsor"
        )
    for sponsor_id in user.sponsors:
        scope = StudyScope(sponsor_id=sponsor_id, study_id=study_id)
        try:
            adapter.get_study(scope)
        except NotFound:
            continue
        return scope
    raise NotFound(f"study {study_id} not found among the sponsors {user_id} may see")
