"""The client-project context of one step run: which sponsor's study, which human asked, which AI
agent acts, under which rollout phase. It is frozen: nothing in a step can widen its scope."""

from __future__ import annotations

from pydantic import Field

from limsai.governance.identity import AgentIdentity
from limsai.governance.policy import RolloutPhase
from limsai.lims.errors import ScopeViolation
from limsai.lims.port import LimsAdapter, StudyScope
from limsai.model import Identifier, LimsModel, NonEmptyStr, Principal, StudyPhase

NON_HUMAN_PREFIXES = ("ai:", "system:")


def is_human_id(user_id: str) -> bool:
    """AI agents and system actors carry ``ai:``/``system:`` ids and are never human principals."""
    return not user_id.startswith(NON_HUMAN_PREFIXES)


class ClientProjectContext(LimsModel):
    """Everything the governance layer needs to scope, authorise and attribute a step run."""

    sponsor_id: Identifier
    study_id: Identifier
    protocol_number: NonEmptyStr
    study_phase: StudyPhase
    principal: Principal = Field(description="the human who triggered the step")
    agent: AgentIdentity
    rollout_phase: RolloutPhase
    run_id: NonEmptyStr
    lims_instance: NonEmptyStr = "embedded"

    @property
    def scope(self) -> StudyScope:
        return StudyScope(sponsor_id=self.sponsor_id, study_id=self.study_id)

    @classmethod
    def for_study(
        cls,
        adapter: LimsAdapter,
        scope: StudyScope,
        *,
        user_id: str,
        agent: AgentIdentity,
        rollout_phase: RolloutPhase,
        run_id: str,
    ) -> ClientProjectContext:
        """Build the context from the LIMS record: the study (in ``scope``) and the requesting user,
        who must be a human entitled to the study's sponsor."""
        if not is_human_id(user_id):
            raise ScopeViolation(f"{user_id} is not a human principal; steps run on behalf of a person")
        principal = adapter.get_user(user_id)
        if not principal.is_human:
            raise ScopeViolation(
                f"{user_id} is a {principal.kind.value} account; steps run on behalf of a person"
            )
        if not principal.may_see(scope.sponsor_id):
            raise ScopeViolation(f"user {user_id} is not entitled to sponsor {scope.sponsor_id}")
        study = adapter.get_study(scope)
        return cls(
            sponsor_id=study.sponsor_id,
            study_id=study.study_id,
            protocol_number=study.protocol_number,
            study_phase=study.phase,
            principal=principal,
            agent=agent,
            rollout_phase=rollout_phase,
            run_id=run_id,
            lims_instance=adapter.name,
        )
