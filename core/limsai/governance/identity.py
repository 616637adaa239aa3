"""Identities the audit log records: the kind of actor, and the versioned AI agent that acted.

ALCOA+ reads "attributable" as the person *or computerised system* that acted: an AI step is a
first-class, versioned actor, never disguised as the human who invoked it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from limsai.model import LimsModel, NonEmptyStr

SHA256_HEX = r"^[0-9a-f]{64}$"


class ActorType(StrEnum):
    HUMAN = "human"
    AI_AGENT = "ai_agent"
    SYSTEM = "system"


class AgentIdentity(LimsModel):
    """The AI agent that acts: step id and version, model, and the approved prompt it rendered."""

    step_id: NonEmptyStr
    step_version: NonEmptyStr
    model_id: str = "deterministic"
    prompt_id: str = ""
    prompt_version: str = ""
    prompt_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")

    @property
    def actor_id(self) -> str:
        """How the agent appears as an actor: ``ai:<step id>@<step version>``."""
        return f"ai:{self.step_id}@{self.step_version}"
