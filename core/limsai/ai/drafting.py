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
from typing import Any, Protocol

from limsai.governance.prompts import ApprovedPrompt


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
