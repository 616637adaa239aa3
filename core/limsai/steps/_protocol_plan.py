"""The LIMS configuration plan ``protocol.ingest`` drafts from a protocol's extracted requirements
(a helper module, not a step: modules named ``_*`` are skipped by the registry).

The plan says what a person would have to set up in the LIMS for the study: the test methods, the
sampling schedule (timepoint by activity or test), the specifications (acceptance criteria) and the
storage conditions. Every entry keeps the citation and confidence of the requirement it comes from,
and lists the open ambiguities that block it, so a reviewer sees at once which entries can be
configured as they stand and which wait for a decision. An ambiguity blocks an entry when one of
its citations overlaps the entry's citation, when it is an unclear requirement about the entry's
kind (e.g. "additional timepoints may be added" blocks the sampling schedule), or when a schedule
table's layout was inferred on the entry's page. The plan is a proposal only: nothing here writes
to the LIMS.
"""

from __future__ import annotations

import csv
import io
import json
import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from limsai.protocols import Ambiguity, AmbiguityKind, Citation, Item, ItemKind, ProtocolRequirements

SAMPLE_ACTIVITY = re.compile(r"sample|blood|plasma|serum|urine|specimen|\bpk\b", re.IGNORECASE)
CSV_COLUMNS = ("kind", "name", "details", "citation_page", "citation_quote", "confidence", "blocked_by")


class PlanKind(StrEnum):
    TEST_METHOD = "test_method"
    SAMPLING = "sampling"
    SPECIFICATION = "specification"
    STORAGE = "storage_condition"


UNCLEAR_TOPICS: dict[PlanKind, re.Pattern[str]] = {
    PlanKind.SAMPLING: re.compile(r"time ?points?|pull points?|sampl|visits?", re.IGNORECASE),
    PlanKind.TEST_METHOD: re.compile(r"\bmethods?\b|\btests?\b|assay", re.IGNORECASE),
    PlanKind.SPECIFICATION: re.compile(r"accept|criteri|specification|limit", re.IGNORECASE),
    PlanKind.STORAGE: re.compile(r"stor|temperature|°C", re.IGNORECASE),
}


class PlannedItem(BaseModel):
    """One thing to configure in the LIMS, with the text it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="stable within the plan, e.g. sampling-3")
    kind: PlanKind
    name: str
    details: dict[str, str] = Field(default_factory=dict)
    citation: Citation
    confidence: float = Field(ge=0, le=1)
    blocked_by: list[str] = Field(default_factory=list, description="ids of the ambiguities that block it")


class OpenAmbiguity(BaseModel):
    """An ambiguity of the protocol as the plan carries it: an id, and the entries it blocks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: AmbiguityKind
    message: str
    citations: list[Citation] = Field(default_factory=list)
    blocks: list[str] = Field(default_factory=list, description="keys of the planned items it blocks")


