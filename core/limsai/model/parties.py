"""Who is who: sponsors (the CRO's clients) and the LIMS users who act on their data."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator

from limsai.model.common import Identifier, LimsModel, NonEmptyStr


class Sponsor(LimsModel):
    """A client of the CRO. ``canary`` is a unique marker planted in the sponsor's data so that a
    leak into another sponsor's output can be detected by a plain substring search."""

    sponsor_id: Identifier
    name: NonEmptyStr
    canary: str = ""


class Role(StrEnum):
    """LIMS roles known to limsai; a deployment maps its own LIMS role names onto these."""

    STUDY_DIRECTOR = "study_director"
    ANALYST = "analyst"
    QA_REVIEWER = "qa_reviewer"
    PROJECT_MANAGER = "project_manager"
    LIMS_ADMIN = "lims_admin"


ALL_SPONSORS = "*"
"""Sponsor access entry meaning every sponsor (LIMS administrators only)."""


class PrincipalKind(StrEnum):
    """Whether a LIMS account belongs to a person, an AI agent or a system integration."""

    HUMAN = "human"
    AI_AGENT = "ai_agent"
    SYSTEM = "system"


class Principal(LimsModel):
    """A LIMS user as limsai sees them: roles, the sponsors they may see, and whether they may see
    blinded fields (randomisation, treatment assignment). Only a ``human`` principal may sign, approve
    or trigger a step; service accounts of AI agents and integrations are ``ai_agent``/``system``."""

    user_id: Identifier
    display_name: NonEmptyStr
    kind: PrincipalKind = PrincipalKind.HUMAN
    roles: tuple[Role, ...] = ()
    sponsors: tuple[str, ...] = Field(
        default=(), description="sponsor ids the user may see; '*' for all (admins only)"
    )
    unblinded: bool = False
    active: bool = True

    @field_validator("sponsors")
    @classmethod
    def _wildcard_for_admins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if ALL_SPONSORS in value and len(value) > 1:
            raise ValueError("'*' (all sponsors) cannot be combined with named sponsors")
        return value

    def may_see(self, sponsor_id: str) -> bool:
        """True when this user is entitled to the sponsor's data."""
        return self.active and (ALL_SPONSORS in self.sponsors or sponsor_id in self.sponsors)

    @property
    def is_human(self) -> bool:
        """A person: kind ``human`` and not an ``ai:``/``system:`` account id."""
        return self.kind is PrincipalKind.HUMAN and not self.user_id.startswith(("ai:", "system:"))

    def has_role(self, role: Role) -> bool:
        return role in self.roles
