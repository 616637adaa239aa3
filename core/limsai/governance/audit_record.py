"""What the governance layer asks the audit log to record (one ``AuditRecord`` per event).

The log adds what the caller must not choose: the sequence number, the server's UTC time and the
hash of the previous entry. Values may be recorded as such or, when large or sensitive, as their
sha256 (``old_hash``/``new_hash``); reads are recorded once per gateway call with a count and the
hash of what was returned, never row by row.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import Field, model_validator

from limsai.governance.identity import ActorType, AgentIdentity
from limsai.model import LimsModel, NonEmptyStr


class AuditRecord(LimsModel):
    """One event for the audit log: who, for whom, on which sponsor/study, what, to which record, why."""

    actor_type: ActorType
    actor_id: NonEmptyStr
    on_behalf_of: str | None = None
    agent: AgentIdentity | None = None
    sponsor_id: str | None = None
    study_id: str | None = None
    action: NonEmptyStr
    record: str = Field(default="", description="reference of the record acted on, e.g. document/DOC-1/v2")
    old_value: Any = None
    new_value: Any = None
    old_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    new_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    reason: str = ""
    run_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _agent_for_ai(self) -> AuditRecord:
        if self.actor_type is ActorType.AI_AGENT and self.agent is None:
            raise ValueError("an ai_agent entry must carry the agent identity")
        return self


class AuditSink(Protocol):
    """Anything that records :class:`AuditRecord` values (the audit log; a list in unit tests)."""

    def append(self, record: AuditRecord) -> Any: ...
