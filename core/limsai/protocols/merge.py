"""Merging a language model's grounded extraction into the deterministic extractor's requirements.

Two extractors reading one protocol are worth more than either alone only when their differences
reach a person, and a model's answer is never taken on its word. The deterministic extractor stays
the base (every item it found is kept with its citation) and each value of the model is checked
against it:

* **agreement** (the same value after normalisation) raises the deterministic item's confidence by
  halving its remaining doubt, ``c + (1 - c) / 2`` (0.8 becomes 0.9, 0.9 becomes 0.95), once per
  item, and marks it ``llm=agrees``;
* **disagreement** (the model's quote covers words the deterministic extractor read as another
  value of the same kind and role) becomes a ``conflicting_value`` ambiguity citing both readings; neither
  reading is chosen;
* a grounded value **only the model found** is added with a citation located in the source (its
  quote found verbatim on one page, so ``quote == page.text[start:end]``), the modest confidence
  :data:`LLM_ONLY_CONFIDENCE` and ``source=llm``;
* an **ungrounded** value (its quote is not in the document, or does not contain the value) is
  never added: it becomes a ``not_stated`` ambiguity whose message starts with ``ungrounded:``;
* the model's own ambiguities become ``unclear_requirement`` ambiguities (or ungrounded flags), and
  the injection flags of the model's document scan become ``embedded_instruction`` ambiguities
  unless the deterministic extractor already flagged the same text.

How the model's fields map to item kinds (:data:`FIELDS`), and how values are compared:

========================  =============================================  ===========================
model field               deterministic item kinds                       compared as
========================  =============================================  ===========================
storage_condition         stability_condition, storage (its temperature)  text without spaces or case
timepoint                 pull_point (months), pk_timepoint (hours)       number and unit; condition
test                      test_method (the test's name)                   words, ignoring case
method                    test_method (its name or its method)            words, ignoring case
acceptance_criterion      acceptance_criterion                            text without spaces or case
batches,                  none: reported as unmapped, never added
units_per_timepoint
========================  =============================================  ===========================

A timepoint in other units than months or hours (days, weeks) is reported as unmapped too. The
protocol number, sponsor, phase, matrices and the schedule are not in the model's schema
(:data:`limsai.ai.extract_llm.RequirementField`), so they stay the deterministic extractor's alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from limsai.ai.extract_llm import GroundedValue, LlmExtraction
from limsai.ai.injection import InjectionFlag
from limsai.protocols import patterns as P
from limsai.protocols.models import (
    Ambiguity,
    AmbiguityKind,
    Citation,
    Item,
    ItemKind,
    ProtocolRequirements,
    SourceDocument,
)
from limsai.protocols.source import locate

LLM_ONLY_CONFIDENCE = 0.5
"""Confidence of a grounded value only the model found: below every deterministic reading."""

PAGE_SEPARATOR = "\n\n"
"""Between pages in :func:`document_text`, the text the model is shown."""

Outcome = Literal["agreed", "disagreed", "added", "duplicate", "ungrounded", "unmapped"]

_DASHES = str.maketrans({"\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2013": "-", "\u2014": "-"})
_UNESCAPE = str.maketrans({"\u2039": "<", "\u203a": ">"})
_TIME = re.compile(r"^(?:t\s*)?(\d+(?:\.\d+)?)\s*(months?|mo|m|hours?|hrs?|h)\b")
_PRE_DOSE = re.compile(r"^pre[-\s]?dose\b")


FIELDS: dict[str, tuple[ItemKind, ...]] = {
    "storage_condition": (ItemKind.STABILITY_CONDITION, ItemKind.STORAGE),
    "timepoint": (ItemKind.PULL_POINT, ItemKind.PK_TIMEPOINT),
    "test": (ItemKind.TEST_METHOD,),
    "method": (ItemKind.TEST_METHOD,),
    "acceptance_criterion": (ItemKind.ACCEPTANCE,),
}
"""The model's fields and the deterministic item kinds they are compared with."""


