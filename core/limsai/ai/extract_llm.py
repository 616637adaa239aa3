"""Grounded extraction of protocol requirements with a language model.

The model answers in a fixed pydantic shape (through llama-index structured output: json_schema
content or a forced tool call, whichever the provider uses) and must give, for every value, the
words of the protocol it comes from. Nothing is taken on the model's word: a value is *grounded* only
when its quote occurs verbatim in the document (runs of whitespace count as one space, since line
wrapping is layout) and every number, date, unit and identifier of the value occurs in its quote
(the same check as for narratives, :mod:`limsai.ai.verify`). Ungrounded values are returned, marked,
for a reviewer; they are never accepted silently. The document is scanned for suspected prompt
injection first, and the flags travel with the result.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from limsai.ai.injection import InjectionFlag, scan
from limsai.ai.llm_drafter import DraftCall, document_block, render_prompt
from limsai.ai.providers import LlmClient
from limsai.ai.verify import check_narrative
from limsai.governance.prompts import ApprovedPrompt

PROMPT_ID = "protocol_extraction"

RequirementField = Literal[
    "storage_condition",
    "timepoint",
    "test",
    "method",
    "acceptance_criterion",
    "batches",
    "units_per_timepoint",
]


class QuotedValue(BaseModel):
    """One requirement the protocol states, with the protocol's own words for it."""

    field: RequirementField = Field(description="What kind of requirement this value is.")
    value: str = Field(description="The requirement as stated, e.g. '25 °C/60% RH' or '12 months'.")
    condition: str | None = Field(default=None, description="The storage condition it applies to, if any.")
    quote: str = Field(description="The exact words of the protocol this value comes from, verbatim.")


class ProtocolRequirements(BaseModel):
    """The model's answer: the requirements found and anything ambiguous, each with a quote."""

    values: list[QuotedValue] = Field(default_factory=list)
    ambiguities: list[QuotedValue] = Field(default_factory=list)


class GroundedValue(QuotedValue):
    """A value as checked: ``grounded`` only if its quote is in the document and supports it."""

    model_config = ConfigDict(frozen=True)

    grounded: bool
    problem: str | None = None


class LlmExtraction(BaseModel):
    """The checked result of one extraction call."""

    model_config = ConfigDict(frozen=True)

    document_id: str
    values: list[GroundedValue]
    ambiguities: list[GroundedValue]
    injection_flags: list[InjectionFlag]
    call: DraftCall

    @property
    def accepted(self) -> list[GroundedValue]:
        return [v for v in self.values if v.grounded]

    @property
    def ungrounded(self) -> list[GroundedValue]:
        return [v for v in self.values + self.ambiguities if not v.grounded]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def ground(value: QuotedValue, document: str) -> GroundedValue:
    """``value`` checked against ``document`` (its text as stored, or as rendered into the prompt)."""
    quote = _squash(value.quote)
    problem: str | None = None
    if not quote:
        problem = "no quote"
    elif quote not in _squash(document) and quote not in _squash(document_block(document)):
        problem = "quote not found verbatim in the document"
    else:
        check = check_narrative(value.value, {"quote": value.quote})
        if not check.verified:
            problem = "not in its quote: " + ", ".join(check.unverified_claims)
    return GroundedValue(**value.model_dump(), grounded=problem is None, problem=problem)


class LlmProtocolExtractor:
    """Extracts protocol requirements with the approved ``protocol_extraction`` prompt."""

    prompt_id = PROMPT_ID

    def __init__(self, client: LlmClient) -> None:
        self.client = client
        self.model_id = client.model_id

    def extract(
        self,
        prompt: ApprovedPrompt,
        *,
        document: str,
        document_id: str,
        sponsor_name: str,
        sponsor_id: str | None = None,
    ) -> LlmExtraction:
        flags = scan(document, sponsor_id=sponsor_id)
        facts = {"document": document, "document_id": document_id, "sponsor_name": sponsor_name}
        answer, call = self.client.structured(ProtocolRequirements, render_prompt(prompt, facts))
        return LlmExtraction(
            document_id=document_id,
            values=[ground(v, document) for v in answer.values],
            ambiguities=[ground(v, document) for v in answer.ambiguities],
            injection_flags=flags,
            call=DraftCall(
                prompt_id=prompt.id, prompt_version=prompt.version, prompt_sha256=prompt.sha256, call=call
            ),
        )