class PlanSource(BaseModel):
    """The LIMS document the plan was read from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document_id: str
    version: int
    name: str
    filename: str
    sha256: str


class LimsPlan(BaseModel):
    """What to configure in the LIMS for a study, from its protocol; a draft for human review."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["limsai.lims-plan/1"] = "limsai.lims-plan/1"
    status: Literal["draft"] = "draft"
    applied: Literal[False] = Field(
        default=False, description="always False: applying a plan is a write-back action after approval"
    )
    study_id: str
    source: PlanSource
    protocol_number: str | None = None
    test_methods: list[PlannedItem] = Field(default_factory=list)
    sampling_schedule: list[PlannedItem] = Field(default_factory=list)
    specifications: list[PlannedItem] = Field(default_factory=list)
    storage_conditions: list[PlannedItem] = Field(default_factory=list)
    not_planned: list[str] = Field(
        default_factory=list, description="scheduled activities that are not laboratory samples"
    )
    ambiguities: list[OpenAmbiguity] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def items(self) -> list[PlannedItem]:
        return [*self.test_methods, *self.sampling_schedule, *self.specifications, *self.storage_conditions]

    def blocked(self) -> list[PlannedItem]:
        return [i for i in self.items() if i.blocked_by]

    def to_json(self) -> bytes:
        return json_bytes(self)

    def to_csv(self) -> bytes:
        """One row per planned item: kind, name, details, citation page and quote, confidence, and
        the ambiguities blocking it."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for item in self.items():
            details = "; ".join(f"{k}={v}" for k, v in item.details.items())
            writer.writerow(
                [
                    item.kind.value,
                    item.name,
                    details,
                    item.citation.page,
                    item.citation.quote,
                    f"{item.confidence:.2f}",
                    " ".join(item.blocked_by),
                ]
            )
        return out.getvalue().encode("utf-8")


def json_bytes(model: BaseModel) -> bytes:
    """A model as indented, key-sorted UTF-8 JSON: the same model always gives the same bytes."""
    text = json.dumps(model.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def _norm(text: str) -> str:
    return " ".join(text.casefold().replace("-", " ").split())


def _overlaps(a: Citation, b: Citation) -> bool:
    same = a.document_sha256 == b.document_sha256 and a.page == b.page
    return same and a.start < b.end and b.start < a.end


class _Builder:
    def __init__(self) -> None:
        self.counts: dict[PlanKind, int] = {}
        self.items: dict[PlanKind, list[PlannedItem]] = {kind: [] for kind in PlanKind}

    def add(self, kind: PlanKind, name: str, item: Item, **details: str) -> None:
        self.add_entry(name, item.citation, item.confidence, kind=kind, **details)

    def add_entry(
        self,
        name: str,
        citation: Citation,
        confidence: float,
        kind: PlanKind = PlanKind.SAMPLING,
        **details: str,
    ) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.items[kind].append(
            PlannedItem(
                key=f"{kind.value}-{self.counts[kind]}",
                kind=kind,
                name=name,
                details={k: v for k, v in details.items() if v},
                citation=citation,
                confidence=confidence,
            )
        )


def _test_methods(req: ProtocolRequirements, plan: _Builder) -> list[str]:
    """Test methods: the tests of a test table (with their method), then methods named only in the
    text that no table test already uses. Returns the test names."""
    matrices = ", ".join(sorted({i.value for i in req.of_kind(ItemKind.MATRIX)}))
    tests = req.of_kind(ItemKind.TEST_METHOD)
    table_methods = {_norm(i.attributes["method"]) for i in tests if i.attributes.get("method")}
    names: list[str] = []
    for item in tests:
        if "method" not in item.attributes and _norm(item.value) in table_methods:
            continue  # a method the table already names for one of its tests
        plan.add(
            PlanKind.TEST_METHOD,
            item.value,
            item,
            method=item.attributes.get("method", item.value),
            matrices=matrices,
            source=item.attributes.get("source", ""),
        )
        names.append(item.value)
    return names


def _specifications(req: ProtocolRequirements, plan: _Builder, tests: list[str]) -> None:
    """Acceptance criteria; a criterion found in the text that only repeats part of a table's
    criterion is not planned twice. One test method in the protocol owns every untied criterion."""
    criteria = req.of_kind(ItemKind.ACCEPTANCE)
    tied = [i.value for i in criteria if i.attributes.get("test")]
    only_test = tests[0] if len(tests) == 1 else ""
    for item in criteria:
        test = item.attributes.get("test", "")
        if not test and any(item.value in other for other in tied):
            continue
        plan.add(PlanKind.SPECIFICATION, item.value, item, test=test or only_test, criterion=item.value)


def _storage(req: ProtocolRequirements, plan: _Builder) -> dict[str, list[str]]:
    """Storage of materials, and each stability condition with its pull points (months)."""
    for item in req.of_kind(ItemKind.STORAGE):
        plan.add(
            PlanKind.STORAGE,
            item.value,
            item,
            subject=item.attributes.get("subject", ""),
            temperature=item.attributes.get("temperature", ""),
        )
    pulls: dict[str, list[str]] = {}
    for item in req.of_kind(ItemKind.PULL_POINT):
        if item.attributes.get("condition"):
            pulls.setdefault(item.attributes["condition"], []).append(item.attributes["months"])
    for item in req.of_kind(ItemKind.STABILITY_CONDITION):
        months = pulls.get(item.value, [])
        plan.add(
            PlanKind.STORAGE,
            item.value,
            item,
            subject="stability samples",
            condition=item.value,
            pull_months=", ".join(months),
        )
    return pulls


def _sampling(
    req: ProtocolRequirements, plan: _Builder, tests: list[str], pulls: dict[str, list[str]]
) -> list[str]:
    """Sampling entries: the scheduled sample collections (activity by encounter), PK timepoints the
    text gives but the table does not, and stability pull points (condition by month, each running
    every test), with pull points the text gives outside every condition. Returns the scheduled
    activities that are not samples (clinical activities the LIMS does not schedule)."""
    joined = ", ".join(tests)
    sampled = [a.value for a in req.activities if SAMPLE_ACTIVITY.search(a.value)]
    for entry in req.schedule:
        if entry.activity in sampled:
            plan.add_entry(
                f"{entry.activity} @ {entry.encounter}",
                entry.citation,
                entry.confidence,
                activity=entry.activity,
                timepoint=entry.encounter,
                tests=joined,
                note=entry.note,
            )
    encounters = {_norm(e.value) for e in req.encounters}
    if req.schedule or sampled:
        activity = sampled[0] if sampled else "PK sample"
        for tp in req.pk_timepoints:
            if _norm(tp.value) not in encounters:
                plan.add_entry(
                    f"{activity} @ {tp.value}",
                    tp.citation,
                    tp.confidence,
                    activity=activity,
                    timepoint=tp.value,
                    tests=joined,
                    source="text only",
                )
    table_months = {m for months in pulls.values() for m in months}
    for item in req.of_kind(ItemKind.PULL_POINT):
        condition = item.attributes.get("condition", "")
        months = item.attributes.get("months", "")
        if not condition and months in table_months:
            continue  # the text repeats a pull point a condition table already has
        plan.add_entry(
            f"{condition} T{months} months" if condition else f"T{months} months (condition not stated)",
            item.citation,
            item.confidence,
            condition=condition,
            months=months,
            tests=joined,
            source="" if condition else "text only",
        )
    return [a.value for a in req.activities if a.value not in sampled]


def _blocks(ambiguity: Ambiguity, item: PlannedItem) -> bool:
    if any(_overlaps(c, item.citation) for c in ambiguity.citations):
        return True
    if ambiguity.kind is AmbiguityKind.UNCLEAR_REQUIREMENT:
        text = " ".join([ambiguity.message, *(c.quote for c in ambiguity.citations)])
        return bool(UNCLEAR_TOPICS[item.kind].search(text))
    if ambiguity.kind is AmbiguityKind.INFERRED_LAYOUT and item.kind is PlanKind.SAMPLING:
        return any(c.page == item.citation.page for c in ambiguity.citations)
    return False


def build_plan(
    req: ProtocolRequirements, *, study_id: str, study_protocol_number: str, source: PlanSource
) -> LimsPlan:
    """The configuration plan for ``req``, every entry linked to the ambiguities that block it."""
    builder = _Builder()
    tests = _test_methods(req, builder)
    _specifications(req, builder, tests)
    pulls = _storage(req, builder)
    not_planned = _sampling(req, builder, tests, pulls)
    items = [i for kind in PlanKind for i in builder.items[kind]]
    open_ambiguities: list[OpenAmbiguity] = []
    blocked_by: dict[str, list[str]] = {}
    for n, ambiguity in enumerate(req.ambiguities, start=1):
        amb_id = f"AMB-{n}"
        blocks = [i.key for i in items if _blocks(ambiguity, i)]
        for key in blocks:
            blocked_by.setdefault(key, []).append(amb_id)
        open_ambiguities.append(
            OpenAmbiguity(
                id=amb_id,
                kind=ambiguity.kind,
                message=ambiguity.message,
                citations=ambiguity.citations,
                blocks=blocks,
            )
        )

    def linked(kind: PlanKind) -> list[PlannedItem]:
        return [i.model_copy(update={"blocked_by": blocked_by.get(i.key, [])}) for i in builder.items[kind]]

    number = req.protocol_number.value if req.protocol_number else None
    warnings = list(req.warnings)
    if number is None:
        warnings.append("no protocol number was found in the document")
    elif study_protocol_number and _norm(number) != _norm(study_protocol_number):
        warnings.append(
            f"the document's protocol number {number} differs from study {study_id}'s "
            f"{study_protocol_number}: check that the protocol was filed on the right study"
        )
    return LimsPlan(
        study_id=study_id,
        source=source,
        protocol_number=number,
        test_methods=linked(PlanKind.TEST_METHOD),
        sampling_schedule=linked(PlanKind.SAMPLING),
        specifications=linked(PlanKind.SPECIFICATION),
        storage_conditions=linked(PlanKind.STORAGE),
        not_planned=not_planned,
        ambiguities=open_ambiguities,
        warnings=warnings,
    )