class MergeEntry(BaseModel):
    """What became of one value the model returned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    value: str
    outcome: Outcome
    citation: Citation | None = None
    detail: str = ""


class MergeReport(BaseModel):
    """Every model value's outcome, and the injection flags carried over."""

    model_config = ConfigDict(extra="forbid")

    model_id: str
    prompt_id: str
    prompt_version: str
    entries: list[MergeEntry] = Field(default_factory=list)
    model_ambiguities: int = 0
    injection_flags: int = 0
    injection_already_flagged: int = 0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for e in self.entries if e.outcome == outcome)

    @property
    def counts(self) -> dict[str, int]:
        """The report as counts (for provenance and the audit log: no protocol text)."""
        outcomes: tuple[Outcome, ...] = (
            "agreed",
            "disagreed",
            "added",
            "duplicate",
            "ungrounded",
            "unmapped",
        )
        return {
            "values": len(self.entries),
            **{o: self.count(o) for o in outcomes},
            "model_ambiguities": self.model_ambiguities,
            "injection_flags": self.injection_flags,
            "injection_already_flagged": self.injection_already_flagged,
        }


class MergeResult(BaseModel):
    requirements: ProtocolRequirements
    report: MergeReport


def document_text(source: SourceDocument) -> str:
    """The document as the model is shown it: the pages' text joined by :data:`PAGE_SEPARATOR`."""
    return PAGE_SEPARATOR.join(page.text for page in source.pages)


def raised(confidence: float) -> float:
    """An agreed item's confidence: half of the remaining doubt removed."""
    return round(confidence + (1 - confidence) / 2, 4)


def _compact(text: str) -> str:
    return "".join(text.translate(_DASHES).casefold().split())


def _words(text: str) -> str:
    return " ".join(text.translate(_DASHES).casefold().replace("-", " ").split())


def time_key(text: str) -> str | None:
    """``month:12``, ``hour:0.5`` or ``pre-dose`` for a timepoint; None for other units."""
    text = text.strip().casefold()
    if _PRE_DOSE.match(text):
        return "pre-dose"
    m = _TIME.match(text)
    if m is None:
        return None
    return f"{'month' if m.group(2).startswith('m') else 'hour'}:{float(m.group(1)):g}"


def value_key(field: str, value: str) -> str | None:
    """The model's value normalised for comparison (see the module docstring)."""
    if field == "timepoint":
        return time_key(value)
    key = _compact(value) if field in ("storage_condition", "acceptance_criterion") else _words(value)
    return key or None


def item_keys(field: str, item: Item) -> set[str]:
    """The keys under which a deterministic item agrees with a value of ``field``."""
    attrs = item.attributes
    if field == "timepoint":
        if item.kind is ItemKind.PULL_POINT:
            return {f"month:{float(attrs['months']):g}"} if attrs.get("months") else set()
        key = time_key(item.value)
        return {key} if key else set()
    if field == "storage_condition":
        return {_compact(item.value), _compact(attrs.get("temperature", ""))} - {""}
    if field == "method":
        return {_words(item.value), _words(attrs.get("method", ""))} - {""}
    return {value_key(field, item.value) or ""} - {""}


def _rival(field: str, key: str, item: Item) -> bool:
    """Whether ``item`` is another reading of what a value of ``field`` names (tests and methods
    share a kind: a table's test is not a rival of the method in its row)."""
    if field == "test":
        return "method" in item.attributes
    if field == "method":
        return "method" not in item.attributes
    if field == "timepoint":
        return (item.kind is ItemKind.PULL_POINT) == key.startswith("month:")
    return True


def _same_condition(value: GroundedValue, item: Item) -> bool:
    ours, theirs = _compact(value.condition or ""), _compact(item.attributes.get("condition", ""))
    return item.kind is not ItemKind.PULL_POINT or not ours or not theirs or ours == theirs


def _overlaps(a: Citation, b: Citation) -> bool:
    same = a.document_sha256 == b.document_sha256 and a.page == b.page
    return same and a.start < b.end and b.start < a.end


Where = tuple[str, int]


