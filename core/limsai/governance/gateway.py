"""The scoped gateway: the only way a step reaches a LIMS.

It wraps any :class:`~limsai.lims.port.LimsAdapter` for one :class:`ClientProjectContext`:

* every call is scoped to the context's sponsor and study (the adapter filters in its query);
* every record coming back is re-checked; one of another sponsor or study is dropped, recorded as a
  security event, and the call fails closed with :class:`ScopeViolation` (nothing is returned);
* permissions come from the human principal's LIMS roles (:class:`GovernancePolicy`);
* blinded fields (randomisation, treatment assignment) are removed unless the principal is unblinded;
* writes are refused unless the rollout phase allows them, and a draft must carry the context's own
  attribution; what comes back must be a DRAFT;
* there is no way to sign, approve, release or delete: those methods exist only to refuse and audit;
  ``record_release`` records a release a human's approval e-signature already made, once the
  gateway itself has checked that signature against the stored package;
* prompts come only from the approved registry (``approved_prompt``), and name themselves in the
  attribution of everything the run drafts after.

Each call writes one audit entry (reads: the count and a sha256 of what was returned, never rows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel
from pydantic_core import to_json

from limsai.governance.audit_record import AuditRecord, AuditSink
from limsai.governance.context import ClientProjectContext
from limsai.governance.errors import (
    AttributionMismatch,
    ForbiddenOperation,
    PermissionDenied,
    PhaseForbids,
)
from limsai.governance.gateway_release import ReleaseOutcome, record_release
from limsai.governance.identity import ActorType
from limsai.governance.policy import PHASE_WRITES, WRITE_PERMISSIONS, GovernancePolicy, Permission
from limsai.governance.prompts import ApprovedPrompt, AuditContext, PromptRegistry
from limsai.lims.errors import LimsError, LimsRejected, ScopeViolation
from limsai.lims.port import LimsAdapter
from limsai.model import (
    AiAttribution,
    Calibration,
    Condition,
    Deviation,
    Document,
    DocumentStatus,
    DraftDocument,
    Instrument,
    LimsAuditEntry,
    ReagentLot,
    Result,
    ReviewTask,
    Role,
    Sample,
    Signature,
    SignatureMeaning,
    Specification,
    Study,
    TaskRequest,
    Test,
    Timepoint,
    utcnow,
)

M = TypeVar("M", bound=BaseModel)


def records_hash(records: Sequence[BaseModel]) -> str:
    """sha256 of the JSON array of the records, in the order returned (what a read audits)."""
    return hashlib.sha256(to_json(list(records))).hexdigest()


class ScopedGateway:
    """A LIMS as one step run may see it. See the module docstring for the rules."""

    def __init__(
        self,
        adapter: LimsAdapter,
        context: ClientProjectContext,
        audit: AuditSink,
        policy: GovernancePolicy | None = None,
    ) -> None:
        self._adapter = adapter
        self.context = context
        self._audit = audit
        self.policy = policy or GovernancePolicy()
        principal = context.principal
        if not principal.is_human or not principal.may_see(context.sponsor_id):
            self._deny(
                ScopeViolation,
                "security.scope_violation",
                f"principal {principal.user_id} may not act for sponsor {context.sponsor_id}",
            )

    # -- audit -------------------------------------------------------------------------------------
    def _record(self, action: str, **fields: Any) -> None:
        ctx = self.context
        self._audit.append(
            AuditRecord(
                actor_type=ActorType.AI_AGENT,
                actor_id=ctx.agent.actor_id,
                on_behalf_of=ctx.principal.user_id,
                agent=ctx.agent,
                sponsor_id=ctx.sponsor_id,
                study_id=ctx.study_id,
                action=action,
                run_id=ctx.run_id,
                **fields,
            )
        )

    def _deny(self, error: type[LimsError], action: str, reason: str, **details: Any) -> NoReturn:
        self._record(action, reason=reason, details={"lims": self._adapter.name, **details})
        raise error(reason)

    def _require(self, permission: Permission, method: str) -> None:
        if permission not in self.policy.permissions_of(self.context.principal):
            self._deny(
                PermissionDenied,
                "denied",
                f"{self.context.principal.user_id}'s roles do not grant {permission.value} ({method})",
                method=method,
            )
        if permission in WRITE_PERMISSIONS and permission not in PHASE_WRITES[self.context.rollout_phase]:
            self._deny(
                PhaseForbids,
                "denied",
                f"rollout phase {self.context.rollout_phase.value} does not allow "
                f"{permission.value} ({method})",
                method=method,
            )

    # -- reads ---------------------------------------------------------------------------------------
    def _in_scope(self, record: BaseModel) -> bool:
        sponsor = getattr(record, "sponsor_id", None)
        study = getattr(record, "study_id", None)
        if not hasattr(record, "sponsor_id"):
            return True  # lab-wide records: instruments, calibrations, reagent lots
        return sponsor == self.context.sponsor_id and (study is None or study == self.context.study_id)

    def _redact(self, record: M) -> tuple[M, int]:
        blinded: frozenset[str] = getattr(type(record), "BLINDED_FIELDS", frozenset())
        present = [f for f in blinded if getattr(record, f, None) is not None]
        if not present or self.context.principal.unblinded:
            return record, 0
        return record.model_copy(update=dict.fromkeys(present)), len(present)

    def _read_ref(self, method: str) -> str:
        """The record reference a read is audited under: ``study/<id>/<what was read>``."""
        what = method.removeprefix("list_").removeprefix("get_")
        return f"study/{self.context.study_id}/{what}"

    def _read(self, method: str, permission: Permission, call: Callable[[], Sequence[M]]) -> list[M]:
        self._require(permission, method)
        try:
            fetched = list(call())
        except LimsError as exc:
            self._record(
                "read_failed",
                record=self._read_ref(method),
                reason=str(exc),
                details={"lims": self._adapter.name},
            )
            raise
        foreign = [r for r in fetched if not self._in_scope(r)]
        if foreign:
            self._deny(
                ScopeViolation,
                "security.scope_violation",
                f"{method}: the LIMS returned {len(foreign)} record(s) outside sponsor "
                f"{self.context.sponsor_id} / study {self.context.study_id}; nothing was returned",
                method=method,
                dropped=len(foreign),
                dropped_hash=records_hash(foreign),
            )
        out: list[M] = []
        removed = 0
        for record in fetched:
            clean, count = self._redact(record)
            out.append(clean)
            removed += count
        details: dict[str, Any] = {"method": method, "count": len(out), "lims": self._adapter.name}
        if removed:
            details["blinded_values_removed"] = removed
        self._record("read", record=self._read_ref(method), new_hash=records_hash(out), details=details)
        return out

    def get_study(self) -> Study:
        return self._read(
            "get_study", Permission.READ_DATA, lambda: [self._adapter.get_study(self.context.scope)]
        )[0]

    def list_conditions(self) -> list[Condition]:
        return self._read(
            "list_conditions", Permission.READ_DATA, lambda: self._adapter.list_conditions(self.context.scope)
        )

    def list_timepoints(self) -> list[Timepoint]:
        return self._read(
            "list_timepoints", Permission.READ_DATA, lambda: self._adapter.list_timepoints(self.context.scope)
        )

    def list_samples(self) -> list[Sample]:
        return self._read(
            "list_samples", Permission.READ_DATA, lambda: self._adapter.list_samples(self.context.scope)
        )

    def list_tests(self) -> list[Test]:
        return self._read(
            "list_tests", Permission.READ_DATA, lambda: self._adapter.list_tests(self.context.scope)
        )

    def list_results(self) -> list[Result]:
        return self._read(
            "list_results", Permission.READ_DATA, lambda: self._adapter.list_results(self.context.scope)
        )

    def list_specifications(self) -> list[Specification]:
        return self._read(
            "list_specifications",
            Permission.READ_DATA,
            lambda: self._adapter.list_specifications(self.context.scope),
        )

    def list_instruments(self) -> list[Instrument]:
        return self._read(
            "list_instruments",
            Permission.READ_DATA,
            lambda: self._adapter.list_instruments(self.context.scope),
        )

    def list_calibrations(self) -> list[Calibration]:
        return self._read(
            "list_calibrations",
            Permission.READ_DATA,
            lambda: self._adapter.list_calibrations(self.context.scope),
        )

    def list_reagent_lots(self) -> list[ReagentLot]:
        return self._read(
            "list_reagent_lots",
            Permission.READ_DATA,
            lambda: self._adapter.list_reagent_lots(self.context.scope),
        )

    def list_deviations(self) -> list[Deviation]:
        return self._read(
            "list_deviations", Permission.READ_DATA, lambda: self._adapter.list_deviations(self.context.scope)
        )

    def list_documents(self) -> list[Document]:
        return self._read(
            "list_documents",
            Permission.READ_DOCUMENTS,
            lambda: self._adapter.list_documents(self.context.scope),
        )

    def list_tasks(self) -> list[ReviewTask]:
        return self._read(
            "list_tasks", Permission.READ_DOCUMENTS, lambda: self._adapter.list_tasks(self.context.scope)
        )

    def list_signatures(self, document_id: str | None = None) -> list[Signature]:
        return self._read(
            "list_signatures",
            Permission.READ_DOCUMENTS,
            lambda: self._adapter.list_signatures(self.context.scope, document_id),
        )

    def list_audit_trail(self, record_id: str | None = None) -> list[LimsAuditEntry]:
        return self._read(
            "list_audit_trail",
            Permission.READ_AUDIT_TRAIL,
            lambda: self._adapter.list_audit_trail(self.context.scope, record_id),
        )

    def get_document_content(self, document_id: str, version: int) -> bytes:
        self._require(Permission.READ_DOCUMENTS, "get_document_content")
        content = self._adapter.get_document_content(self.context.scope, document_id, version)
        self._record(
            "read",
            record=f"document/{document_id}/v{version}",
            new_hash=hashlib.sha256(content).hexdigest(),
            details={"method": "get_document_content", "bytes": len(content), "lims": self._adapter.name},
        )
        return content

    # -- writes --------------------------------------------------------------------------------------
    def attribution(self) -> AiAttribution:
        """The attribution every draft of this run must carry."""
        ctx = self.context
        return AiAttribution(
            step_id=ctx.agent.step_id,
            step_version=ctx.agent.step_version,
            run_id=ctx.run_id,
            on_behalf_of=ctx.principal.user_id,
            model_id=ctx.agent.model_id,
            prompt_id=ctx.agent.prompt_id,
            prompt_version=ctx.agent.prompt_version,
            prompt_sha256=ctx.agent.prompt_sha256,
        )

    def attach_draft(self, draft: DraftDocument, *, idempotency_key: str) -> Document:
        """Attach ``draft`` to the context's study as a DRAFT (idempotent on the key)."""
        self._require(Permission.WRITE_DRAFTS, "attach_draft")
        if draft.attribution != self.attribution():
            self._deny(
                AttributionMismatch,
                "denied",
                "the draft's attribution does not match this run's step, model, prompt and principal",
                method="attach_draft",
            )
        started = utcnow()
        document = self._adapter.attach_draft(self.context.scope, draft, idempotency_key=idempotency_key)
        replay = document.created_at < started  # a retry returns the first attachment, perhaps since reviewed
        if document.status is not DocumentStatus.DRAFT and not replay:
            self._deny(
                LimsRejected,
                "security.status_violation",
                f"the LIMS stored document {document.document_id} v{document.version} as "
                f"{document.status.value}; AI output must be a draft",
            )
        self._record(
            "attach_draft",
            record=f"document/{document.document_id}/v{document.version}",
            new_hash=document.sha256,
            details={
                "name": draft.name,
                "filename": draft.filename,
                "idempotency_key": idempotency_key,
                "replay": replay,
            },
        )
        return document

    def create_task(self, task: TaskRequest, *, idempotency_key: str) -> ReviewTask:
        """Open a review task for a human (idempotent on the key)."""
        self._require(Permission.CREATE_TASKS, "create_task")
        created = self._adapter.create_task(self.context.scope, task, idempotency_key=idempotency_key)
        self._record(
            "create_task",
            record=f"task/{created.task_id}",
            new_value={"assignee": created.assignee, "document_id": created.document_id},
            details={"idempotency_key": idempotency_key},
        )
        return created

    def record_release(
        self,
        manifest_document_id: str | None,
        version: int | None = None,
        *,
        manifest_name: str | None = None,
        required: Mapping[Role, SignatureMeaning] | None = None,
    ) -> ReleaseOutcome:
        """Record in the LIMS the release a human's approval e-signature made, after checking it
        (see :mod:`limsai.governance.gateway_release`); :class:`ReleaseRefused` otherwise."""
        return record_release(
            self, manifest_document_id, version, manifest_name=manifest_name, required=required
        )

    # -- approved prompts ------------------------------------------------------------------------------
    def approved_prompt(
        self, prompt_id: str, version: str | None = None, *, model_id: str | None = None
    ) -> ApprovedPrompt:
        """The approved template ``prompt_id`` (latest approved version unless ``version``), checked
        against its registered sha256; the load (or refusal) is audited under this run, and from
        here on the run's agent identity, and so every draft's attribution, names the prompt (and
        ``model_id``, the model that will render it, when given)."""
        prompt = PromptRegistry.load().get(
            prompt_id, version, audit=self._audit, actor=AuditContext.for_run(self.context)
        )
        agent = prompt.stamp(self.context.agent)
        if model_id:
            agent = agent.model_copy(update={"model_id": model_id})
        self.context = self.context.model_copy(update={"agent": agent})
        return prompt

    # -- run lifecycle --------------------------------------------------------------------------------
    def audit_event(self, action: str, *, reason: str = "", **details: Any) -> None:
        """Record a step-lifecycle event (``step.started``, ``step.finished``) under this run's identity.
        Details are identifiers and counts; never result values or document text."""
        if not action.startswith("step."):
            raise ValueError("lifecycle events are named step.<event>")
        self._record(action, record=f"study/{self.context.study_id}", reason=reason, details=details)

    # -- what no AI agent may do ------------------------------------------------------------------------
    def _forbidden(self, operation: str, target: str) -> NoReturn:
        self._deny(
            ForbiddenOperation,
            "security.forbidden_operation",
            f"an AI agent may never {operation} ({target}); a human does this in the LIMS",
            operation=operation,
            target=target,
        )

    def sign(self, document_id: str, *_: object, **__: object) -> NoReturn:
        self._forbidden("sign", document_id)

    def approve(self, document_id: str, *_: object, **__: object) -> NoReturn:
        self._forbidden("approve", document_id)

    def release(self, document_id: str, *_: object, **__: object) -> NoReturn:
        self._forbidden("release", document_id)

    def delete(self, record_id: str, *_: object, **__: object) -> NoReturn:
        self._forbidden("delete", record_id)
