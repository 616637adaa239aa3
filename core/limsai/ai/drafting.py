"""The drafter interface: an approved prompt plus computed facts in, draft text out.

Every drafted text in limsai (a package's executive summary, a report's summary section) comes from
an approved template in the prompt registry, loaded through the gateway so the load is audited and
the template's id, version and sha256 go into the draft's attribution. A :class:`Drafter` turns that
template and the step's facts into text. :class:`DeterministicDrafter`, the offline default, renders
the task's deterministic template (``<task>_template``) with the facts in a sandboxed Jinja
environment: no attribute access beyond plain data, every placeholder must be supplied, and the same
facts give the same text. An LLM drafter implements the same protocol on the task's LLM prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from limsai.governance.prompts import ApprovedPrompt

if TYPE_CHECKING:
    from limsai.governance.gateway import ScopedGateway
    from limsai.runtime.settings import LlmSettings


class DraftingError(ValueError):
    """The template could not be rendered with the facts given (a missing or malformed fact)."""


class Drafter(Protocol):
    """Turns an approved prompt and facts into draft text."""

    model_id: str

    def prompt_id(self, task: str) -> str:
        """The registry id of the prompt this drafter renders for ``task``."""
        ...

    def draft(self, prompt: ApprovedPrompt, facts: Mapping[str, Any]) -> str: ...


class DeterministicDrafter:
    """Renders ``<task>_template`` from the registry with the facts; no model, no network."""

    model_id = "deterministic"

    def prompt_id(self, task: str) -> str:
        return f"{task}_template"

    def draft(self, prompt: ApprovedPrompt, facts: Mapping[str, Any]) -> str:
        from jinja2 import StrictUndefined, TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
        )
        try:
            text = env.from_string(prompt.text).render(**facts)
        except TemplateError as exc:
            raise DraftingError(f"prompt {prompt.id} v{prompt.version} cannot be rendered: {exc}") from exc
        return text.strip()


def paragraphs(text: str) -> tuple[str, ...]:
    """``text`` split at blank lines, each paragraph's lines joined by single spaces."""
    blocks = [" ".join(line.strip() for line in block.splitlines()) for block in text.split("\n\n")]
    return tuple(block for block in blocks if block)


def drafter_for(settings: LlmSettings | None) -> Drafter:
    """The deployment's drafter: deterministic unless the settings name a language model."""
    if settings is None or settings.provider == "deterministic":
        return DeterministicDrafter()
    from limsai.ai.llm_drafter import LlmDrafter
    from limsai.ai.providers import build_client

    client = build_client(settings)
    assert client is not None  # only "deterministic" has no client
    return LlmDrafter(client)


class DraftedText(BaseModel):
    """A drafted narrative, its check against the facts, and the model call that made it (if any)."""

    text: str
    verified: bool
    unverified_claims: list[str]
    claims_checked: int
    llm_call: dict[str, Any] | None = None

    @property
    def narrative_checks(self) -> dict[str, Any]:
        return {"verified": self.verified, "unverified_claims": self.unverified_claims}


def draft_checked(
    gateway: ScopedGateway, drafter: Drafter, task: str, facts: Mapping[str, Any]
) -> DraftedText:
    """Load the task's approved prompt through the gateway (audited; the run's identity then names
    the prompt and the model), draft from ``facts``, check every number, date and unit of the text
    against them (nothing is corrected), and audit the model call (model, parameters, tokens)."""
    from limsai.ai.verify import check_narrative

    prompt = gateway.approved_prompt(drafter.prompt_id(task), model_id=drafter.model_id)
    text = drafter.draft(prompt, facts)
    # numbers must come from the computed facts, not from reference passages shown for context
    check = check_narrative(text, {k: v for k, v in facts.items() if k != "document"})
    call = getattr(drafter, "last_call", None)
    llm_call = call.model_dump(mode="json") if call is not None else None
    if llm_call is not None:
        gateway.audit_event("step.llm_call", task=task, call=llm_call)
    if not check.verified:
        # a count only: the claims are the narrative's own words and values, which stay out of the log
        gateway.audit_event(
            "step.narrative_unverified",
            reason="claims not found in the facts",
            claims=len(check.unverified_claims),
        )
    return DraftedText(
        text=text,
        verified=check.verified,
        unverified_claims=check.unverified_claims,
        claims_checked=check.claims_checked,
        llm_call=llm_call,
    )
