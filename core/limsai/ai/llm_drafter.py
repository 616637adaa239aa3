"""The language-model drafter: the :class:`~limsai.ai.drafting.Drafter` protocol on an LLM.

It renders the task's approved LLM prompt (``prompt_id(task)`` is the task's name, e.g.
``package_executive_summary``) and sends it to the configured model. The facts enter the prompt as
delimited data: the ``{facts}`` placeholder receives all facts as JSON in which ``<``, ``>`` and ``&``
are escaped, so no value can close the ``<facts>`` block or open a tag of its own; a ``{document}``
placeholder (or ``{<name>_document}``) receives document text with its lines kept but angle brackets
replaced, so it stays inside its ``<document>`` block; other placeholders (``{study_id}``,
``{package_files}``) receive single facts flattened to one line with angle brackets and braces
neutralised. Placeholders are plain names only (no attribute or index access), and every placeholder
must be supplied.

What each call used (model id, parameters, token usage, prompt id/version/hash) is kept on
:attr:`LlmDrafter.last_call` for the step to put into provenance and the audit log. A model that answers
with nothing usable raises an :class:`~limsai.ai.providers.LlmError`; no draft is returned.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from limsai.ai.drafting import DraftingError
from limsai.ai.providers import LlmCall, LlmClient
from limsai.governance.prompts import ApprovedPrompt

FACTS_PLACEHOLDER = "facts"
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_INLINE_ESCAPES = str.maketrans({"<": "\u2039", ">": "\u203a", "{": "(", "}": ")"})
_BLOCK_ESCAPES = str.maketrans({"<": "\u2039", ">": "\u203a"})


class DraftCall(BaseModel):
    """One drafting call, for provenance and audit: what produced the text, never the text itself."""

    model_config = ConfigDict(frozen=True)

    prompt_id: str
    prompt_version: str
    prompt_sha256: str
    call: LlmCall


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"a {type(value).__name__} is not a fact (plain data only)")


def facts_block(facts: Mapping[str, Any]) -> str:
    """``facts`` as indented JSON that cannot contain ``<``, ``>`` or ``&`` (escaped as \\uXXXX)."""
    try:
        text = json.dumps(dict(facts), indent=2, sort_keys=True, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise DraftingError(f"facts cannot be serialised: {exc}") from exc
    for char, escape in _ESCAPES.items():
        text = text.replace(char, escape)
    return text


def inline_value(value: Any) -> str:
    """One fact as prompt text: lists as ``- item`` lines, everything on its own lines flattened,
    angle brackets and braces replaced so a value can neither open a tag nor a placeholder."""
    if isinstance(value, list | tuple):
        return "\n".join(f"- {inline_value(item)}" for item in value) or "(none)"
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True, default=_json_default).translate(_INLINE_ESCAPES)
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return " ".join(text.split()).translate(_INLINE_ESCAPES)


def document_block(text: str) -> str:
    """Document text for a ``<document>`` block: lines kept, control characters dropped, angle
    brackets replaced so the text can neither close the block nor open a tag of its own."""
    kept = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    return kept.translate(_BLOCK_ESCAPES).strip("\n")


def placeholders(template: str) -> list[str]:
    """The placeholder names in ``template``; :class:`DraftingError` for anything but plain names."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise DraftingError(f"template is malformed: {exc}") from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise DraftingError(f"placeholder {{{name}}} is not a plain name")
        names.append(name)
    return names


def _is_document(name: str) -> bool:
    return name == "document" or name.endswith("_document")


def render_prompt(prompt: ApprovedPrompt, facts: Mapping[str, Any]) -> str:
    """The approved template with its placeholders filled from ``facts`` (``{facts}``: all of them)."""
    values: dict[str, str] = {}
    for name in placeholders(prompt.text):
        if name == FACTS_PLACEHOLDER:
            values[name] = facts_block(facts)
        elif name in facts and _is_document(name):
            values[name] = document_block(str(facts[name]))
        elif name in facts:
            values[name] = inline_value(facts[name])
        else:
            raise DraftingError(f"prompt {prompt.id} v{prompt.version} needs the fact {name!r}")
    out: list[str] = []
    for literal, field, _spec, _conversion in string.Formatter().parse(prompt.text):
        out.append(literal)
        if field is not None:
            out.append(values[field])
    return "".join(out)


class LlmDrafter:
    """Drafts with a language model from the task's approved LLM prompt."""

    def __init__(self, client: LlmClient) -> None:
        self.client = client
        self.model_id = client.model_id
        self.last_call: DraftCall | None = None

    def prompt_id(self, task: str) -> str:
        return task

    def draft(self, prompt: ApprovedPrompt, facts: Mapping[str, Any]) -> str:
        self.last_call = None
        text, call = self.client.chat(render_prompt(prompt, facts))
        self.last_call = DraftCall(
            prompt_id=prompt.id, prompt_version=prompt.version, prompt_sha256=prompt.sha256, call=call
        )
        return text.strip()