class _Merger:
    def __init__(self, base: ProtocolRequirements, source: SourceDocument, llm: LlmExtraction) -> None:
        self.base, self.source = base, source
        self.lists = {"requirements": list(base.requirements), "pk_timepoints": list(base.pk_timepoints)}
        self.flags: list[Ambiguity] = []
        self.raised: set[Where] = set()
        self.added: set[tuple[str, str, str]] = set()
        call = llm.call
        self.report = MergeReport(
            model_id=call.call.model_id, prompt_id=call.prompt_id, prompt_version=call.prompt_version
        )

    def slots(self) -> Iterator[tuple[Where, Item]]:
        for name, items in self.lists.items():
            for i, item in enumerate(items):
                yield (name, i), item

    def locate(self, quote: str) -> Citation | None:
        for candidate in dict.fromkeys((quote, quote.translate(_UNESCAPE))):
            for page in self.source.pages:
                span = locate(page.text, candidate)
                if span is not None:
                    return self.source.cite(page.number, *span)
        return None

    def note(
        self, v: GroundedValue, outcome: Outcome, cite: Citation | None = None, detail: str = ""
    ) -> None:
        self.report.entries.append(
            MergeEntry(field=v.field, value=v.value, outcome=outcome, citation=cite, detail=detail)
        )

    def ungrounded(self, v: GroundedValue, problem: str) -> None:
        quote = " ".join(v.quote.split())
        quote = quote if len(quote) <= 120 else quote[:117] + "..."
        self.flags.append(
            Ambiguity(
                kind=AmbiguityKind.NOT_STATED,
                message=f"ungrounded: the model gave {v.field} {v.value!r} quoting {quote!r}, but {problem}; "
                "it was not accepted",
            )
        )
        self.note(v, "ungrounded", detail=problem)

    def value(self, v: GroundedValue) -> None:
        if not v.grounded:
            self.ungrounded(v, v.problem or "its quote does not support it")
            return
        cite = self.locate(v.quote)
        if cite is None:
            self.ungrounded(v, "its quote is not on any single page of the source")
            return
        kinds, key = FIELDS.get(v.field), value_key(v.field, v.value)
        if kinds is None or key is None:
            self.note(v, "unmapped", cite, detail="no deterministic item kind for this value")
            return
        candidates = [  # the deterministic items only: the model does not confirm itself
            (w, item)
            for w, item in self.slots()
            if item.kind in kinds and item.attributes.get("source") != "llm"
        ]
        agreeing = [
            w for w, item in candidates if key in item_keys(v.field, item) and _same_condition(v, item)
        ]
        if agreeing:
            for where in agreeing:
                self.agree(where, dict(candidates)[where])
            self.note(v, "agreed", cite, detail=f"{len(agreeing)} item(s)")
            return
        conflicting = [
            item for _, item in candidates if _rival(v.field, key, item) and _overlaps(item.citation, cite)
        ]
        if conflicting:
            theirs = " / ".join(dict.fromkeys(item.value for item in conflicting))
            self.flags.append(
                Ambiguity(
                    kind=AmbiguityKind.CONFLICTING_VALUE,
                    message=f"the model reads the {v.field} as {v.value!r} where the deterministic "
                    f"extractor read {theirs!r}: which is right?",
                    citations=[cite, *(item.citation for item in conflicting)],
                )
            )
            self.note(v, "disagreed", cite, detail=theirs)
            return
        condition = _compact(v.condition or "") if v.field == "timepoint" else ""
        if (v.field, key, condition) in self.added:
            self.note(v, "duplicate", cite)
            return
        item = self.new_item(v, key, cite)
        if item is None:
            self.note(v, "unmapped", cite, detail="not expressible as a deterministic item")
            return
        self.added.add((v.field, key, condition))
        self.lists["pk_timepoints" if item.kind is ItemKind.PK_TIMEPOINT else "requirements"].append(item)
        self.note(v, "added", cite)

    def agree(self, where: Where, item: Item) -> None:
        if where in self.raised:
            return
        self.raised.add(where)
        name, i = where
        update = {"confidence": raised(item.confidence), "attributes": {**item.attributes, "llm": "agrees"}}
        self.lists[name][i] = item.model_copy(update=update)

    def _condition_name(self, condition: str) -> str:
        """The deterministic spelling of a stability condition, so pull points join their condition."""
        for item in self.lists["requirements"]:
            if item.kind is ItemKind.STABILITY_CONDITION and _compact(item.value) == _compact(condition):
                return item.value
        return " ".join(condition.split())

    def new_item(self, v: GroundedValue, key: str, cite: Citation) -> Item | None:
        value, attrs = " ".join(v.value.split()), {"source": "llm"}
        kind: ItemKind
        if v.field == "storage_condition":
            m = P.CONDITION.fullmatch(value)
            if m:
                kind, value = ItemKind.STABILITY_CONDITION, f"{m.group(1)} °C/{m.group(2)}% RH"
            else:
                subject = v.condition or "material"
                kind, attrs = ItemKind.STORAGE, {**attrs, "subject": subject, "temperature": value}
                value = f"{subject}: {value}"
        elif v.field == "timepoint":
            unit, _, number = key.partition(":")
            if unit == "month":
                condition = self._condition_name(v.condition) if v.condition else ""
                kind, attrs = ItemKind.PULL_POINT, {**attrs, "months": number, "condition": condition}
                value = f"{condition} T{number} months" if condition else f"T{number} months"
            else:
                kind, value = ItemKind.PK_TIMEPOINT, key if key == "pre-dose" else f"{number} h"
        else:
            kind = FIELDS[v.field][0]
        return Item(kind=kind, value=value, citation=cite, confidence=LLM_ONLY_CONFIDENCE, attributes=attrs)

    def model_ambiguity(self, v: GroundedValue) -> None:
        cite = self.locate(v.quote) if v.grounded else None
        if cite is None:
            self.ungrounded(v, v.problem or "its quote is not on any single page of the source")
            return
        self.report.model_ambiguities += 1
        self.flags.append(
            Ambiguity(
                kind=AmbiguityKind.UNCLEAR_REQUIREMENT,
                message=f"the model finds the {v.field} {v.value!r} ambiguous: a human must decide",
                citations=[cite],
            )
        )

    def injections(self, flags: list[InjectionFlag]) -> None:
        flagged = [
            c
            for a in [*self.base.ambiguities, *self.flags]
            if a.kind is AmbiguityKind.EMBEDDED_INSTRUCTION
            for c in a.citations
        ]
        offset = 0
        spans: list[tuple[int, int]] = []
        for page in self.source.pages:
            spans.append((offset, offset + len(page.text)))
            offset += len(page.text) + len(PAGE_SEPARATOR)
        for flag in flags:
            number = next((n for n, (s, e) in enumerate(spans, 1) if s <= flag.start < e), None)
            if number is None:
                continue
            first, last = spans[number - 1]
            cite = self.source.cite(number, flag.start - first, min(flag.end, last) - first)
            if any(_overlaps(cite, c) for c in flagged):
                self.report.injection_already_flagged += 1
                continue
            flagged.append(cite)
            self.report.injection_flags += 1
            self.flags.append(
                Ambiguity(
                    kind=AmbiguityKind.EMBEDDED_INSTRUCTION,
                    message=f"the document contains a suspected prompt injection ({flag.kind}); "
                    "it was treated as data and changed nothing",
                    citations=[cite],
                )
            )

    def result(self) -> ProtocolRequirements:
        return self.base.model_copy(
            update={
                "extractor": f"{self.base.extractor}+{self.report.model_id}",
                **self.lists,
                "ambiguities": [*self.base.ambiguities, *self.flags],
            }
        )


def merge_extractions(
    deterministic: ProtocolRequirements, llm: LlmExtraction, source: SourceDocument
) -> MergeResult:
    """The deterministic requirements with the model's grounded values merged in (see the module
    docstring); ``source`` is the document both extractors read (it locates the model's quotes)."""
    if deterministic.document_sha256 != source.sha256:
        raise ValueError("the deterministic requirements were extracted from another document")
    merger = _Merger(deterministic, source, llm)
    for value in llm.values:
        merger.value(value)
    for value in llm.ambiguities:
        merger.model_ambiguity(value)
    merger.injections(llm.injection_flags)
    return MergeResult(requirements=merger.result(), report=merger.report)
