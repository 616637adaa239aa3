"""Turns a queued job into a governed step run: resolve the step and the LIMS instance, find the
study's sponsor among the requesting user's sponsors, build the ClientProjectContext, open the audit
log and the scoped gateway, run the step, and return what the LIMS shows the user.

A job may be attempted more than once (a worker died, the LIMS was briefly unavailable): every write a
step makes is keyed on the run id, so a retry finds its earlier draft and task instead of adding new ones.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from limsai.governance.audit_log import AuditLog
from limsai.governance.context import ClientProjectContext
from limsai.governance.errors import PermissionDenied, PhaseForbids
from limsai.governance.gateway import ScopedGateway
from limsai.governance.identity import AgentIdentity
from limsai.lims.errors import LimsRejected
from limsai.lims.port import LimsAdapter, require, study_scope_for
from limsai.model import utcnow
from limsai.runtime.adapters import adapter_for
from limsai.runtime.logs import log
from limsai.runtime.queue import Job
from limsai.runtime.registry import StepRegistry, StepRun, load_registry
from limsai.runtime.settings import Settings

CHECKPOINT_EVERY_ENTRIES = 1000
CHECKPOINT_EVERY_SECONDS = 300.0


def checkpoint_due(audit: AuditLog) -> bool:
    """Sign a checkpoint when none exists, or every 1,000 entries or 5 minutes (a checkpoint rescans
    the log's leaves, so signing one per run would make runs slower as the log grows)."""
    latest = audit.latest_checkpoint()
    if latest is None:
        return True
    age = (utcnow() - datetime.fromisoformat(latest.time)).total_seconds()
    return audit.size() - latest.tree_size >= CHECKPOINT_EVERY_ENTRIES or age >= CHECKPOINT_EVERY_SECONDS


class StepRunner:
    """The queue's handler: one call runs one job's step through the governance layer."""

    def __init__(self, settings: Settings, registry: StepRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or load_registry()

    @property
    def workdir(self) -> Path:
        return self.settings.workdir

    def _adapter(self, lims: str) -> LimsAdapter:
        instance = self.settings.lims.get(lims)
        if instance is None:
            known = ", ".join(sorted(self.settings.lims)) or "none"
            raise LimsRejected(f"unknown LIMS instance {lims!r} (configured: {known})")
        return adapter_for(instance.vendor, instance, self.workdir)

    def handle(self, job: Job) -> dict[str, Any]:
        request = job.request
        spec = self.registry.get(request.step)
        params = self.registry.validate_params(request.step, request.parameters)
        adapter = self._adapter(request.lims)
        require(adapter, *spec.capabilities)
        scope = study_scope_for(adapter, request.requested_by, request.record.id)
        context = ClientProjectContext.for_study(
            adapter,
            scope,
            user_id=request.requested_by,
            agent=AgentIdentity(step_id=spec.id, step_version=spec.version),
            rollout_phase=self.settings.rollout_phase,
            run_id=job.run_id,
        )
        fields: dict[str, object] = {
            "run_id": job.run_id,
            "step": spec.id,
            "lims": request.lims,
            "sponsor_id": scope.sponsor_id,
        }
        log("step started", attempt=job.attempts, **fields)
        with AuditLog(self.workdir) as audit:
            gateway = ScopedGateway(adapter, context, audit, self.settings.policy)
            missing = spec.required_permissions(context.rollout_phase) - self.settings.policy.permissions_of(
                context.principal
            )
            if not spec.runs_in(context.rollout_phase) or missing:
                why = (
                    f"{spec.id} is a {spec.phase.value} step; the deployment is {context.rollout_phase.value}"
                    if not spec.runs_in(context.rollout_phase)
                    else f"{request.requested_by}'s roles do not grant "
                    + ", ".join(sorted(p.value for p in missing))
                )
                gateway.audit_event("step.refused", reason=why)
                audit.checkpoint()
                raise (PhaseForbids if not spec.runs_in(context.rollout_phase) else PermissionDenied)(why)
            gateway.audit_event("step.started", attempt=job.attempts, milestone=request.milestone)
            outcome = spec.run(
                StepRun(
                    context=context,
                    gateway=gateway,
                    params=params,
                    milestone=request.milestone,
                    attempt=job.attempts,
                    workdir=self.workdir,
                    llm=self.settings.llm,
                )
            )
            gateway.audit_event(
                "step.finished", drafts=len(outcome.drafts), tasks=len(outcome.tasks), summary=outcome.summary
            )
            if checkpoint_due(audit):
                audit.checkpoint()
        log("step finished", drafts=len(outcome.drafts), tasks=len(outcome.tasks), **fields)
        return {
            **outcome.model_dump(mode="json"),
            "sponsor_id": scope.sponsor_id,
            "study_id": scope.study_id,
            "step_version": spec.version,
        }
