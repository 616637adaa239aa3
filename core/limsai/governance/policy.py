"""What each LIMS role may have an AI step do, and what each rollout phase allows.

The mapping is configuration (deployment settings carry a :class:`GovernancePolicy`); the defaults
below follow a CRO's usual split of duties. Signing, approving, releasing and deleting are not
permissions at all: no AI step can be granted them. ``release.record`` is not a release: it lets a
step record in the LIMS the release that a human's approval e-signature on the manifest has already
made, after the governance layer has checked that signature (write-back phase only).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from limsai.model import Principal, Role


class Permission(StrEnum):
    READ_DATA = "data.read"
    READ_DOCUMENTS = "documents.read"
    READ_AUDIT_TRAIL = "audit_trail.read"
    WRITE_DRAFTS = "drafts.write"
    CREATE_TASKS = "tasks.create"
    WRITE_DATA = "data.write"
    RECORD_RELEASE = "release.record"


class RolloutPhase(StrEnum):
    """How far a deployment lets AI steps reach into the LIMS."""

    READ_ONLY = "read-only"
    REVIEW_ASSISTED = "review-assisted"
    WRITE_BACK = "write-back"


WRITE_PERMISSIONS = frozenset(
    {Permission.WRITE_DRAFTS, Permission.CREATE_TASKS, Permission.WRITE_DATA, Permission.RECORD_RELEASE}
)

PHASE_WRITES: dict[RolloutPhase, frozenset[Permission]] = {
    RolloutPhase.READ_ONLY: frozenset(),
    RolloutPhase.REVIEW_ASSISTED: frozenset({Permission.WRITE_DRAFTS, Permission.CREATE_TASKS}),
    RolloutPhase.WRITE_BACK: WRITE_PERMISSIONS,
}
"""Writes each phase allows: read-only none; review-assisted drafts and review tasks (every output
waits for a human); write-back also structured data (e.g. samples logged in from a form) and the
recording of releases a human signed."""

_READS = frozenset({Permission.READ_DATA, Permission.READ_DOCUMENTS})
DEFAULT_ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.STUDY_DIRECTOR: frozenset(Permission),
    Role.PROJECT_MANAGER: _READS
    | {Permission.WRITE_DRAFTS, Permission.CREATE_TASKS, Permission.RECORD_RELEASE},
    Role.ANALYST: _READS | {Permission.WRITE_DRAFTS, Permission.WRITE_DATA},
    Role.QA_REVIEWER: _READS | {Permission.READ_AUDIT_TRAIL},
    Role.LIMS_ADMIN: frozenset({Permission.READ_AUDIT_TRAIL}),
}


class GovernancePolicy(BaseModel):
    """Role → permissions, and the roles whose approval releases a package."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role_permissions: dict[Role, frozenset[Permission]] = Field(
        default_factory=lambda: dict(DEFAULT_ROLE_PERMISSIONS)
    )
    reviewer_roles: frozenset[Role] = frozenset({Role.STUDY_DIRECTOR})

    def permissions_of(self, principal: Principal) -> frozenset[Permission]:
        """Everything the principal's roles grant (nothing for an inactive user)."""
        if not principal.active:
            return frozenset()
        granted: set[Permission] = set()
        for role in principal.roles:
            granted |= self.role_permissions.get(role, frozenset())
        return frozenset(granted)
