"""Typed refusals of the governance layer. Each is also written to the audit log before it is raised."""

from __future__ import annotations

from limsai.lims.errors import LimsError


class GovernanceError(LimsError):
    """Base of the governance layer's refusals (permanent: retrying changes nothing)."""


class PermissionDenied(GovernanceError):
    """The human principal's LIMS roles do not grant what the call needs."""


class PhaseForbids(GovernanceError):
    """The deployment's rollout phase does not allow this kind of operation (e.g. writes in read-only)."""


class ForbiddenOperation(GovernanceError):
    """An operation no AI agent may ever perform: sign, approve, release or delete."""


class AttributionMismatch(GovernanceError):
    """A draft claims an author (step, run, model, prompt, principal) other than the running context."""


class ReleaseRefused(GovernanceError):
    """A package may not be released: no valid human approval binds its manifest, a required sign-off
    is missing, or the stored package differs from what was signed. ``reasons`` says each why."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__(message)
